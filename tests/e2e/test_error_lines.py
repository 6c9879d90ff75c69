"""Faults whose one line must name the real cause and a fix that works as printed: each is provoked
through the real entry point, the line is read, and the fix it prints is run as a user would paste
it (through the shell)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_main

from mlplab.cli.train import main as train_main

QUICK = ["debug=fast", "logger=none"]
TRAIN = str(Path(sys.executable).parent / "mlplab-train")


def error_line(code: int, stderr: str) -> str:
    """The run ended with exit status 2 and exactly one ``error:`` line, no traceback."""
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    (line,) = [row for row in stderr.splitlines() if row.startswith("error: ")]
    return line


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # seconds: a process of its own or real runs
def test_a_checkpoints_folder_as_ckpt_path_names_its_files_and_the_fix_resumes(tmp_path):
    run = tmp_path / "run"
    code, _, stderr = run_main(train_main, *QUICK, f"hydra.run.dir={run}", cwd=tmp_path)
    assert code == 0, stderr[-2000:]
    folder = run / "checkpoints"
    code, _, stderr = run_main(train_main, *QUICK, f"ckpt_path={folder}", f"hydra.run.dir={run}",
                               cwd=tmp_path)
    line = error_line(code, stderr)
    assert "does not exist" not in line
    assert f"ckpt_path={folder} is a folder" in line and "best.ckpt, last.ckpt" in line
    fix = re.search(r"e\.g\. (ckpt_path=\S+)", line).group(1)
    assert fix == f"ckpt_path={folder / 'last.ckpt'}"
    # the run finished its epoch: resumed, it trains one more (the same length would leave nothing to train)
    longer = [TRAIN, *QUICK, f"hydra.run.dir={run}", "trainer.max_epochs=2"]
    done = shell(shlex.join(longer) + " " + fix, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["resumed_from"] == str(folder / "last.ckpt") and resumed["epochs"] == 2


@pytest.mark.slow  # seconds: a process of its own or real runs
def test_a_path_with_a_space_and_other_letters_says_to_quote_it_and_the_quoted_override_runs(tmp_path):
    where = tmp_path / "运行 ü"
    code, _, stderr = run_main(train_main, *QUICK, f"hydra.run.dir={where}", cwd=tmp_path)
    line = error_line(code, stderr)
    assert "LexerNoViableAltException" not in line
    assert "a space" in line and "'ü'" in line and "'运'" in line
    fix = line.rsplit("quote the value inside the override: ", 1)[1]
    assert shlex.split(fix) == [f'hydra.run.dir="{where}"']
    done = shell(f"{shlex.quote(TRAIN)} {' '.join(QUICK)} {fix}", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (where / "metrics.json").is_file()


@pytest.mark.slow
def test_swapped_labels_and_images_are_named_by_their_magic_numbers_and_the_printed_mv_fixes_them(tmp_path):
    data = tmp_path / "data"
    raw = data / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    real_raw = Path(os.environ["MLPLAB_DATA_DIR"]) / "FashionMNIST" / "raw"  # tests/conftest.py sets it
    reals = sorted(real_raw.glob("*-ubyte"))
    assert len(reals) == 4, f"the real files are not in {real_raw}"
    for real in reals:  # links: no 50 MB copy
        (raw / real.name).symlink_to(real)
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    images.rename(raw / "swap"), labels.rename(images), (raw / "swap").rename(labels)
    arguments = [*QUICK, f"data.data_dir={data}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}"]
    code, _, stderr = run_main(train_main, *arguments, cwd=tmp_path)
    line = error_line(code, stderr)
    assert "shape" not in line
    assert f"{images} holds labels (magic number 2049)" in line and f"{labels} holds images (2051)" in line
    fix = re.search(r"swap them back with `([^`]+)`", line).group(1)
    assert shell(fix, tmp_path).returncode == 0
    code, _, stderr = run_main(train_main, *arguments, cwd=tmp_path)
    assert code == 0, stderr[-2000:]
