"""A data folder the run cannot use: a file, a path that cannot be made, a folder it may not read
or write, a disk that fills while the files are unpacked."""

from __future__ import annotations

import gzip

import pytest
from conftest import TINY, fake_debian, one_line

from mlplab.data.idx import FILES

NAMES = [name for pair in FILES.values() for name in pair]


def test_a_file_given_as_the_data_folder(tmp_path, run):
    data = tmp_path / "notes.txt"
    data.write_text("mine")
    result = run("mlplab-train", f"data.data_dir={data}", *TINY, f"hydra.run.dir={tmp_path / 'run'}",
                 cwd=tmp_path)
    one_line(result, f"data.data_dir={data} is a file, not a folder", "data.data_dir=<path>")
    assert data.read_text() == "mine"


@pytest.mark.parametrize("where", ["under_a_file", "read_only_disk"])
def test_a_data_folder_that_cannot_be_created(where, tmp_path, run, small_disk):
    if where == "under_a_file":
        (tmp_path / "a_file").write_text("")
        data = tmp_path / "a_file" / "data"
    else:
        data = small_disk(64, read_only=True) / "data"  # the fixture fails (CI) or skips without tmpfs
    result = run("mlplab-train", f"data.data_dir={data}", f"data.debian_dir={fake_debian(tmp_path)}",
                 *TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    reason = "Not a directory" if where == "under_a_file" else "Read-only file system"
    one_line(result, f"data.data_dir={data}: cannot create", reason, "data.data_dir=<path>")


@pytest.mark.parametrize("locked", ["folder", "file"])
def test_a_data_folder_this_user_may_not_read(locked, tmp_path, run, fake_data, unprivileged_paths):
    raw = fake_data / "FashionMNIST" / "raw"
    target = raw if locked == "folder" else raw / FILES["train"][0]
    target.chmod(0)
    try:
        result = run("mlplab-train", f"data.data_dir={fake_data}", *TINY,
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, unprivileged=True)
    finally:
        target.chmod(0o755)
    one_line(result, "Permission denied", str(target) if locked == "file" else f"data.data_dir={fake_data}")


def test_a_data_folder_this_user_may_not_write(tmp_path, run, unprivileged_paths):
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    data.chmod(0o500)
    result = run("mlplab-train", f"data.data_dir={data}", f"data.debian_dir={fake_debian(tmp_path)}",
                 *TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, unprivileged=True)
    one_line(result, "cannot create", "Permission denied", "data.data_dir=<path>")
    assert list(data.iterdir()) == []


def test_the_disk_fills_while_the_files_are_unpacked(tmp_path, run, small_disk):
    """The training files (64 images) fit on the disk, the test images (256 × 784 bytes) do not:
    the first stay whole, and no half file is left under a final name."""
    debian = fake_debian(tmp_path, n_train=64, n_test=256)
    data = small_disk(96) / "data"
    result = run("mlplab-train", f"data.data_dir={data}", f"data.debian_dir={debian}", *TINY,
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    one_line(result, f"cannot write {data / 'FashionMNIST' / 'raw' / NAMES[2]}", "No space left on device",
             "free space", "data.data_dir=<path>")
    raw = data / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(NAMES[:2])  # no .part, no half file
    for name in NAMES[:2]:
        assert (raw / name).read_bytes() == gzip.decompress((debian / f"{name}.gz").read_bytes())
