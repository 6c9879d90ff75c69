"""read_idx: round trip, and a clear IdxError naming the file for every kind of bad file."""

import json
import re
import struct
import subprocess
import sys

import pytest
import torch

from mlplab.data.idx import IdxError, read_idx


def idx_header(dims, magic=b"\x00\x00\x08"):
    return magic + struct.pack(f">B{len(dims)}I", len(dims), *dims)


def write_idx(path, data):
    path.write_bytes(idx_header(data.shape) + data.numpy().tobytes())
    return path


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_round_trip(tmp_path, shape):
    torch.manual_seed(0)
    data = torch.randint(0, 256, shape, dtype=torch.uint8)
    out = read_idx(write_idx(tmp_path / "x-idx-ubyte", data))
    assert out.dtype == torch.uint8 and out.shape == shape
    assert torch.equal(out, data)


BAD_FILES = {
    "empty": (b"", "empty or truncated"),
    "short magic": (b"\x00\x00", "empty or truncated"),
    "truncated header": (idx_header((2, 3))[:9], "header is truncated"),
    "wrong magic": (idx_header((4,), magic=b"\x1f\x8b\x08") + bytes(4), "wrong magic number"),
    "not unsigned bytes": (idx_header((4,), magic=b"\x00\x00\x0d") + bytes(16), "wrong magic number"),
    "body too short": (idx_header((2, 3)) + bytes(5), r"shape \(2, 3\)"),
    "body too long": (idx_header((2, 3)) + bytes(7), r"shape \(2, 3\)"),
    "10^9 images": (idx_header((10**9, 28, 28)) + bytes(28 * 28), r"shape \(1000000000, 28, 28\)"),
}


# Peak traced memory of read_idx on each bad file, measured in a fresh interpreter: tracemalloc
# counts every thread's allocations, and threads left by earlier tests (TensorBoard writers,
# loader workers) would be charged to the reader.
MEASURE = """
import json, sys, tracemalloc
from mlplab.data.idx import IdxError, read_idx
out = {}
for path in sys.argv[1:]:
    tracemalloc.start()
    try:
        read_idx(path)
        message = None
    except IdxError as err:
        message = str(err)
    out[path] = [tracemalloc.get_traced_memory()[1], message]
    tracemalloc.stop()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bad_file_reads(tmp_path_factory):
    """{case: (peak bytes, message or None)} for every BAD_FILES case, in one interpreter."""
    folder = tmp_path_factory.mktemp("bad-idx")
    paths = {}
    for case, (content, _) in BAD_FILES.items():
        paths[case] = folder / f"{case.replace(' ', '-')}-idx-ubyte"
        paths[case].write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *map(str, paths.values())],
        capture_output=True, text=True, check=True,
    )
    measured = json.loads(done.stdout)
    return {case: (path, *measured[str(path)]) for case, path in paths.items()}


@pytest.mark.slow  # seconds: a process of its own or real runs
@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_rejected_naming_it_before_anything_is_allocated(bad_file_reads, case):
    path, peak, message = bad_file_reads[case]
    assert message is not None, f"{case}: read_idx accepted the file"
    assert re.search(BAD_FILES[case][1], message)
    assert str(path) in message
    assert peak < 1 << 20  # checked against the file size: a 10⁹-image header allocates nothing


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nowhere-idx-ubyte"
    with pytest.raises(IdxError, match="missing") as err:
        read_idx(path)
    assert str(path) in str(err.value)
