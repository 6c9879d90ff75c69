"""A sweep over the dropout style (the notes' classic dropout, the book's inverted one) through the
basic launcher: the summary and TensorBoard's HParams tab name each job's style. (Both styles over
three seeds, within one point of each other: row 4.6.3 of tests/e2e/test_reproduce.py.)"""

from __future__ import annotations

import csv

import pytest
from helpers import REPO, run_main
from helpers.hparams_api import hparams_tab

from mlplab.cli.train import main as train_main


@pytest.mark.slow
@pytest.mark.dataset
def test_a_sweep_over_the_style_shows_it_in_the_summary_and_the_hparams_tab(tmp_path):
    sweep = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", "regularizer.dropout_style=inverted,classic",
                               "regularizer.dropout=0.5", "data.train_subset=1024", "data.val_size=512",
                               "model.net.hidden=[32]", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}",
                               cwd=REPO)
    assert code == 0, stderr[-2000:]
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["regularizer.dropout_style"] for row in rows] == ["inverted", "classic"]
    _, served = hparams_tab(sweep, runs=2)
    assert sorted(row["hparams"]["regularizer.dropout_style"] for row in served) == ["classic", "inverted"]
