"""`scripts/need_disk.sh`: `make setup` refuses a new venv in a folder without room for it."""

import subprocess

from helpers import REPO

SCRIPT = REPO / "scripts" / "need_disk.sh"


def need(folder, gib):
    return subprocess.run([SCRIPT, str(folder), str(gib)], capture_output=True, text=True)


def test_enough_room_passes_silently(tmp_path):
    result = need(tmp_path, 0)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_too_little_room_is_one_line_naming_the_folder_and_the_fix(tmp_path):
    result = need(tmp_path, 10**9)  # an exbibyte: no disk has it
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert str(tmp_path) in line and "1000000000 GiB" in line and "free some space" in line


def test_wrong_arguments_print_the_usage():
    result = subprocess.run([SCRIPT], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr
