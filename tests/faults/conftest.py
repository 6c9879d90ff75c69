"""The fault suite: every fault of the environment a run can meet, provoked for real, must end with
exit status 2, one ``error:`` line naming the path or value and what to do, no traceback, and
nothing already written damaged.

Each entry point runs as its console script runs it: its ``main()`` with the command line in
``sys.argv`` (``helpers.run_main``, in this process: a process start costs about 4 s of imports),
or as a process of its own where the fault needs one (entering paths as another user, a SIGKILL,
a second process holding a folder, ``python -m``). What it printed is kept in one folder, and the
suite's summary line counts the tracebacks in all of it (``grep -c Traceback``).
Faults of the machine are made with real means where this machine allows: a small tmpfs (root
with mount rights), folders of mode 000/0500 entered without the power to ignore modes (as root:
``setpriv`` dropping CAP_DAC_OVERRIDE). Where these cannot be had, the tests that need them are
skipped with the reason and how to enable them, and fail under ``CI=true`` (``helpers.unavailable``):
a faked fault (an ENOSPC raised where no disk is full) would pass where the real one might not.
"""

from __future__ import annotations

import gzip
import importlib
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, REPO, run_main_as, unavailable, write_fake_fashion_mnist

TESTS = REPO / "tests"
DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]
# fake Fashion-MNIST files (256 training, 64 test images) and a run that takes a second on them
TINY = ["data.val_size=64", "data.check_counts=false", "trainer.max_epochs=1", "model.net.hidden=[16]"]
ENTRY_POINTS = {"mlplab-train": "mlplab.cli.train", "mlplab-eval": "mlplab.cli.evaluate"}
OUTPUTS: list[Path] = []  # the folder of captured outputs, once the first test made it


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)  # many start processes of their own: seconds each


def captured_tracebacks() -> tuple[int, int]:
    """(captured outputs, tracebacks in them) of the fault suite so far."""
    files = sorted(OUTPUTS[0].glob("*.txt")) if OUTPUTS else []
    return len(files), sum(f.read_text().count("Traceback") for f in files)


def pytest_sessionfinish(session, exitstatus):
    if captured_tracebacks()[1] and session.exitstatus == 0:  # a fault must end in one line, never
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a traceback: the suite fails


def pytest_terminal_summary(terminalreporter):
    if not OUTPUTS:
        return
    files, tracebacks = captured_tracebacks()
    failed = " — FAILED: a fault ended in a traceback" if tracebacks else ""
    terminalreporter.write_line(f"fault suite: {files} captured outputs in {OUTPUTS[0]}; "
                                f"grep -c Traceback: {tracebacks}{failed}")


@pytest.fixture(scope="session")
def outputs(tmp_path_factory) -> Path:
    if not OUTPUTS:
        OUTPUTS.append(tmp_path_factory.mktemp("fault-outputs"))
    return OUTPUTS[0]


def environment(extra: dict | None = None) -> dict:
    """The test's environment, with ``tests/`` importable (for ``faults.fill``)."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def save(outputs: Path, name: str, done: subprocess.CompletedProcess) -> None:
    """Keep what a process printed, for the suite's Traceback count; the test that provoked a fault
    fails here if the fault ended in a traceback (a fault must end in one line)."""
    command = " ".join(map(str, done.args))
    text = f"$ {command}\n# exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    (outputs / f"{name}.txt").write_text(text)
    assert "Traceback" not in text, f"a fault ended in a traceback: {outputs / f'{name}.txt'}"


@pytest.fixture
def run(request, outputs):
    """``run("mlplab-train", *overrides, cwd=…)``: the entry point as its console script runs it
    (module docstring); ``unprivileged=True`` enters paths as a user who cannot ignore their modes
    (a process of its own). Returns a CompletedProcess."""
    calls = itertools.count()

    def start(*args: str, cwd: Path, unprivileged: bool = False, env: dict | None = None):
        prefix = DROP_DAC if unprivileged and os.geteuid() == 0 else []
        if prefix or env or args[0] not in ENTRY_POINTS:
            command = [*prefix, str(BIN / args[0]), *args[1:]]
            result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                                    env=environment(env))
        else:
            main = importlib.import_module(ENTRY_POINTS[args[0]]).main
            result = run_main_as([args[0]], main, *args[1:], cwd=cwd)
        save(outputs, f"{request.node.name}-{next(calls)}", result)
        return result

    return start


def one_line(result, *needles: str) -> str:
    """The fault's one ``error:`` line (exit status 2, no traceback anywhere), holding every needle."""
    shown = (result.stdout + result.stderr)[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.returncode == 2, shown
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, shown
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib, read_only=False)``: a fresh tmpfs of that size. Where this process may not
    mount one, the test does not run: skipped with the reason, failed under CI=true."""
    mounted: list[Path] = []

    def mount(kib: int, read_only: bool = False) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        options = f"size={kib}k" + (",ro" if read_only else "")
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                  capture_output=True, text=True)
            said = done.stderr.replace(f" {folder}:", "").strip().partition("\n")[0]  # its first line
            why = (said or f"mount exited {done.returncode}") if done.returncode else ""
        except FileNotFoundError:
            why = "no mount command"
        if why:
            unavailable(f"cannot mount a tmpfs here ({why}): run the tests as root, or with mount rights "
                        f"(CAP_SYS_ADMIN)")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def unprivileged_paths():
    """Skip (with the reason; fail in CI) where folder modes cannot bind this test's processes."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        unavailable("root ignores folder modes and setpriv (util-linux) is not installed to drop that power")


def fake_debian(folder: Path, n_train: int = 256, n_test: int = 64) -> Path:
    """Debian's layout (``<name>.gz``) of fake Fashion-MNIST files: what a first run unpacks."""
    raw = write_fake_fashion_mnist(folder / "src", n_train, n_test) / "FashionMNIST" / "raw"
    debian = folder / "debian"
    debian.mkdir()
    for file in raw.iterdir():
        with file.open("rb") as src, gzip.open(debian / f"{file.name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    return debian


@pytest.fixture
def fake_data(tmp_path) -> Path:
    """A data folder holding the fake files, unpacked."""
    return write_fake_fashion_mnist(tmp_path / "data", 256, 64)
