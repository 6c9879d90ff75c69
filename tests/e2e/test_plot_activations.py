"""scripts/plot_activations.py writes one figure per activation, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO


@pytest.mark.slow
def test_script_writes_three_pngs(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "plot_activations.py"),
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("relu", "sigmoid", "tanh"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert str(png) in result.stdout
