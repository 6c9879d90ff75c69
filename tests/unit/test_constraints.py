"""The installs are pinned: ``constraints.txt`` holds the exact versions the README's numbers were
measured with, ``make setup`` installs through it, and the venv the tests run in is that one."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess

from helpers import REPO

PINS = REPO / "constraints.txt"


def pins() -> dict[str, str]:
    lines = [line for line in map(str.strip, PINS.read_text().splitlines()) if line and line[0] != "#"]
    assert all("==" in line for line in lines), [line for line in lines if "==" not in line]
    return {normalise(name): version for name, version in (line.split("==", 1) for line in lines)}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_venv_holds_exactly_the_pinned_versions():
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in pins().items()
             if installed.get(name) != version}
    assert not wrong, f"pinned (constraints.txt) vs installed: {wrong}; run `make setup` in a fresh venv"


def test_every_requirement_of_mlplab_and_its_extras_is_pinned():
    required = {normalise(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in metadata.requires("mlplab")}
    assert required - pins().keys() == set()


def test_make_setup_installs_through_the_constraints():
    dry = subprocess.run(["make", "-n", "-B", ".venv/.installed"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    installs = [line for line in dry.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 2 and all("-c constraints.txt" in line for line in installs), dry
