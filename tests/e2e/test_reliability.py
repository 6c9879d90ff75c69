"""When things go wrong: broken data files, a loss that blows up, a failing sweep job, a run
stopped by SIGTERM and resumed, a file that is not a checkpoint. Each through the real entry point
or the real module, with real files."""

from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers import BIN, REPO, idx_bytes, write_fake_fashion_mnist

from mlplab.data.fashion_mnist import FILES, load_split
from mlplab.data.idx import IdxError
from mlplab.runtime.checkpoints import AtomicCheckpointIO

SMALL = ["data.train_subset=2000", "data.val_size=1000", "trainer.max_epochs=1", "model.hidden=[64]"]


def no_traceback(result, *needles):
    assert result.returncode != 0
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


def test_truncated_image_file_stops_mlplab_train_with_one_line(tmp_path, cli):
    raw = write_fake_fashion_mnist(tmp_path / "data", 20, 10) / "FashionMNIST" / "raw"
    images = raw / FILES["train"][0]
    images.write_bytes(images.read_bytes()[:-100])
    result = cli("mlplab-train", f"data.data_dir={tmp_path / 'data'}",
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    no_traceback(result, str(images), "header says shape (20, 28, 28)", "delete it")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unwritable_data_dir_says_so_when_the_files_must_be_unpacked(tmp_path, cli):
    deb = tmp_path / "deb"
    deb.mkdir()
    for name in (n for pair in FILES.values() for n in pair):
        (deb / f"{name}.gz").write_bytes(gzip.compress(b"anything"))
    unwritable = "/sys/mlplab-test-data"  # refused even to root
    result = cli("mlplab-train", f"data.data_dir={unwritable}", f"data.debian_dir={deb}",
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    no_traceback(result, f"cannot create {unwritable}/FashionMNIST/raw", "data.data_dir=<path>")


# ---- divergence and failed jobs ---------------------------------------------------------------

@pytest.mark.dataset
def test_a_huge_learning_rate_ends_the_run_as_diverged(tmp_path, cli):
    run = tmp_path / "run"
    result = cli("mlplab-train", "optimizer.lr=1e6", *SMALL, f"hydra.run.dir={run}", cwd=REPO)
    no_traceback(result, "at update 2 (epoch 0)", "optimizer.lr=1000000.0 is too large")
    assert result.returncode == 1
    outcome = metrics(run)
    assert outcome["status"] == "diverged" and "at update 2" in outcome["error"]
    assert outcome["epochs"] == 0 and not any(k.startswith("test/") for k in outcome["metrics"])


@pytest.mark.dataset
@pytest.mark.slow
def test_one_diverging_and_one_failing_job_do_not_stop_the_sweep(tmp_path, cli):
    broken = tmp_path / "broken"  # 20 images: found out only when the job loads its data
    write_fake_fashion_mnist(broken, 20, 10)
    sweep = tmp_path / "sweep"
    result = cli("mlplab-train", "-m", "optimizer.lr=0.1,1e6", f"data.data_dir={REPO / 'data'},{broken}",
                 *SMALL, f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert result.returncode == 1
    assert "3 of the sweep's jobs did not finish" in result.stderr
    with (sweep / "summary.csv").open() as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    assert statuses == ["finished", "failed", "diverged", "failed"]
    assert f"{broken}/FashionMNIST/raw/train-images-idx3-ubyte: 20 images" in metrics(sweep / "1")["error"]
    assert json.loads((sweep / "best.json").read_text())["job"] == 0  # the one that finished


# ---- interruption, resume, determinism --------------------------------------------------------

RESUMABLE = ["trainer.max_epochs=3", "regularizer.dropout=0.5"]  # dropout: the RNG must resume too


def start_run(cwd: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "mlplab-train"), *overrides], cwd=cwd, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_first_epoch(run: subprocess.Popen, cwd: Path) -> None:
    """Until the run's first last.ckpt exists: epoch 1 is complete and epoch 2 has begun."""
    deadline = time.monotonic() + 120
    while not list((cwd / "logs" / "runs").glob("*/checkpoints/last.ckpt")):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()[-2000:]
        time.sleep(0.02)


def newest_runs(cwd: Path) -> list[Path]:
    return sorted((cwd / "logs" / "runs").glob("*"))


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, weights_only=True)["state_dict"]


@pytest.mark.dataset
@pytest.mark.slow
def test_sigterm_then_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    for folder in (stopped, straight):
        folder.mkdir()
    run = start_run(stopped, *RESUMABLE)
    wait_for_first_epoch(run, stopped)
    run.send_signal(signal.SIGTERM)
    stderr = run.communicate(timeout=120)[1]
    assert run.returncode == 130, stderr[-2000:]
    (first,) = newest_runs(stopped)
    outcome = metrics(first)
    assert outcome["status"] == "interrupted" and 1 <= outcome["epochs"] < 3
    assert outcome["resume"].endswith("ckpt_path=last") and "resume with:" in stderr

    resumed = subprocess.run([str(BIN / "mlplab-train"), *RESUMABLE, "ckpt_path=last"], cwd=stopped,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = subprocess.run([str(BIN / "mlplab-train"), *RESUMABLE], cwd=straight,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]

    (reference,) = newest_runs(straight)
    got, want = metrics(first), metrics(reference)  # the resumed run writes into the first folder
    assert got["status"] == "finished" and got["resumed_from"].endswith("last.ckpt")
    assert got["history"] == want["history"] and len(got["history"]) == 3
    assert got["metrics"] == want["metrics"] and got["monitor"] == want["monitor"]
    for name in ("last.ckpt", "best.ckpt"):
        a, b = weights(first / "checkpoints" / name), weights(reference / "checkpoints" / name)
        assert all(torch.equal(a[k], b[k]) for k in b), name


@pytest.mark.dataset
@pytest.mark.slow
def test_a_second_signal_stops_at_once_and_keeps_the_last_complete_epoch(tmp_path):
    run = start_run(tmp_path, "trainer.max_epochs=20")
    wait_for_first_epoch(run, tmp_path)
    run.send_signal(signal.SIGINT)
    time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    stderr = run.communicate(timeout=120)[1]
    assert run.returncode == 130, stderr[-2000:]
    (folder,) = newest_runs(tmp_path)
    outcome = metrics(folder)
    assert outcome["status"] == "interrupted" and "second SIGINT" in outcome["error"]
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["epoch"] + 1 == outcome["epochs"] == len(saved["mlplab_history"])  # complete epochs


@pytest.mark.dataset
def test_same_config_and_seed_give_identical_numbers_in_two_processes(tmp_path, cli):
    outcomes = []
    for name in ("a", "b"):
        result = cli("mlplab-train", *SMALL, "regularizer.dropout=0.3", f"hydra.run.dir={tmp_path / name}",
                     cwd=REPO)
        assert result.returncode == 0, result.stderr[-2000:]
        outcomes.append(metrics(tmp_path / name))
    a, b = outcomes
    assert a["history"] == b["history"] and a["metrics"] == b["metrics"]
    assert 0.1 < a["metrics"]["test/acc"] < 1


# ---- checkpoints ------------------------------------------------------------------------------

class NotPlainData:
    """Unpickling this would run code of ours: weights_only loading must refuse it."""


@pytest.mark.parametrize("content", ["text", "pickled code"])
def test_resuming_from_a_file_that_is_not_a_checkpoint_stops_before_training(content, tmp_path, cli):
    bogus = tmp_path / "bogus.ckpt"
    if content == "text":
        bogus.write_text("not a checkpoint")
    else:
        torch.save({"hyper_parameters": NotPlainData()}, bogus)
    result = cli("mlplab-train", f"ckpt_path={bogus}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    no_traceback(result, f"ckpt_path={bogus} is not a readable mlplab checkpoint")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resume_last_without_a_matching_run_says_what_to_give(tmp_path, cli):
    result = cli("mlplab-train", "ckpt_path=last", "trainer.max_epochs=7",
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
