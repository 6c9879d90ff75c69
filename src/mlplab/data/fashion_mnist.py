"""Fashion-MNIST as a LightningDataModule: locate → verify → load once into tensors → serve batches.

The four IDX files are looked for, in order: already unpacked under ``<data_dir>/FashionMNIST/raw``;
Debian's package ``dataset-fashion-mnist`` (re-gzipped copies whose .gz md5 torchvision rejects,
so we decompress them ourselves); torchvision's download. Images stay uint8 in memory and become
floats in [0, 1] one batch at a time: ``x = image / 255`` (then ``(x − mean) / std`` if asked).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import zlib
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from mlplab.data.augment import ShiftFlip
from mlplab.data.batches import GroupedBatches, TensorBatches
from mlplab.data.checks import check
from mlplab.data.idx import IdxError, read_idx
from mlplab.errors import UserError

log = logging.getLogger(__name__)

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
OFFICIAL_COUNTS = {"train": 60000, "test": 10000}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530  # of the 60k training images scaled to [0, 1]
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip


class DataNotFoundError(UserError, FileNotFoundError):
    """None of the three sources of Fashion-MNIST worked."""


class DataDirNotWritable(UserError, PermissionError):
    """The files must be unpacked but ``data_dir`` cannot be written."""


def raw_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "FashionMNIST" / "raw"


def _names() -> list[str]:
    return [name for pair in FILES.values() for name in pair]


def unpack_gzip(src: Path, dst: Path) -> None:
    """Decompress ``src`` to ``dst`` through a temporary file, so an interrupted unpack never
    leaves a half file under the final name."""
    tmp = dst.with_name(dst.name + ".part")
    try:
        with gzip.open(src, "rb") as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout)
    except (OSError, EOFError, zlib.error) as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, PermissionError):
            raise DataDirNotWritable(
                f"cannot write {dst}: {err.strerror}; choose a writable folder with "
                f"data.data_dir=<path>"
            ) from None
        raise IdxError(f"{src}: corrupt gzip ({err}); reinstall the package with "
                       f"`apt-get install --reinstall dataset-fashion-mnist`") from None
    os.replace(tmp, dst)


def ensure_raw_files(data_dir: str | Path, debian_dir: Path = DEBIAN_DIR,
                     download: bool = True) -> Path:
    """Return ``<data_dir>/FashionMNIST/raw`` holding the four IDX files, fetching them if needed."""
    raw = raw_dir(data_dir)
    if all((raw / n).is_file() for n in _names()):
        return raw
    if all((debian_dir / f"{n}.gz").is_file() for n in _names()):
        log.info("unpacking Fashion-MNIST from %s into %s", debian_dir, raw)
        try:
            raw.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise DataDirNotWritable(f"cannot create {raw}; choose a writable folder with "
                                  f"data.data_dir=<path>") from None
        for n in _names():
            if not (raw / n).is_file():
                unpack_gzip(debian_dir / f"{n}.gz", raw / n)
        return raw
    reason = "download=false"
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            for train in (True, False):
                FashionMNIST(root=str(data_dir), train=train, download=True)
            return raw
        except Exception as err:  # any network or mirror failure means "this way did not work"
            reason = f"{type(err).__name__}: {err}"
    raise DataNotFoundError(
        f"Fashion-MNIST not found. Looked for the IDX files {', '.join(_names())}:\n"
        f"  1. under {raw.resolve()} — not there; point to a copy with data.data_dir=<path>\n"
        f"  2. in {debian_dir} — not there; install them with "
        f"`sudo apt-get update && sudo apt-get install dataset-fashion-mnist`\n"
        f"  3. torchvision's download — failed ({reason}); check the network connection"
    )


def load_split(raw: Path, split: str, expected_count: int | None) -> tuple[Tensor, Tensor]:
    """Read and verify one split: uint8 images ``[N, 1, 28, 28]`` and int64 labels in 0..9."""
    image_file, label_file = (raw / n for n in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise IdxError(f"{image_file}: images of shape {tuple(images.shape)}, expected [N, 28, 28]")
    if labels.dim() != 1 or len(labels) != len(images):
        raise IdxError(f"{label_file}: {tuple(labels.shape)} labels for {len(images)} images")
    if expected_count is not None and len(images) != expected_count:
        raise IdxError(f"{image_file}: {len(images)} images, Fashion-MNIST's {split} split has "
                       f"{expected_count}; delete the file and unpack it again")
    if len(labels) and int(labels.max()) > 9:
        raise IdxError(f"{label_file}: label {int(labels.max())} is outside 0..9; "
                       f"delete the file and unpack it again")
    return images.unsqueeze(1), labels.long()


class ScaleImages:
    """uint8 → float: ``x / 255``, and ``(x − mean) / std`` when normalising."""

    def __init__(self, normalize: bool) -> None:
        self.mean, self.std = (MEAN, STD) if normalize else (0.0, 1.0)

    def __call__(self, images: Tensor) -> Tensor:
        x = images.float().div_(255)
        return x.sub_(self.mean).div_(self.std) if self.std != 1.0 else x


class FashionMNISTDataModule(L.LightningDataModule):
    """Fashion-MNIST served from memory, with a seeded validation split held out of training.

    ``val_size=0`` validates on the test set, exactly as d2l's ``train_ch3`` does.
    ``train_subset=N`` keeps only the first N (shuffled) training images.
    ``batches_per_step=k`` hands Lightning k training batches per step (see ``GroupedBatches``);
    ``eval_batch_size`` sizes val/test batches (the averages do not depend on it).
    """

    shape = {"num_inputs": 28 * 28, "num_outputs": len(CLASSES), "task": "classification"}

    def __init__(self, data_dir: str = "data", batch_size: int = 256, val_size: int = 5000,
                 train_subset: int | None = None, normalize: bool = False, seed: int = 42,
                 download: bool = True, debian_dir: str = str(DEBIAN_DIR),
                 drop_last: bool = False, batches_per_step: int = 1,
                 eval_batch_size: int | None = None,
                 check_counts: bool = True, augment: bool = False, augment_shift: int = 2,
                 augment_flip: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters()
        for key, value, low, high in (("batch_size", batch_size, 1, None),
                                      ("eval_batch_size", eval_batch_size or 1, 1, None),
                                      ("batches_per_step", batches_per_step, 1, None),
                                      ("val_size", val_size, 0, OFFICIAL_COUNTS["train"] - 1),
                                      ("train_subset", train_subset, 1, OFFICIAL_COUNTS["train"])):
            if value is not None or key != "train_subset":  # train_subset=null: all of them
                check(key, value, low, high)
        self.validates_on_test = val_size == 0
        self.scale = ScaleImages(normalize)
        self.augment = ShiftFlip(augment_shift, augment_flip, seed) if augment else None
        self.train: tuple[Tensor, Tensor] | None = None
        self.val: tuple[Tensor, Tensor] | None = None
        self.test: tuple[Tensor, Tensor] | None = None

    def prepare_data(self) -> None:
        hp = self.hparams
        ensure_raw_files(hp.data_dir, Path(hp.debian_dir), download=hp.download)

    def setup(self, stage: str | None = None) -> None:
        if self.test is None:  # read once, whatever the stage
            self._load()
        # On a GPU the whole set (55 MB as uint8) lives on the device: batches are sliced there
        # and no host-to-device copy happens per step.
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.train, self.val, self.test = (tuple(t.to(device) for t in split)
                                           for split in (self.train, self.val, self.test))

    def _load(self) -> None:
        hp = self.hparams
        raw = ensure_raw_files(hp.data_dir, Path(hp.debian_dir), download=hp.download)
        counts = OFFICIAL_COUNTS if hp.check_counts else {"train": None, "test": None}
        train_x, train_y = load_split(raw, "train", counts["train"])
        self.test = load_split(raw, "test", counts["test"])
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(hp.seed))
        val_idx, train_idx = order[: hp.val_size], order[hp.val_size :]
        if hp.train_subset:
            train_idx = train_idx[: hp.train_subset]
        self.train = train_x[train_idx], train_y[train_idx]
        self.val = (train_x[val_idx], train_y[val_idx]) if hp.val_size else self.test

    def _batches(self, split: tuple[Tensor, Tensor], training: bool, whole: bool = False) -> TensorBatches:
        # Only training batches are shuffled (and may drop a short last batch): val/test are
        # always complete and in file order. Under DDP each process gets its share of the split
        # (Lightning injects no sampler into an iterable that is not a DataLoader).
        hp = self.hparams
        batch_size = hp.batch_size if training else hp.eval_batch_size or hp.batch_size
        sharded = self.trainer is not None and not whole
        return TensorBatches(*split, batch_size=batch_size, shuffle=training,
                             seed=hp.seed, transform=self.scale, drop_last=training and hp.drop_last,
                             rank=self.trainer.global_rank if sharded else 0,
                             world_size=self.trainer.world_size if sharded else 1,
                             augment=self.augment if training else None)

    def train_dataloader(self) -> TensorBatches | GroupedBatches:
        batches = self._batches(self.train, training=True)
        k = self.hparams.batches_per_step
        return GroupedBatches(batches, k) if k > 1 else batches

    def val_dataloader(self, whole: bool = False) -> TensorBatches:
        """This process's share of the validation set; ``whole=True``: all of it (for pictures)."""
        return self._batches(self.val, training=False, whole=whole)

    def test_dataloader(self) -> TensorBatches:
        return self._batches(self.test, training=False)


def main() -> None:
    """``python -m mlplab.data.fashion_mnist [data_dir]``: unpack or download the files."""
    import sys

    print(ensure_raw_files(sys.argv[1] if len(sys.argv) > 1 else "data"))


if __name__ == "__main__":
    main()
