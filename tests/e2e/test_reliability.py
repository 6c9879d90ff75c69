"""When things go wrong: broken data files, a loss that blows up, a failing sweep job, a run
stopped by SIGTERM and resumed, a file that is not a checkpoint. Each through the real entry point
or the real module, with real files."""

from __future__ import annotations

import builtins
import csv
import errno
import io
import json
import os
import pickle
import shlex
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import REPO, idx_bytes, run_main, run_main_as, write_fake_fashion_mnist
from helpers.half_write import half_writing_open

from mlplab.cli.train import main as train_main
from mlplab.data.fashion_mnist import FILES, load_split
from mlplab.data.idx import IdxError
from mlplab.errors import MACHINE_FAULTS
from mlplab.runtime.checkpoints import AtomicCheckpointIO

SMALL = ["data.train_subset=2000", "data.val_size=1000", "trainer.max_epochs=1", "model.net.hidden=[64]"]


def no_traceback(result, *needles, code=2):
    """One line, no traceback, and the documented exit status: 2 for a mistake, 1 for a run that
    diverged."""
    assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr[-2000:]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


# ---- data faults ------------------------------------------------------------------------------

def test_label_out_of_range_names_the_file(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path, 20, 10) / "FashionMNIST" / "raw"
    (raw / FILES["train"][1]).write_bytes(idx_bytes(torch.full((20,), 12, dtype=torch.uint8)))
    with pytest.raises(IdxError, match=r"label 12 is outside 0\.\.9") as err:
        load_split(raw, "train", None)
    assert FILES["train"][1] in str(err.value)


def in_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``mlplab-train …`` as its console script runs it, in this process (``helpers.run_main``):
    what these tests read is its output and exit status, not the process around it."""
    return run_main_as(["mlplab-train"], train_main, *args[1:], cwd=cwd)


@pytest.mark.slow
def test_truncated_image_file_stops_mlplab_train_with_one_line(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path / "data", 20, 10) / "FashionMNIST" / "raw"
    images = raw / FILES["train"][0]
    images.write_bytes(images.read_bytes()[:-100])
    result = in_process("mlplab-train", f"data.data_dir={tmp_path / 'data'}",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    no_traceback(result, str(images), "header says shape (20, 28, 28)", "delete it")
    assert not (tmp_path / "run" / "checkpoints").exists()


# ---- divergence and failed jobs ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.dataset
def test_a_huge_learning_rate_ends_the_run_as_diverged(tmp_path):
    run = tmp_path / "run"
    result = in_process("mlplab-train", "optimizer.lr=1e6", *SMALL, f"hydra.run.dir={run}", cwd=REPO)
    no_traceback(result, "at update 2 (epoch 0)", "optimizer.lr=1000000.0 is too large", code=1)
    assert result.returncode == 1
    # said once on the terminal (not a log line and an `error:` line), and kept in the run's log
    assert (result.stdout + result.stderr).count("is too large") == 1, result.stdout + result.stderr
    assert "[ERROR] - error: the training loss reached" in (run / "train.log").read_text()
    outcome = metrics(run)
    assert outcome["status"] == "diverged" and "at update 2" in outcome["error"]
    assert outcome["epochs"] == 0 and not any(k.startswith("test/") for k in outcome["metrics"])


@pytest.mark.dataset
@pytest.mark.slow
def test_one_diverging_and_one_failing_job_do_not_stop_the_sweep(tmp_path):
    broken = tmp_path / "broken"  # 20 images: found out only when the job loads its data
    write_fake_fashion_mnist(broken, 20, 10)
    sweep = tmp_path / "sweep"
    result = in_process("mlplab-train", "-m", "optimizer.lr=0.1,1e6",
                        f"data.data_dir={REPO / 'data'},{broken}",
                        *SMALL, f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert result.returncode == 1
    assert "3 of the sweep's jobs did not finish" in result.stderr
    with (sweep / "summary.csv").open() as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    assert statuses == ["finished", "failed", "diverged", "failed"]
    assert f"{broken}/FashionMNIST/raw/train-images-idx3-ubyte: 20 images" in metrics(sweep / "1")["error"]
    assert json.loads((sweep / "best.json").read_text())["job"] == 0  # the one that finished
    # each job's log ends with what the terminal said of it
    last_lines = [(sweep / str(job) / "train.log").read_text().splitlines()[-1] for job in range(4)]
    assert "outputs in" in last_lines[0] and "is too large" in last_lines[2], last_lines
    for job in (1, 3):
        assert "- error: " in last_lines[job] and "20 images" in last_lines[job], last_lines


# ---- interruption, resume, determinism --------------------------------------------------------

def newest_runs(logs: Path) -> list[Path]:
    return sorted((logs / "runs").glob("*"))


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, weights_only=True)["state_dict"]


# momentum, a per-update schedule, augmentation and dropout: every state a resume must restore
HARD = ["data.train_subset=2000", "data.val_size=1000", "model.net.hidden=[64]", "trainer.max_epochs=6",
        "optimizer.momentum=0.9", "scheduler=onecycle", "data.augment=true", "regularizer.dropout=0.3"]


@pytest.mark.slow
@pytest.mark.dataset
def test_sigterm_then_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    """SIGTERM sent by a callback of the run when epoch 2 of 6 ends; the printed resume command
    continues it; every weight, the history and the metrics equal a run never stopped."""
    stop = ["+callbacks.stop._target_=helpers.signals.SignalAt", "+callbacks.stop.epoch=1"]
    code, _, stderr = run_main(train_main, *HARD, *stop, f"paths.log_dir={tmp_path / 'a'}", cwd=tmp_path)
    assert code == 130, stderr[-2000:]
    (first,) = newest_runs(tmp_path / "a")
    outcome = metrics(first)
    assert outcome["status"] == "interrupted" and outcome["epochs"] == 2
    (line,) = [line for line in stderr.splitlines() if line.startswith("resume with: ")]
    command = shlex.split(line.removeprefix("resume with: "))
    assert command[0] == "mlplab-train" and command[-1] == "ckpt_path=last" and outcome["resume"] == line[13:]
    code, _, stderr = run_main(train_main, *command[1:], cwd=tmp_path)  # as printed
    assert code == 0, stderr[-2000:]
    code, _, stderr = run_main(train_main, *HARD, f"paths.log_dir={tmp_path / 'b'}", cwd=tmp_path)
    assert code == 0, stderr[-2000:]

    (reference,) = newest_runs(tmp_path / "b")
    got, want = metrics(first), metrics(reference)  # the resumed run writes into the first folder
    assert got["status"] == "finished" and got["resumed_from"].endswith("last.ckpt")
    assert got["history"] == want["history"] and len(got["history"]) == 6
    assert got["metrics"] == want["metrics"] and got["monitor"] == want["monitor"]
    for name in ("last.ckpt", "best.ckpt"):
        a, b = torch.load(first / "checkpoints" / name, weights_only=True), \
            torch.load(reference / "checkpoints" / name, weights_only=True)
        assert a["epoch"] == b["epoch"]
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in b["state_dict"]), name
        momentum = [s["momentum_buffer"] for s in a["optimizer_states"][0]["state"].values()]
        assert momentum and all(torch.equal(m, n["momentum_buffer"]) for m, n in
                                zip(momentum, b["optimizer_states"][0]["state"].values(), strict=True))


@pytest.mark.slow
@pytest.mark.dataset
def test_a_second_signal_stops_at_once_and_keeps_the_last_complete_epoch(tmp_path):
    """SIGINT after step 0 of epoch 2, and again after step 1: the run stops inside that epoch."""
    stop = ["+callbacks.stop._target_=helpers.signals.SignalAt", "+callbacks.stop.epoch=1",
            "+callbacks.stop.name=SIGINT", "+callbacks.stop.batches=[0,1]"]
    code, _, stderr = run_main(train_main, *SMALL, "trainer.max_epochs=20", *stop,
                               f"paths.log_dir={tmp_path}", cwd=tmp_path)
    assert code == 130, stderr[-2000:]
    (folder,) = newest_runs(tmp_path)
    outcome = metrics(folder)
    assert outcome["status"] == "interrupted" and "second SIGINT" in outcome["error"]
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["epoch"] + 1 == outcome["epochs"] == len(saved["mlplab_history"]) == 1  # complete epochs


@pytest.mark.slow
@pytest.mark.dataset
def test_same_config_and_seed_give_identical_numbers_in_two_processes(tmp_path, cli):
    """A fresh process, then this one (which has run other tests: other seeds drawn, other runs
    made), on as many threads as the fresh one had (a float sum over other threads may differ)."""
    job = [*SMALL, "trainer.max_epochs=3", "regularizer.dropout=0.3", "data.augment=true"]
    result = cli("mlplab-train", *job, f"hydra.run.dir={tmp_path / 'a'}", cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    a = metrics(tmp_path / "a")
    threads = torch.get_num_threads()
    torch.set_num_threads(a["threads"])
    try:
        code, _, stderr = run_main(train_main, *job, f"hydra.run.dir={tmp_path / 'b'}", cwd=REPO)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, stderr[-2000:]
    b = metrics(tmp_path / "b")
    assert a["threads"] == b["threads"]
    assert a["history"] == b["history"] and a["metrics"] == b["metrics"] and len(a["history"]) == 3
    for name in ("last.ckpt", "best.ckpt"):  # every weight, bit for bit
        wa, wb = (weights(tmp_path / run / "checkpoints" / name) for run in ("a", "b"))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


# ---- checkpoints ------------------------------------------------------------------------------

class NotPlainData:
    """Unpickling this would run code of ours: weights_only loading must refuse it."""


@pytest.mark.slow
@pytest.mark.parametrize("content", ["text", "pickled code"])
def test_resuming_from_a_file_that_is_not_a_checkpoint_stops_before_training(content, tmp_path):
    bogus = tmp_path / "bogus.ckpt"
    if content == "text":
        bogus.write_text("not a checkpoint")
    else:
        torch.save({"hyper_parameters": NotPlainData()}, bogus)
    result = in_process("mlplab-train", f"ckpt_path={bogus}", f"hydra.run.dir={tmp_path / 'run'}",
                        cwd=tmp_path)
    no_traceback(result, f"ckpt_path={bogus} is not a readable mlplab checkpoint")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_resume_last_without_a_matching_run_says_what_to_give(tmp_path):
    result = in_process("mlplab-train", "ckpt_path=last", "trainer.max_epochs=7",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    no_traceback(result, "no run under logs/runs with the overrides 'trainer.max_epochs=7'")


def test_a_failed_checkpoint_write_keeps_the_previous_file_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a local lambda: either, by Python version
        io.save_checkpoint({"epoch": 2, "bad": lambda: None}, path)  # lambdas do not pickle
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt"]


# fake Fashion-MNIST (256 training, 64 test images) and a run that takes a second or two on them
TINY = ["data.val_size=64", "data.check_counts=false", "model.net.hidden=[16]", "logger=none"]


@pytest.mark.slow  # two real runs
@pytest.mark.parametrize("name", ["checkpoints/last.ckpt", "metrics.json"])
def test_a_disk_full_half_way_through_a_write_keeps_the_previous_file_whole(name, tmp_path, monkeypatch):
    """The write is entered: the resumed run's first write of ``name`` has put half of the new
    bytes into its temporary ``.<name>.<random>.part`` when the disk says ENOSPC. One line names
    the file; the previous version under the final name is the one that was there, byte for byte,
    and loads; no ``.part`` is left."""
    write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    tiny, run = [f"data.data_dir={tmp_path / 'data'}", *TINY], tmp_path / "run"
    first = in_process("mlplab-train", *tiny, "trainer.max_epochs=1", f"hydra.run.dir={run}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    first_record = metrics(run)
    target, last = run / name, run / "checkpoints" / "last.ckpt"
    before = target.read_bytes()
    report = tmp_path / "half-write.json"
    half_writing = half_writing_open(target.name, str(report))
    monkeypatch.setattr(io, "open", half_writing)  # pathlib's open
    monkeypatch.setattr(builtins, "open", half_writing)
    resumed = in_process("mlplab-train", *tiny, "trainer.max_epochs=2", f"ckpt_path={last}",
                         f"hydra.run.dir={tmp_path / 'resumed'}", cwd=tmp_path)
    monkeypatch.undo()
    # mlplab's one line for a full disk (mlplab.errors), naming the final file, not the temporary
    no_traceback(resumed)
    lines = [line for line in resumed.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [f"error: {target}: No space left on device; {MACHINE_FAULTS[errno.ENOSPC]}"], \
        resumed.stderr[-2000:]
    # the write was entered: half of the new content was on disk in the temporary when it failed
    half = json.loads(report.read_text())
    part = Path(half["part"])
    assert part.parent == target.parent and half["of"] > 1000
    assert part.name.startswith(f".{target.name}.") and part.name.endswith(".part"), part
    assert half["bytes_on_disk"] == half["of"] // 2
    assert not list(run.rglob("*.part")) and not list(tmp_path.rglob("*.part"))
    assert target.read_bytes() == before  # the previous version, whole
    if name == "metrics.json":  # an ordinary run's record, on this CPU-only machine
        assert json.loads(target.read_text()) == first_record
        assert first_record["status"] == "finished" and first_record["epochs"] == 1
        assert first_record["device"] == "cpu"
        return
    old = torch.load(io.BytesIO(before), map_location="cpu", weights_only=True)
    kept = torch.load(target, map_location="cpu", weights_only=True)
    assert kept["epoch"] == old["epoch"] == 0 and kept["global_step"] == old["global_step"] > 0
    assert kept["state_dict"].keys() == old["state_dict"].keys() and len(kept["state_dict"]) == 4
    assert all(torch.equal(kept["state_dict"][k], old["state_dict"][k]) for k in old["state_dict"])
    # and Lightning resumes from it: epoch 0 as the first run left it, then epoch 1
    again = in_process("mlplab-train", *tiny, "trainer.max_epochs=2", f"ckpt_path={last}",
                       f"hydra.run.dir={tmp_path / 'again'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    done = metrics(run)
    assert done["status"] == "finished" and done["epochs"] == 2 and done["device"] == "cpu"
    assert done["resumed_from"] == str(last) and done["history"][0] == first_record["history"][0]


@pytest.mark.slow
def test_a_checkpoint_kept_outside_a_run_resumes_into_a_new_folder_and_writes_nothing_beside_it(tmp_path):
    """``ckpt_path=~/models/a.ckpt``: the run starts from its weights in its own new folder; only a
    run's own ``<run>/checkpoints/*.ckpt`` continues in the folder above it."""
    write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    tiny = [f"data.data_dir={tmp_path / 'data'}", *TINY]
    first = in_process("mlplab-train", *tiny, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}",
                       cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    first_record = metrics(tmp_path / "run")
    kept = tmp_path / "models" / "checkpoints" / "a.ckpt"  # a folder named checkpoints, not in a run
    kept.parent.mkdir(parents=True)
    kept.write_bytes((tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes())
    resumed = in_process("mlplab-train", *tiny, "trainer.max_epochs=2", f"ckpt_path={kept}",
                         f"hydra.run.dir={tmp_path / 'new'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert sorted(os.listdir(kept.parent)) == ["a.ckpt"] and os.listdir(kept.parent.parent) == ["checkpoints"]
    assert sorted(os.listdir(tmp_path)) == ["data", "models", "new", "run"]
    record = metrics(tmp_path / "new")
    assert record["status"] == "finished" and record["epochs"] == 2 and record["resumed_from"] == str(kept)
    assert record["history"][0] == first_record["history"][0]  # epoch 0 is the checkpoint's
    assert metrics(tmp_path / "run") == first_record  # the run the file came from is untouched
