"""Reader for the IDX files of (Fashion-)MNIST.

Layout: two zero bytes, a type byte (0x08 = unsigned byte), a byte ``ndim``, then ``ndim``
big-endian uint32 sizes, then ``prod(sizes)`` bytes of data, row-major.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import torch

from mlplab.errors import UserError

UBYTE = 0x08
# Fashion-MNIST's four files (torchvision's names, also the names inside Debian's package)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IdxError(UserError, ValueError):
    """An IDX file that is missing, truncated or not what its header claims."""


def read_idx(path: Path) -> torch.Tensor:
    """Read an uncompressed IDX file of unsigned bytes into a uint8 tensor of the header's shape.

    The header is checked against the file size before the body is read, so a corrupt header
    cannot make us allocate a huge buffer.
    """
    path = Path(path)
    fix = ("delete it and run mlplab-train again (or `python -m mlplab.data.fashion_mnist`) to unpack a "
           "fresh copy")
    if not path.is_file():
        raise IdxError(f"{path}: file is missing; {fix}")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        if len(head) < 4:
            raise IdxError(f"{path}: file is empty or truncated ({size} bytes); {fix}")
        if head[:2] != b"\0\0" or head[2] != UBYTE:
            raise IdxError(f"{path}: wrong magic number {head.hex()} (expected 000008xx); {fix}")
        ndim = head[3]
        dims_raw = f.read(4 * ndim)
        if len(dims_raw) < 4 * ndim:
            raise IdxError(f"{path}: header is truncated ({size} bytes); {fix}")
        dims = struct.unpack(f">{ndim}I", dims_raw)
        expected = 4 + 4 * ndim + math.prod(dims)
        if size != expected:
            raise IdxError(
                f"{path}: header says shape {tuple(dims)} ({expected} bytes) "
                f"but the file has {size} bytes; {fix}"
            )
        body = bytearray(math.prod(dims))  # read straight into the tensor's buffer: one copy
        if f.readinto(body) != len(body):  # the file shrank since its size was checked
            raise IdxError(f"{path}: file is truncated; {fix}")
    return torch.frombuffer(body, dtype=torch.uint8).reshape(dims)
