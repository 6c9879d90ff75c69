"""Every number the README's result tables show is what the job behind it printed.

Read with this file's own parser (nothing of ``scripts/reproduce.py``, which writes the README):
each row of the chapter and best-MLP tables is found by the command it shows, its numbers are read
from the cell by their labels ("2 features", "λ=3", "seeds 42, 43, 44", …), and each is compared
with the recorded job that has those hyperparameters (``docs/results.json``, ``jobs``), formatted
as shown. The command's own overrides must be the jobs' hyperparameters too. Every bold number in
the README is one of the numbers checked here; the sample output of ``make train`` is 4.2's job;
docs/performance.md's precision table is ``docs/precision.json``.
"""

from __future__ import annotations

import json
import re
import statistics
from itertools import product
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
RESULTS = json.loads((REPO / "docs" / "results.json").read_text())["rows"]
NUMBER = r"(-?\d+(?:\.\d+)?)"


# ---- reading the README ------------------------------------------------------------------------

def table_under(text: str, heading: str) -> list[list[str]]:
    """The body rows (lists of stripped cells) of the first table after ``heading``."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\|(-+\|)+", line.strip()))
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip()[1:-1].split(" | ")])
    return rows


def shown_command(cell: str) -> str:
    """The first backticked text of a command cell."""
    return re.search(r"`([^`]+)`", cell).group(1)


def row_of(table: list[list[str]], command: str) -> list[str]:
    """The row showing ``command``, in full or, after "…", its tail."""
    found = [row for row in table
             if shown_command(row[1]) == command
             or (row[1].startswith("…") and command.endswith(" " + shown_command(row[1])))]
    assert len(found) == 1, f"{len(found)} README rows show {command}"
    return found[0]


CHECKED_BOLD: set[str] = set()  # every bold number a check below read


def numbers(pattern: str, text: str) -> list[str]:
    """The numbers ``pattern`` (with NUMBER groups, "**" optional around each) finds in ``text``."""
    loose = pattern.replace(NUMBER, r"\**" + NUMBER + r"\**")
    match = re.search(loose, text)
    assert match, f"{pattern!r} not in {text!r}"
    for value in match.groups():
        if f"**{value}**" in text:
            CHECKED_BOLD.add(value)
    return list(match.groups())


# ---- the recorded jobs --------------------------------------------------------------------------

def comparable(value):
    """A config value and an override's text alike: numbers as floats, lists as JSON."""
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        try:
            return comparable(json.loads(value))  # numbers, lists
        except ValueError:
            try:
                return float(value)  # "1e-3", which JSON refuses
            except ValueError:
                return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return json.dumps(value)


def jobs(row_id: str) -> list[dict]:
    return RESULTS[row_id]["jobs"]


def job(row_id: str, **where) -> dict:
    """The one job of the row whose hyperparameters are ``where`` (``__`` for ".")."""
    wanted = {key.replace("__", "."): value for key, value in where.items()}
    found = [j for j in jobs(row_id) if all(j["hparams"].get(k) == v for k, v in wanted.items())]
    assert len(found) == 1, f"row {row_id}: {len(found)} jobs with {wanted}"
    return found[0]


def shown(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def places(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def same(text: str, value: float) -> bool:
    """The README's ``text`` is ``value`` printed to as many places as the README shows."""
    return text == shown(value, places(text))


# ---- the checks -------------------------------------------------------------------------------

CHAPTER = table_under(README, "## The chapter, section by section")
BEST = table_under(README, "## How far an MLP goes")


@pytest.mark.parametrize("row_id", list(RESULTS))
def test_the_command_shown_is_what_the_jobs_ran(row_id):
    """The row's command made its jobs: a sweep's (``-m``) jobs have exactly the values it sweeps
    (``key=a,b``) and its other values; a single run's command made at least one job of the row,
    at the row's seed (4.6.3 also records the runs at other seeds and of the other style)."""
    entry = RESULTS[row_id]
    row = row_of(CHAPTER if entry["table"] == "chapter" else BEST, entry["command"])  # shown in the README
    recorded = jobs(row_id)
    assert recorded, row_id
    for also in entry.get("also", []):  # the commands after the first, shown in full in its cell
        assert f"`{also}`" in row[1], (row_id, also)
    for command in [entry["command"], *entry.get("also", [])]:
        made_by(command, recorded, entry["seed"])


def made_by(command: str, recorded: list[dict], seed: int) -> None:
    """``command`` made some of ``recorded``: a sweep (``-m``) the jobs whose values it sweeps,
    one for each value, and a single run a job with its values at the row's seed."""
    words = command.split()[1:]
    overrides = {key: text.split(",") if "," in text and not text.startswith("[") else [text]
                 for key, _, text in (w.partition("=") for w in words if "=" in w)
                 if all(key in j["hparams"] for j in recorded)}  # experiment=… picks files, not values
    if words[:1] == ["-m"]:
        mine = [j for j in recorded if all(comparable(j["hparams"][key]) in set(map(comparable, swept))
                                           for key, swept in overrides.items())]
        for key, swept in overrides.items():
            values = {comparable(j["hparams"][key]) for j in mine}
            assert values == set(map(comparable, swept)), (command, key)
        return
    made = [j for j in recorded if j["hparams"]["seed"] == seed and all(
        comparable(j["hparams"][key]) == comparable(text) for key, (text,) in overrides.items())]
    assert made, (command, overrides)


@pytest.mark.parametrize("row_id", ["4.2", "4.3", "4.6 scratch", "4.6 concise"])
def test_test_accuracy_rows(row_id):
    cell = row_of(CHAPTER, RESULTS[row_id]["command"])[2]
    (acc,) = numbers(rf"test/acc {NUMBER}", cell)
    assert same(acc, job(row_id, seed=42)["metrics"]["test/acc"])


def test_polynomial_row_by_number_of_features():
    cell = row_of(CHAPTER, RESULTS["4.4"]["command"])[2]
    for features in (2, 4, 20):
        train, test = numbers(rf"{features} features {NUMBER}/{NUMBER}", cell)
        metrics = job("4.4", data__num_features=features)["metrics"]
        assert same(train, metrics["train/loss"]) and same(test, metrics["test/loss"]), features


def test_weight_decay_row_by_lambda():
    cell = row_of(CHAPTER, RESULTS["4.5"]["command"])[2]
    free, decayed = numbers(rf"‖w‖ {NUMBER} \(λ=0\) vs {NUMBER} \(λ=3\)", cell)
    assert same(free, job("4.5", regularizer__weight_decay=0)["metrics"]["weights/l2_norm"])
    assert same(decayed, job("4.5", regularizer__weight_decay=3)["metrics"]["weights/l2_norm"])


def test_dropout_styles_row_by_style_and_seed():
    cell = row_of(CHAPTER, RESULTS["4.6.3"]["command"])[2]
    (bold,) = numbers(rf"test/acc {NUMBER};", cell)
    seeds = [int(s) for s in numbers(r"seeds (\d+), (\d+), (\d+):", cell)]
    shown_runs = numbers(rf": {NUMBER}, {NUMBER}, {NUMBER} \(mean {NUMBER}\) against inverted "
                         rf"{NUMBER}, {NUMBER}, {NUMBER} \(mean {NUMBER}\)", cell)
    for style, texts in (("classic", shown_runs[:4]), ("inverted", shown_runs[4:])):
        accs = [job("4.6.3", regularizer__dropout_style=style, seed=s)["metrics"]["test/acc"] for s in seeds]
        assert [same(t, a) for t, a in zip(texts[:3], accs, strict=True)] == [True] * 3, style
        assert same(texts[3], statistics.mean(accs)), style
    assert same(bold, job("4.6.3", regularizer__dropout_style="classic", seed=42)["metrics"]["test/acc"])


def test_overfit_row_and_its_best_claim():
    cell = row_of(CHAPTER, RESULTS["overfit"]["command"])[2]
    runs = {(wd, p): job("overfit", regularizer__weight_decay=wd, regularizer__dropout=p)
            for wd, p in product((0, 1e-3), (0, 0.5))}
    for run in runs.values():  # "best val/acc" is the best epoch's, as the checkpoint chose it
        monitor = run["monitor"]
        assert monitor["name"] == "val/acc" and monitor["best"] == max(monitor["history"])
    train, best = numbers(rf"no regulariser: train acc {NUMBER} vs best val/acc {NUMBER}", cell)
    assert same(train, runs[0, 0]["metrics"]["train/acc"]) and same(best, runs[0, 0]["monitor"]["best"])
    (train,) = numbers(rf"dropout 0.5: train acc {NUMBER}", cell)
    assert same(train, runs[0, 0.5]["metrics"]["train/acc"])
    norm, plain_norm, best, test = numbers(rf"λ = 1e-3: ‖w‖ {NUMBER} instead of {NUMBER} and the best "
                                           rf"val/acc, {NUMBER} \(its test/acc: {NUMBER}\)", cell)
    decay = runs[1e-3, 0]
    assert same(norm, decay["metrics"]["weights/l2_norm"])
    assert same(plain_norm, runs[0, 0]["metrics"]["weights/l2_norm"])
    assert same(best, decay["monitor"]["best"]) and same(test, decay["metrics"]["test/acc"])
    assert decay["monitor"]["best"] == max(run["monitor"]["best"] for run in runs.values())  # "the best"


BEST_ROWS = [row_id for row_id, entry in RESULTS.items() if entry["table"] == "best_mlp"]


@pytest.mark.parametrize("row_id", BEST_ROWS)
def test_best_mlp_rows(row_id):
    cells = row_of(BEST, RESULTS[row_id]["command"])[2:6]
    (val,), (test,), (train,), (seconds,) = (numbers(rf"^{NUMBER}(?: s)?$", cell) for cell in cells)
    run = job(row_id, seed=42)
    assert same(val, run["monitor"]["best"]) and same(test, run["metrics"]["test/acc"])
    assert same(train, run["metrics"]["train/acc"]) and same(seconds, run["seconds"])


def test_the_headline_is_the_best_mlp_row():
    (headline,) = numbers(rf"a plain MLP reaches {NUMBER} test accuracy", README)
    CHECKED_BOLD.add(headline)
    assert same(headline, job("best_mlp", seed=42)["metrics"]["test/acc"])


def test_make_train_sample_output_is_row_4_2():
    line = re.search(r"^test/acc=.*outputs in .*$", README, re.M).group(0)
    metrics = job("4.2", seed=42)["metrics"]
    shown_metrics = dict(re.findall(rf"(\S+)={NUMBER}\s", line))
    assert set(shown_metrics) == {"test/acc", "test/loss", "val/acc", "val/loss"}
    for name, text in shown_metrics.items():
        assert same(text, metrics[name]), name


def test_every_bold_number_of_the_readme_is_checked():
    for test in (test_polynomial_row_by_number_of_features, test_weight_decay_row_by_lambda,
                 test_dropout_styles_row_by_style_and_seed, test_overfit_row_and_its_best_claim,
                 test_the_headline_is_the_best_mlp_row):
        test()
    for row_id in ["4.2", "4.3", "4.6 scratch", "4.6 concise"]:
        test_test_accuracy_rows(row_id)
    for row_id in BEST_ROWS:
        test_best_mlp_rows(row_id)
    bold = set(re.findall(rf"\*\*{NUMBER}(?:\*\*| )", README))
    assert bold and bold <= CHECKED_BOLD, bold - CHECKED_BOLD


def test_every_row_of_the_two_tables_is_recorded():
    commands = {entry["command"] for entry in RESULTS.values()}
    unrecorded = [row[0] for row in CHAPTER + BEST
                  if not any(shown_command(row[1]) == c or (row[1].startswith("…") and
                                                            c.endswith(" " + shown_command(row[1])))
                             for c in commands)]
    assert unrecorded == ["4.1.2 activations"]  # figures, not numbers


# ---- docs/performance.md's precision table ----------------------------------------------------

def test_the_precision_table_is_docs_precision_json():
    recorded = json.loads((REPO / "docs" / "precision.json").read_text())["rows"]
    table = table_under((REPO / "docs" / "performance.md").read_text(), "## fp32 against bf16 on a CPU")
    assert [shown_command(row[0]) for row in table] == list(recorded)
    for row in table:
        runs = recorded[shown_command(row[0])]["runs"]
        fp32 = [r["value"] for r in runs["fp32"]]
        bf16 = [r["value"] for r in runs["bf16"]]
        gaps = [b - f for f, b in zip(fp32, bf16, strict=True)]
        speedup = statistics.median(r["fit_seconds"] for r in runs["fp32"]) / \
            statistics.median(r["fit_seconds"] for r in runs["bf16"])
        assert row[1] == runs["fp32"][0]["monitor"]
        assert same(row[2], statistics.mean(fp32)) and same(row[3], statistics.mean(bf16)), row[0]
        assert row[4].replace("−", "-") == f"{statistics.mean(gaps):+.4f}", row[0]
        assert row[5] == ("one seed" if len(fp32) == 1 else shown(max(fp32) - min(fp32), 4)), row[0]
        assert row[6] == f"{speedup:.2f}×", row[0]
