"""d2l 4.6 in both dropout styles on the real Fashion-MNIST: the notes' classic dropout (scale at
evaluation) and the book's inverted dropout (scale while training) land within one percentage
point of each other over three seeds, and each run prints the README's number."""

from __future__ import annotations

import csv
import json
import re
import statistics

import pytest
from helpers import REPO, run_main
from helpers.hparams_api import hparams_tab

from mlplab.cli.train import main as train_main

SEEDS = (42, 43, 44)


def readme_row() -> dict[str, list[float]]:
    """The README's 4.6.3 row: the test accuracy of each seed, per style."""
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| 4.6.3"))
    classic = re.search(r"seeds 42, 43, 44: ([\d., ]+) \(mean", row).group(1)
    inverted = re.search(r"against inverted ([\d., ]+) \(mean", row).group(1)
    return {"classic": [float(v) for v in classic.split(", ")],
            "inverted": [float(v) for v in inverted.split(", ")]}


@pytest.mark.slow
@pytest.mark.dataset
def test_classic_and_inverted_dropout_agree_within_one_point_over_three_seeds(tmp_path):
    accuracy = {}
    for style in ("classic", "inverted"):
        for seed in SEEDS:
            run_dir = tmp_path / f"{style}-{seed}"
            # no checkpoints or event files: the test scores the final weights, as test_ckpt=last does
            code, stdout, stderr = run_main(train_main, "experiment=d2l_dropout", f"seed={seed}",
                                            f"regularizer.dropout_style={style}", "callbacks=none",
                                            "logger=none", f"hydra.run.dir={run_dir}", cwd=REPO)
            assert code == 0, stderr[-2000:]
            result = json.loads((run_dir / "metrics.json").read_text())
            assert result["hparams"]["regularizer"]["dropout_style"] == style
            assert f"test/acc={result['metrics']['test/acc']:.4f}" in stdout  # printed, as the README says
            accuracy.setdefault(style, []).append(result["metrics"]["test/acc"])
    gap = statistics.mean(accuracy["classic"]) - statistics.mean(accuracy["inverted"])
    assert abs(gap) <= 0.01, accuracy
    # the README's numbers, measured on this machine with the same seeds (to the printed digits)
    for style, values in readme_row().items():
        assert [round(a, 4) for a in accuracy[style]] == pytest.approx(values, abs=2e-4), style


@pytest.mark.dataset
def test_a_sweep_over_the_style_shows_it_in_the_summary_and_the_hparams_tab(tmp_path):
    sweep = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", "regularizer.dropout_style=inverted,classic",
                               "regularizer.dropout=0.5", "data.train_subset=1024", "data.val_size=512",
                               "model.hidden=[32]", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}",
                               cwd=REPO)
    assert code == 0, stderr[-2000:]
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["regularizer.dropout_style"] for row in rows] == ["inverted", "classic"]
    _, served = hparams_tab(sweep, runs=2)
    assert sorted(row["hparams"]["regularizer.dropout_style"] for row in served) == ["classic", "inverted"]
