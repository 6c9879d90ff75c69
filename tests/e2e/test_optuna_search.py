"""hparams_search=optuna on Optuna ≥ 4: the study in storage (SQLite in the sweep folder, or
PostgreSQL shared by several workers that draw different trials), resumed by the same command,
pruning poor trials; a storage that cannot be opened stops the search in one line."""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import sys

import optuna
import pytest
import yaml
from helpers import BIN, REPO, run_main
from helpers.services import free_port, postgres_database

from mlplab.cli.train import main as train_main

TRIAL = ["data.train_subset=2000", "data.val_size=1000", "model.net.hidden=[32]", "trainer.max_epochs=3"]


CTRL_C_IN_TRIAL_2 = ["+callbacks.stop._target_=helpers.signals.SignalAt", "+callbacks.stop.epoch=0",
                     "+callbacks.stop.name=SIGINT", "+callbacks.stop.job=2"]


def trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    (study,) = optuna.get_all_study_summaries(storage)  # one study, whoever ran its trials
    return optuna.load_study(study_name=study.study_name, storage=storage).trials


def states(storage: str) -> list[str]:
    return [t.state.name for t in trials(storage)]


def search(sweep, *extra):
    return [str(BIN / "mlplab-train"), "hparams_search=optuna", *TRIAL, *extra, f"hydra.sweep.dir={sweep}"]


def test_optuna_is_current():
    assert int(optuna.__version__.split(".")[0]) >= 4


@pytest.mark.dataset
@pytest.mark.slow
def test_a_search_stopped_after_two_of_four_trials_ends_with_four_in_one_study(tmp_path):
    sweep = tmp_path / "search"
    # Ctrl-C from inside trial 2, at the end of its first epoch (trials 0 and 1 are done): the
    # search stops there, whatever the machine's speed
    command = search(sweep, "hydra.sweeper.n_trials=4", *CTRL_C_IN_TRIAL_2)
    code, _, stderr = run_main(train_main, *command[1:], cwd=REPO)
    assert code == 130, stderr[-3000:]
    storage = f"sqlite:///{sweep / 'optuna.db'}"
    assert states(storage) == ["COMPLETE", "COMPLETE", "RUNNING"]  # trial 2 waits to be resumed

    code, _, stderr = run_main(train_main, *command[1:], cwd=REPO)  # the same command: resumed
    assert code == 0, stderr[-3000:]
    assert [s for s in states(storage) if s in ("COMPLETE", "PRUNED")] == states(storage)
    assert len(states(storage)) == 4  # one study, four finished trials: 0, 1, the resumed 2, and 3
    resumed = json.loads((sweep / "2" / "metrics.json").read_text())
    assert resumed["status"] in ("finished", "pruned")
    assert resumed["resumed_from"] == str(sweep / "2" / "checkpoints" / "last.ckpt")
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["n_finished"] == 4 and results["storage"] == storage


@pytest.mark.slow
@pytest.mark.dataset
def test_poor_trials_are_pruned_and_say_so(tmp_path):
    sweep = tmp_path / "search"
    overrides = search(sweep, "hydra.sweeper.n_trials=5", "optimizer.lr=choice(0.3,0.0003)",
                       "hydra.sweeper.pruner.n_startup_trials=1")
    told_twice = []  # Optuna's own line (its logger's handler writes to the terminal it started with)
    optuna_log = logging.Handler()
    optuna_log.emit = lambda record: told_twice.append(record.getMessage())
    logging.getLogger("optuna").addHandler(optuna_log)
    try:
        code, _, stderr = run_main(train_main, *overrides[1:], cwd=REPO)
    finally:
        logging.getLogger("optuna").removeHandler(optuna_log)
    assert code == 0, stderr[-3000:]
    assert not [m for m in told_twice if "Skipped telling trial" in m]  # told once, by its job
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    pruned = [r for r in rows if r["status"] == "pruned"]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_trial"]
    assert pruned and str(best) not in {r["job"] for r in pruned}
    for row in pruned:  # stopped at the end of the epoch it was pruned in; the test set is not scored
        result = json.loads((sweep / row["job"] / "metrics.json").read_text())
        update = int(re.search(r"pruned by the study's pruner after update (\d+)", result["error"]).group(1))
        assert result["epochs"] * 8 == update  # 2000 training images in batches of 256: 8 updates an epoch
        assert not any(k.startswith("test/") for k in result["metrics"])
    assert states(f"sqlite:///{sweep / 'optuna.db'}").count("PRUNED") == len(pruned)
    assert "pruned by the study's pruner" in (sweep / pruned[0]["job"] / "metrics.json").read_text()


def two_workers(tmp_path, storage, read_back=None):
    """Two processes on one study (``storage`` as the user writes it; ``read_back``: the URL this
    test reads it with): each asks trials until the study has its four, and no two are alike."""
    workers = [subprocess.Popen(search(tmp_path / f"w{n}", "hydra.sweeper.n_trials=4",
                                       f"hydra.sweeper.storage='{storage}'"),
                                cwd=REPO, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for n in (0, 1)]
    for worker in workers:
        stderr = worker.communicate(timeout=600)[1]
        assert worker.returncode == 0, stderr[-3000:]
    study = trials(read_back or storage)
    finished = [t for t in study if t.state.name in ("COMPLETE", "PRUNED")]
    assert 4 <= len(finished) <= 5  # both may ask the fourth at once
    assert all(any(p.name.isdigit() for p in (tmp_path / f"w{n}").iterdir()) for n in (0, 1))  # both worked
    drawn = [tuple(sorted(t.params.items())) for t in study]  # one seeded sampler per worker drew
    # the same trials in both (trials 0 and 1 alike, 2 and 3 alike): each trial has its own seed now
    assert len(set(drawn)) == len(drawn) == len(study), drawn


@pytest.mark.dataset
@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path):
    two_workers(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.dataset
@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_share_one_postgresql_study(tmp_path):
    with postgres_database() as storage:  # the README's postgresql://, which names no driver
        two_workers(tmp_path, storage.replace("postgresql+psycopg2://", "postgresql://"), read_back=storage)


def storage_refused(tmp_path, storage: str) -> str:
    """The search on ``storage`` ends before any trial, in one line; that line."""
    sweep = tmp_path / "search"
    code, _, stderr = run_main(train_main, *search(sweep, f"hydra.sweeper.storage='{storage}'")[1:], cwd=REPO)
    assert code == 2 and "Traceback" not in stderr, stderr[-3000:]
    assert not [p.name for p in sweep.glob("*") if p.name.isdigit() or p.name == "optuna.db"]  # no trial ran
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    return line


def test_a_storage_no_server_answers_is_one_line_naming_it_without_its_password(tmp_path):
    port = free_port()  # nothing listens there
    line = storage_refused(tmp_path, f"postgresql://bob:s3cret@127.0.0.1:{port}/optuna")
    assert line.startswith(f"error: hydra.sweeper.storage=postgresql://bob:***@127.0.0.1:{port}/optuna "
                           f"cannot be opened: ")  # then libpq's words, through whichever psycopg is here
    assert line.endswith("Connection refused; start the database server, or fix the URL's host and port")


def test_a_storage_whose_driver_is_not_installed_is_one_line_naming_the_package(tmp_path, monkeypatch):
    for driver in ("psycopg", "psycopg2"):  # as where neither is installed
        monkeypatch.setitem(sys.modules, driver, None)
    line = storage_refused(tmp_path, "postgresql://bob:s3cret@db.example/optuna")
    assert line == ("error: hydra.sweeper.storage=postgresql://bob:***@db.example/optuna needs the driver "
                    "psycopg, which is not installed here: pip install 'psycopg[binary]'")


@pytest.mark.slow
@pytest.mark.postgres
def test_a_database_or_user_the_server_does_not_have_is_one_line_naming_it(tmp_path):
    with postgres_database() as storage:
        socket = storage.partition("?")[2]
        line = storage_refused(tmp_path / "db", f"postgresql://postgres@/missing?{socket}")
        assert line.startswith(f"error: hydra.sweeper.storage=postgresql://postgres@/missing?{socket} "
                               f"cannot be opened: connection to server on socket ")
        assert line.endswith('database "missing" does not exist; create the database (PostgreSQL: createdb '
                             '<name>) or name one that exists')
        line = storage_refused(tmp_path / "user", f"postgresql://nobody:s3cret@/optuna?{socket}")
        assert line.startswith("error: hydra.sweeper.storage=postgresql://nobody:***@/optuna?")
        assert line.endswith('role "nobody" does not exist; fix the URL\'s user and password, or give that '
                             'user access to the database')


@pytest.mark.dataset
@pytest.mark.slow
def test_another_search_given_the_same_storage_is_refused_before_its_first_trial(tmp_path):
    """The study name is the preset's ``mlplab`` for every search: a second search with other
    settings in the same storage must not continue the first one's study (train nothing, report
    its best as its own); the same command continues it."""
    storage = f"sqlite:///{tmp_path}/shared.db"

    def one_trial(folder, *extra):
        return run_main(train_main, "hparams_search=optuna", *TRIAL, "trainer.max_epochs=1",
                        "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage={storage}", *extra,
                        f"hydra.sweep.dir={tmp_path / folder}", cwd=REPO)

    code, _, stderr = one_trial("first")
    assert code == 0, stderr[-3000:]
    code, _, stderr = one_trial("other", "model.net.hidden=[8]")
    assert code == 2, stderr[-3000:]
    assert ("error: hydra.sweeper.study_name=mlplab in " in stderr and "holds another search (it has "
            "model.net.hidden=[32]; this one has model.net.hidden=[8]); give this one its own name" in stderr)
    assert len(trials(storage)) == 1 and not (tmp_path / "other").exists()  # no folder of a search
    code, _, stderr = one_trial("again", "hydra.sweeper.n_trials=2")  # the same search: continued
    assert code == 0, stderr[-3000:]
    assert states(storage) == ["COMPLETE", "COMPLETE"]


@pytest.mark.dataset
@pytest.mark.slow
def test_a_search_drawing_values_every_trial_would_refuse_is_one_line_before_its_first_trial(tmp_path):
    """The preset searches dropout; d2l's linear model (hidden=[]) has no layer for it: every trial
    would fail. The ends of each searched range are checked as a trial's job would be."""
    code, _, stderr = run_main(train_main, "hparams_search=optuna", "experiment=d2l_weight_decay",
                               "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}/search", cwd=REPO)
    assert code == 2 and "Traceback" not in stderr, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: regularizer.dropout=") and "a value the search draws from: " in line, line
    assert "model.net.hidden=[] has no hidden layer to apply it to" in line
    assert line.endswith("no trial was started")
    assert not (tmp_path / "search" / "0").exists()
