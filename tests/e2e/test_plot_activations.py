"""scripts/plot_activations.py writes one figure per activation, as a user runs it (its ``main``
with the user's arguments, in this process)."""

from __future__ import annotations

from helpers import REPO, run_main

from scripts.plot_activations import main


def test_script_writes_three_pngs(tmp_path):
    code, out, err = run_main(main, "--out", str(tmp_path), cwd=REPO)
    assert code == 0, err
    for name in ("relu", "sigmoid", "tanh"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert str(png) in out
