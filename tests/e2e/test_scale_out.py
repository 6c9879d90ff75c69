"""Scaling out as a user does it: Hydra's joblib and submitit launchers, the Optuna search, the
guard that keeps DDP out of sweeps, and a 2-process DDP run on the CPU (d2l 4.2's model)."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
import yaml
from helpers import REPO, event_dir, run_main
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlplab.cli.train import main as train_main

# λ × both dropout styles (d2l's inverted, the notes' classic) at p = 0.5
GRID = ["regularizer.weight_decay=0,0.001", "regularizer.dropout=0.5",
        "regularizer.dropout_style=inverted,classic"]
FAST = ["data.train_subset=2000", "data.val_size=1000", "trainer.max_epochs=1",
        "model.net.hidden=[64]"]


def summary_rows(sweep_dir):
    with (sweep_dir / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.dataset
@pytest.mark.slow
@pytest.mark.parametrize(("launcher", "decays", "threads"), [
    # two workers, four jobs: each worker runs two
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], ("0", "0.001"),
     max(1, len(os.sched_getaffinity(0)) // 2)),
    # a process per job (each pays its imports): two jobs show it
    (["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1"], ("0",), 1),
], ids=["joblib", "submitit_local"])
def test_launcher_runs_the_grid_and_the_summary_lists_every_job(launcher, decays, threads, tmp_path):
    sweep = tmp_path / "sweep"  # the launcher's workers are processes; the sweep's own is this one
    grid = [f"regularizer.weight_decay={','.join(decays)}", *GRID[1:]]
    code, _, stderr = run_main(train_main, "-m", *launcher, *grid, *FAST, f"hydra.sweep.dir={sweep}",
                               cwd=REPO)
    assert code == 0, stderr[-3000:]
    rows = summary_rows(sweep)
    styles = ("inverted", "classic")
    assert [(r["regularizer.weight_decay"], r["regularizer.dropout_style"]) for r in rows] == [
        (decay, style) for decay in decays for style in styles]  # Hydra's order: the last key fastest
    assert [metrics(sweep / r["job"])["hparams"]["regularizer"]["dropout_style"] for r in rows] == \
        list(styles) * len(decays)
    assert [r["status"] for r in rows] == ["finished"] * 2 * len(decays)
    for r in rows:  # the summary holds each job's own best
        assert float(r["val/acc"]) == pytest.approx(metrics(sweep / r["job"])["monitor"]["best"], abs=1e-4)
    # each job got its share of the cpus, not one thread per core each
    assert {metrics(sweep / r["job"])["threads"] for r in rows} == {threads}


@pytest.mark.dataset
@pytest.mark.slow
def test_optuna_search_writes_the_best_parameters_and_survives_diverged_trials(tmp_path):
    sweep = tmp_path / "search"
    # lr is part of the search here only so that some trials diverge (seeded: trials 1–3 do)
    code, _, stderr = run_main(train_main, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=4",
                               "optimizer.lr=choice(0.1,1e6)", *FAST, f"hydra.sweep.dir={sweep}", cwd=REPO)
    statuses = [r["status"] for r in summary_rows(sweep)]
    assert len(statuses) == 4 and "finished" in statuses and "diverged" in statuses
    assert code == 1 and "did not finish" in stderr  # the study itself completed
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"regularizer.weight_decay", "regularizer.dropout", "optimizer.lr"}
    assert 1e-6 <= best["best_params"]["regularizer.weight_decay"] <= 1e-2
    assert 0 <= best["best_params"]["regularizer.dropout"] <= 0.6
    finished = [r for r in summary_rows(sweep) if r["status"] == "finished"]
    assert best["best_value"] == pytest.approx(max(float(r["val/acc"]) for r in finished))


@pytest.mark.parametrize(("sweep_overrides", "message"), [
    (["trainer=ddp_cpu", "regularizer.dropout=0,0.5"],
     "error: job 0 (trainer=ddp_cpu regularizer.dropout=0): trainer.strategy=ddp_spawn with "
     "trainer.devices=2 starts several processes per job"),
    (["regularizer.dropout=0,0.2,1.5"],
     "error: job 2 (regularizer.dropout=1.5): regularizer.dropout=1.5 must be in [0, 1)"),
    (["experiment=glob(*)", "trainer=ddp_cpu"],  # glob over a group: expanded with Hydra's loader
     "error: job 0 (experiment=best_mlp trainer=ddp_cpu): trainer.strategy=ddp_spawn"),
    (["optimizer.lr=range(1,3)", "trainer.max_epochs=0"],
     "error: job 0 (optimizer.lr=1 trainer.max_epochs=0): trainer.max_epochs=0 must be"),
    # flags only Lightning's Trainer checks, as it is built: job 0 trained before job 1 was refused
    (["trainer.limit_train_batches=2,-1"],
     "error: job 1 (trainer.limit_train_batches=-1): trainer: You have passed invalid value -1 for "
     "limit_train_batches"),
    (["trainer.gradient_clip_val=1", "trainer.gradient_clip_algorithm=norm,nrom"],
     "trainer: `gradient_clip_algorithm` nrom is invalid. Allowed algorithms: ['value', 'norm']."),
])
@pytest.mark.slow  # each composes and checks every job of its sweep: about 1 s
def test_a_bad_job_anywhere_in_the_sweep_stops_it_before_the_first_job(sweep_overrides, message, tmp_path):
    sweep = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", *sweep_overrides, f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert code == 2 and "Traceback" not in stderr
    assert message in stderr and stderr.rstrip().endswith("no job was started")
    assert not sweep.exists()


@pytest.mark.dataset
@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process_with_the_same_global_batch(tmp_path, cli):
    # 2 processes × 128 = the single run's 256: each update sees the same 256 examples (the
    # shards interleave one permutation), so the two runs agree up to float summation order.
    # 999 validation images, which 2 processes cannot share evenly (499 + 500): a sampler that pads
    # the shares to equal length (torch's DistributedSampler) would count one image twice.
    common = [*(o for o in FAST if not o.startswith("data.val_size=")), "data.val_size=999",
              "trainer.max_epochs=2"]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    # the DDP run as a process of its own: its spawned workers' parent is mlplab-train, as a user's is
    result = cli("mlplab-train", *common, "trainer=ddp_cpu", "data.batch_size=128", f"hydra.run.dir={ddp}",
                 cwd=REPO)
    # a child's own last words come before the parent's traceback: keep both
    reasons = [line for line in result.stderr.splitlines()
               if any(word in line for word in ("terminate", "Error", "abort", "what()", "Signal"))]
    assert result.returncode == 0, "\n".join(reasons[-20:]) + "\n" + result.stderr[-2000:]
    code, _, stderr = run_main(train_main, *common, "data.batch_size=256", f"hydra.run.dir={single}",
                               cwd=REPO)
    assert code == 0, stderr[-2000:]
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert len(list(ddp.rglob("metrics.json"))) == 1
    got, want = metrics(ddp), metrics(single)
    assert got["status"] == "finished" and got["epochs"] == 2 and len(got["history"]) == 2
    # the same updates in another summation order: the weights agree to float rounding
    for name in ("last.ckpt", "best.ckpt"):
        a, b = (torch.load(run / "checkpoints" / name, weights_only=True)["state_dict"]
                for run in (ddp, single))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=f"{name} {key}")
    # and so does every epoch's history: the same images counted, losses to rounding
    for mine, theirs in zip(got["history"], want["history"], strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key] == pytest.approx(theirs[key], abs=1e-5), key
    assert got["monitor"]["best"] == pytest.approx(want["monitor"]["best"], abs=1e-5)
    # the test set (10,000 images) scored by two processes, each its half, the sums added across
    # them: the numbers of the whole set, as one process scores it; the final val and train
    # averages likewise
    assert sorted(k for k in got["metrics"] if k.startswith("test/")) == ["test/acc", "test/loss"]
    assert got["metrics"].keys() == want["metrics"].keys()
    # measured here: |difference| ≤ 2.4e-7 (the loss's float32 rounding), accuracies equal
    differences = {k: abs(got["metrics"][k] - want["metrics"][k]) for k in want["metrics"]}
    assert max(differences.values()) <= 1e-5, differences
    assert got["device"] == want["device"] == "cpu"
    # TensorBoard: the test numbers at the step the fit ended on, as one process logs them (the
    # spawned fit's progress was not this process's), and one HParams row, not one per process
    steps = {}
    for run in (ddp, single):
        events = EventAccumulator(str(event_dir(run)))
        events.Reload()
        steps[run.name] = [event.step for event in events.Scalars("test/acc")]
    assert steps["ddp"] == steps["single"] and steps["single"][0] > 0
    assert len(list((ddp / "tensorboard").rglob("events.out.tfevents.*.hparams"))) == 1


@pytest.mark.dataset
@pytest.mark.slow
def test_ddp_that_lightning_starts_by_rerunning_the_command_prints_the_config_and_result_once(tmp_path, cli):
    """trainer.devices=2 on CPUs: Lightning's strategy ``ddp`` runs ``mlplab-train …`` again as rank 1
    (it printed the config tree and the result line once per process)."""
    run = tmp_path / "run"
    result = cli("mlplab-train", *FAST, "trainer.devices=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines.count("config") == 1, result.stdout[-3000:]
    (said,) = [line for line in lines if line.startswith("test/acc=")]
    assert said.endswith("outputs in run") and len(list(run.rglob("metrics.json"))) == 1
    # rank 1 keeps its own result line in the log file Lightning names for it
    assert (run / "train_ddp_process_1.log").read_text().splitlines()[-1].endswith(said)
