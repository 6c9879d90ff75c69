"""``hydra/launcher=batched`` against the basic launcher on the same grids, on the real data (small
shares of it): every member writes what a job alone writes, a member without dropout trains to the
same weights as its job alone, members with dropout land within their jobs' seed-to-seed spread,
a member that diverges stops alone, and a member's checkpoint is a single model's."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
import torch
from helpers import REPO, run_main
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlplab.cli.evaluate import main as eval_main
from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.dataset, pytest.mark.slow]
SMALL = ["data.train_subset=2048", "data.val_size=512", "model.net.hidden=[64]"]
GRID = ["regularizer.weight_decay=0,1e-4,1e-3", "regularizer.dropout=0,0.2,0.5"]  # the README's 3×3
BATCHED = ["hydra/launcher=batched", "hydra.launcher.mode=stacked"]


def sweep(folder, *overrides, expect: int = 0) -> str:
    code, out, err = run_main(train_main, "-m", *overrides, f"hydra.sweep.dir={folder}", cwd=REPO)
    assert code == expect, err[-3000:]
    return out + err


def metrics(job) -> dict:
    return json.loads((job / "metrics.json").read_text())


def files(job) -> set[str]:
    """A job's files, event files by kind (their names carry a time and a pid)."""
    return {str(p.relative_to(job)).rsplit(".out.tfevents", 1)[0] for p in job.rglob("*") if p.is_file()}


def tensorboard(job) -> dict[tuple[str, str], list[int]]:
    """Every (kind, tag) of a job's event files with its steps, in order (the files' names, hence
    the order they are read in, carry their creation time)."""
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(job.rglob("events.out.tfevents.*")):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
        events.Reload()
        read = {"scalars": events.Scalars, "histograms": events.Histograms, "images": events.Images}
        for kind, tags in events.Tags().items():
            for tag in tags if kind in read else []:
                found[(kind, tag)] = sorted([*found.get((kind, tag), []), *(e.step for e in read[kind](tag))])
        try:  # the HParams session (the dashboard's row) is plugin data, not a tag
            found.update({("hparams", tag): [] for tag in events.PluginTagToContent("hparams")})
        except KeyError:
            pass
    return found


def keys(value, depth: int = 2):
    """The nested keys of a dict down to ``depth`` (the form, not the values)."""
    if not isinstance(value, dict) or depth == 0:
        return type(value).__name__
    return {k: keys(v, depth - 1) for k, v in value.items()}


def checkpoint(job, name: str) -> dict:
    return torch.load(job / "checkpoints" / f"{name}.ckpt", map_location="cpu", weights_only=True)


def test_the_readme_grid_batched_writes_what_the_basic_launcher_writes_and_p0_trains_the_same(tmp_path):
    """The 3×3 λ × p grid, one epoch, both launchers. Every member: the same files, metrics.json
    keys, checkpoint keys, loop state and callback states, TensorBoard tags at the same steps. The
    p = 0 members (a column of three): the same weights as their jobs alone (to float rounding:
    the stack adds its members' losses and computes their first layers in one matrix product) and
    the same metrics within 0.2 percentage points."""
    alone, batched = tmp_path / "alone", tmp_path / "batched"
    sweep(alone, *GRID, *SMALL, "trainer.max_epochs=1")
    said = sweep(batched, *BATCHED, *GRID, *SMALL, "trainer.max_epochs=1")
    assert "1 batched group(s) of 9 jobs" in said
    for n in range(9):
        a, b = alone / str(n), batched / str(n)
        assert files(a) == files(b), n
        ma, mb = metrics(a), metrics(b)
        assert keys(ma) | {"batched": "dict"} == keys(mb) | {"batched": "dict"}, n
        assert ma["batched"] is None  # batched: how a member's group ran
        assert mb["status"] == "finished" and mb["batched"]["members"] == 9
        assert mb["batched"]["engine"] == "stacked"
        assert ma["metrics"].keys() == mb["metrics"].keys()
        assert [row.keys() for row in ma["history"]] == [row.keys() for row in mb["history"]]
        assert tensorboard(a) == tensorboard(b), n
        for name in ("best", "last"):
            ca, cb = checkpoint(a, name), checkpoint(b, name)
            assert keys(ca, 1) == keys(cb, 1) and ca["state_dict"].keys() == cb["state_dict"].keys()
            assert keys(ca["loops"], 3) == keys(cb["loops"], 3)
            assert ca["hyper_parameters"] == cb["hyper_parameters"]
            if name == "last":  # the same epochs and steps (best: its own best epoch)
                assert ca["loops"] == cb["loops"]
                assert (ca["epoch"], ca["global_step"]) == (cb["epoch"], cb["global_step"])
            assert ca["optimizer_states"][0]["param_groups"] == cb["optimizer_states"][0]["param_groups"]
            assert keys(ca["callbacks"]) == keys(cb["callbacks"])
            for state_a, state_b in zip(ca["callbacks"].values(), cb["callbacks"].values()):
                assert state_a["dirpath"].replace(str(a), "") == state_b["dirpath"].replace(str(b), "")
        if ma["hparams"]["regularizer"]["dropout"] == 0:
            for key, weight in ca["state_dict"].items():
                torch.testing.assert_close(cb["state_dict"][key], weight, atol=1e-6, rtol=1e-5)
            for key, value in ma["metrics"].items():
                assert mb["metrics"][key] == pytest.approx(value, abs=2e-3), key
    with (batched / "summary.csv").open() as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["finished"] * 9
    again = sweep(batched, *BATCHED, *GRID, *SMALL, "trainer.max_epochs=1")  # a resumed sweep: done
    assert again.count("finished before, not run again") == 9


def test_members_with_dropout_land_within_their_jobs_seed_to_seed_spread(tmp_path):
    """Dropout masks differ from a job alone's (one draw for the stack), so the numbers do too:
    each member's test accuracy lies within the spread of its job alone over three seeds."""
    grid = ["regularizer.dropout=0.3,0.6", "data.train_subset=8192", "data.val_size=512",
            "model.net.hidden=[64]",
            "trainer.max_epochs=6"]
    sweep(tmp_path / "batched", *BATCHED, *grid)
    sweep(tmp_path / "alone", *grid, "seed=42,43,44")  # the basic launcher: p × seed, seed fastest
    jobs = [metrics(tmp_path / "alone" / str(n)) for n in range(6)]
    assert [(job["hparams"]["regularizer"]["dropout"], job["hparams"]["seed"]) for job in jobs] == [
        (p, seed) for p in (0.3, 0.6) for seed in (42, 43, 44)]
    alone = {n: [job["metrics"]["test/acc"] for job in jobs[3 * n: 3 * n + 3]] for n in range(2)}
    for n, runs in alone.items():
        member = metrics(tmp_path / "batched" / str(n))
        assert member["batched"]["members"] == 2
        spread = max(runs) - min(runs)
        assert abs(member["metrics"]["test/acc"] - statistics.mean(runs)) <= spread, (member["metrics"], runs)


def test_a_member_that_diverges_stops_and_the_others_go_on(tmp_path):
    said = sweep(tmp_path, *BATCHED, "optimizer.lr=0.1,200", *SMALL, "trainer.max_epochs=2", expect=1)
    good, bad = metrics(tmp_path / "0"), metrics(tmp_path / "1")
    assert bad["status"] == "diverged" and "optimizer.lr=200 is too large" in bad["error"]
    assert "try optimizer.lr=20 or smaller" in said
    assert good["status"] == "finished" and good["epochs"] == 2 and "test/acc" in good["metrics"]
    alone = tmp_path / "alone"
    code, _, err = run_main(train_main, "optimizer.lr=0.1", *SMALL, "trainer.max_epochs=2",
                            f"hydra.run.dir={alone}", cwd=REPO)
    assert code == 0, err[-2000:]
    assert good["metrics"]["test/acc"] == pytest.approx(metrics(alone)["metrics"]["test/acc"], abs=2e-3)


def test_a_members_checkpoints_are_a_single_models_for_eval_and_for_resuming(tmp_path):
    sweep(tmp_path / "sweep", *BATCHED, "optimizer.lr=0.1,0.05", "optimizer.momentum=0.9", *SMALL,
          "trainer.max_epochs=2")
    member = tmp_path / "sweep" / "1"
    code, out, err = run_main(eval_main, f"ckpt_path={member}/checkpoints/best.ckpt",
                              f"hydra.run.dir={tmp_path}/eval", cwd=REPO)
    assert code == 0, err[-2000:]
    assert f"test/acc={metrics(member)['metrics']['test/acc']:.4f}" in out
    # resumed alone for two more epochs (momentum buffers and all): the same as four epochs alone
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    job = ["optimizer.lr=0.05", "optimizer.momentum=0.9", *SMALL]
    for folder, extra in ((resumed, [f"ckpt_path={member}/checkpoints/last.ckpt"]), (straight, [])):
        code, _, err = run_main(train_main, *job, "trainer.max_epochs=4", *extra, f"hydra.run.dir={folder}",
                                cwd=REPO)
        assert code == 0, err[-2000:]
    continued = metrics(member)  # a resumed run continues in its checkpoint's folder
    assert continued["epochs"] == 4 and continued["resumed_from"].endswith("last.ckpt")
    for row, want in zip(continued["history"], metrics(straight)["history"], strict=True):
        for key, value in want.items():
            assert row[key] == pytest.approx(value, abs=2e-3, rel=2e-3), (row["epoch"], key)


def test_jobs_that_cannot_share_a_pass_run_alone_in_the_same_sweep(tmp_path):
    said = sweep(tmp_path, *BATCHED, "optimizer=sgd,adam", *SMALL, "trainer.max_epochs=1")
    assert "0 batched group(s)" in said and "a stack trains with SGD only" in said
    for n in range(2):
        result = metrics(tmp_path / str(n))
        assert result["status"] == "finished" and result["batched"] is None


@pytest.mark.gpu
def test_on_a_gpu_the_stack_trains_there_and_each_member_matches_its_job_alone(tmp_path):
    """scripts/gpu_check.sh runs this where a GPU is at hand: the group fits on the device (data and
    stacked weights there), and the p = 0 members equal their jobs alone on the same device."""
    gpu = ["trainer=gpu", "optimizer.lr=0.1,0.05", *SMALL, "trainer.max_epochs=2"]
    sweep(tmp_path / "batched", *BATCHED, *gpu)
    sweep(tmp_path / "alone", *gpu)
    for n in range(2):
        member, alone = metrics(tmp_path / "batched" / str(n)), metrics(tmp_path / "alone" / str(n))
        assert member["batched"]["members"] == 2 and member["hparams"]["trainer"]["accelerator"] == "gpu"
        assert member["device"] == alone["device"] == "cuda:0"  # where the fit ran, not what was asked
        for key, value in alone["metrics"].items():
            assert member["metrics"][key] == pytest.approx(value, abs=2e-3), key


def test_looped_members_train_as_their_jobs_alone_in_one_fit(tmp_path):
    """mode=looped (what auto picks where stacking is not faster): each member's own network, one
    after another in every step of one fit; λ as a penalty on the scratch model, as its run adds it."""
    grid = ["regularizer.weight_decay=0,1e-2", "optimizer.momentum=0.9", *SMALL, "trainer.max_epochs=2"]
    sweep(tmp_path / "looped", "hydra/launcher=batched", "hydra.launcher.mode=looped", *grid)
    sweep(tmp_path / "alone", *grid)
    for n in range(2):
        member, alone = tmp_path / "looped" / str(n), tmp_path / "alone" / str(n)
        assert metrics(member)["batched"]["engine"] == "looped" and metrics(member)["batched"]["members"] == 2
        assert metrics(member)["device"] == metrics(alone)["device"] == "cpu"  # where the fit ran
        looped = checkpoint(member, "last")["state_dict"]
        for key, weight in checkpoint(alone, "last")["state_dict"].items():
            torch.testing.assert_close(looped[key], weight, atol=1e-6, rtol=1e-5)
        assert checkpoint(member, "last")["optimizer_states"][0]["param_groups"] == \
            checkpoint(alone, "last")["optimizer_states"][0]["param_groups"]


def test_a_mode_it_does_not_know_is_refused_in_one_line_before_any_job(tmp_path):
    code, out, err = run_main(train_main, "-m", "hydra/launcher=batched", "hydra.launcher.mode=fast",
                              "regularizer.dropout=0,0.5", *SMALL, f"hydra.sweep.dir={tmp_path}", cwd=REPO)
    assert code == 2 and "Traceback" not in out + err, err[-2000:]
    assert "hydra.launcher.mode=fast is not one of auto, stacked, looped, separate" in err
    assert not list(tmp_path.glob("*/metrics.json"))


def test_a_group_asking_for_a_device_this_machine_lacks_records_why_in_every_member(tmp_path):
    """The group's fit checks the accelerator where it runs, before its data: each member's
    metrics.json says which device is missing, as a run alone would."""
    import torch

    lacking = "mps" if torch.cuda.is_available() else "cuda"
    out = sweep(tmp_path, *BATCHED, f"trainer.accelerator={lacking}", "optimizer.lr=0.1,0.05", *SMALL,
                "trainer.max_epochs=1", expect=1)
    for n in range(2):
        record = metrics(tmp_path / str(n))
        assert record["status"] == "failed", record
        assert record["error"].startswith(f"trainer.accelerator={lacking}: no "), record["error"]
        assert "trainer=default" in record["error"]
    assert "2 of the sweep's jobs did not finish" in out


def test_a_checkpoint_callback_without_a_folder_saves_in_each_members_own(tmp_path):
    """ModelCheckpoint without a dirpath saves under the trainer's default_root_dir: each member's
    own folder, as the basic launcher's jobs do, not job 0's for all."""
    extra = ("+callbacks.extra={_target_:lightning.pytorch.callbacks.ModelCheckpoint,filename:extra,"
             "monitor:val/loss,mode:min}")
    overrides = [*SMALL, "trainer.max_epochs=1", "logger=none", "regularizer.weight_decay=0,1e-3", extra]
    said = sweep(tmp_path / "batched", *BATCHED, *overrides)
    assert ", 1 batched group(s) of 2 jobs" in said
    for job in ("0", "1"):
        assert sorted(p.name for p in (tmp_path / "batched" / job / "checkpoints").iterdir()) == \
            ["best.ckpt", "extra.ckpt", "last.ckpt"], job
        saved = torch.load(tmp_path / "batched" / job / "checkpoints" / "extra.ckpt", weights_only=True)
        assert saved["hyper_parameters"]["regularizer"]["weight_decay"] == (0 if job == "0" else 1e-3)
