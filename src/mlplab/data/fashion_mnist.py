"""Fashion-MNIST as a LightningDataModule: locate → verify → load once into tensors → serve batches.

The four IDX files are looked for, in order: already unpacked under ``<data_dir>/FashionMNIST/raw``;
Debian's package ``dataset-fashion-mnist`` (re-gzipped copies whose .gz md5 torchvision rejects,
so we decompress them ourselves); torchvision's download. Images stay uint8 in memory and become
floats in [0, 1] one batch at a time: ``x = image / 255`` (then ``(x − mean) / std`` if asked).
"""

from __future__ import annotations

import argparse
import errno
import gzip
import logging
import shlex
import shutil
import zlib
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from mlplab.config.datasets import FASHION_MNIST_IMAGES, FashionMNISTSettings
from mlplab.data.augment import ShiftFlip
from mlplab.data.batches import MovesMinibatches, minibatch_loader, trainer_share
from mlplab.data.idx import FILES, IdxError, read_idx
from mlplab.errors import UserError
from mlplab.files import atomic_path

log = logging.getLogger(__name__)

MEAN, STD = 0.2860, 0.3530  # of the 60k training images scaled to [0, 1]
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip


class DataNotFoundError(UserError, FileNotFoundError):
    """None of the three sources of Fashion-MNIST worked."""


class DataDirNotWritable(UserError, OSError):
    """The files must be unpacked but ``data_dir`` cannot be written."""


class DataDirUnreadable(UserError, OSError):
    """``data_dir`` is a file, or a folder this user may not read."""


def raw_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "FashionMNIST" / "raw"


def _names() -> list[str]:
    return [name for pair in FILES.values() for name in pair]


def unpack_gzip(src: Path, dst: Path) -> None:
    """Decompress ``src`` to ``dst`` atomically (``mlplab.files``): an interrupted unpack never
    leaves a half file under the final name."""
    try:
        with atomic_path(dst) as tmp, gzip.open(src, "rb") as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise IdxError(f"{src}: corrupt gzip ({err}); reinstall the package with "
                       f"`apt-get install --reinstall dataset-fashion-mnist`") from None
    except OSError as err:  # read-only, no permission, the disk full (the temporary is gone)
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        raise DataDirNotWritable(f"cannot write {dst}: {err.strerror or err}; "
                                 + ("free space on that disk (the four files take 55 MB) or choose "
                                    "another folder" if full else "choose a writable folder")
                                 + " with data.data_dir=<path>") from None


def unpacked(data_dir: str | Path) -> bool:
    """Whether ``<data_dir>/FashionMNIST/raw`` holds the four files; a ``data_dir`` that is a file
    or may not be read is the user's to fix, said in one line."""
    raw = raw_dir(data_dir)
    try:
        if Path(data_dir).exists() and not Path(data_dir).is_dir():
            raise DataDirUnreadable(f"data.data_dir={data_dir} is a file, not a folder; give a folder "
                                    f"with data.data_dir=<path> (it is made if missing)")
        return all((raw / n).is_file() for n in _names())
    except PermissionError as err:  # a folder on the way this user may not search
        raise DataDirUnreadable(f"data.data_dir={data_dir}: cannot read {err.filename or raw} "
                                f"({err.strerror}); give this user access (chmod -R a+rX {data_dir}) "
                                f"or point data.data_dir=<path> at a readable copy") from None


def ensure_raw_files(data_dir: str | Path, debian_dir: Path | None = None,
                     download: bool = True) -> Path:
    """Return ``<data_dir>/FashionMNIST/raw`` holding the four IDX files, fetching them if needed
    (``debian_dir``: where Debian's package is, by default the ``data.debian_dir`` setting's)."""
    raw = raw_dir(data_dir)
    if unpacked(data_dir):
        return raw
    debian_dir = Path(debian_dir or FashionMNISTSettings().debian_dir)
    if all((debian_dir / f"{n}.gz").is_file() for n in _names()):
        log.info("unpacking Fashion-MNIST from %s into %s", debian_dir, raw)
        try:
            raw.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # read-only, a file in the way, no permission, …
            raise DataDirNotWritable(f"data.data_dir={data_dir}: cannot create {raw} "
                                     f"({err.strerror or err}); choose a writable folder with "
                                     f"data.data_dir=<path>") from None
        for n in _names():
            if not (raw / n).is_file():
                unpack_gzip(debian_dir / f"{n}.gz", raw / n)
        return raw
    reason = ""  # why torchvision's download failed, when it was tried
    if download:
        try:  # torchvision is imported only for this last resort (the first two ways need none of it)
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
        + (f"  3. torchvision's download — failed ({reason}); check the network connection"
           if download else "  3. torchvision's download — not tried (data.download=false); allow it with "
                            "data.download=true")
    )


def load_split(raw: Path, split: str, expected_count: int | None) -> tuple[Tensor, Tensor]:
    """Read and verify one split: uint8 images ``[N, 1, 28, 28]`` and int64 labels in 0..9."""
    image_file, label_file = (raw / n for n in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dim() == 1 and labels.dim() == 3:  # the header's magic number: 0x0800 + dimensions
        swap = " && ".join(f"mv {shlex.quote(str(a))} {shlex.quote(str(b))}" for a, b in
                           ((image_file, f"{image_file}.swap"), (label_file, image_file),
                            (f"{image_file}.swap", label_file)))
        raise IdxError(f"{image_file} holds labels (magic number 2049) and {label_file} holds images "
                       f"(2051): the two files are swapped; swap them back with `{swap}`")
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise IdxError(f"{image_file}: magic number {0x800 + images.dim()} (shape {tuple(images.shape)}), "
                       f"expected images (2051, shape [N, 28, 28]); delete it and run mlplab-train again "
                       f"(or `python -m mlplab.data.fashion_mnist`) to unpack a fresh copy")
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

    @property
    def black(self) -> float:
        """What a black pixel (0) becomes: the background an augmentation's shift uncovers."""
        return float(self(torch.zeros(1, dtype=torch.uint8))[0])  # in float32, as the images are

    def __call__(self, images: Tensor) -> Tensor:
        x = images.float().div_(255)
        return x.sub_(self.mean).div_(self.std) if self.std != 1.0 else x


class FashionMNISTDataModule(MovesMinibatches, L.LightningDataModule):
    """Fashion-MNIST served from memory, with a seeded validation split held out of training.

    Its settings are ``FashionMNISTSettings`` (``mlplab.config.datasets``): ``val_size=0`` validates
    on the test set, exactly as d2l's ``train_ch3`` does; ``train_subset=N`` keeps only the first
    N (shuffled) training images; ``eval_batch_size`` sizes val/test batches (the averages do not
    depend on it).
    """

    shape = {"num_inputs": 28 * 28, "num_outputs": len(CLASSES), "task": FashionMNISTSettings.task}

    def __init__(self, settings: FashionMNISTSettings | None = None, **values: Any) -> None:
        """``settings`` already parsed (``mlplab.runtime.preflight.check_run``), or ``values``."""
        super().__init__()
        self.settings = settings or FashionMNISTSettings.parse(values)
        self.save_hyperparameters(self.settings.as_dict())
        self.validates_on_test = self.settings.validates_on_test
        self.scale = ScaleImages(self.settings.normalize)
        self.augment = (ShiftFlip(self.settings.augment_shift, self.settings.augment_flip, self.settings.seed,
                                  background=self.scale.black) if self.settings.augment else None)
        self.train: tuple[Tensor, Tensor] | None = None
        self.val: tuple[Tensor, Tensor] | None = None
        self.test: tuple[Tensor, Tensor] | None = None

    def prepare_data(self) -> None:
        s = self.settings
        ensure_raw_files(s.data_dir, Path(s.debian_dir), download=s.download)

    def setup(self, stage: str | None = None) -> None:
        if self.test is None:  # read once, whatever the stage
            self._load()
        # On a GPU the whole set (55 MB as uint8) lives on the device: batches are gathered there
        # and no host-to-device copy happens per step.
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.train, self.val, self.test = (tuple(t.to(device) for t in split)
                                           for split in (self.train, self.val, self.test))

    def _load(self) -> None:
        s = self.settings
        raw = ensure_raw_files(s.data_dir, Path(s.debian_dir), download=s.download)
        counts = FASHION_MNIST_IMAGES if s.check_counts else {"train": None, "test": None}
        train_x, train_y = load_split(raw, "train", counts["train"])
        self.test = load_split(raw, "test", counts["test"])
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(s.seed))
        val_idx, train_idx = order[: s.val_size], order[s.val_size :]
        if s.train_subset:
            train_idx = train_idx[: s.train_subset]
        self.train = train_x[train_idx], train_y[train_idx]
        self.val = (train_x[val_idx], train_y[val_idx]) if s.val_size else self.test

    def _loader(self, split: tuple[Tensor, Tensor], training: bool, whole: bool = False) -> DataLoader:
        # Only training batches are shuffled (and may drop a short last batch): val/test are
        # always complete and in file order.
        s = self.settings
        batch_size = s.batch_size if training else s.eval_batch_size or s.batch_size
        return minibatch_loader(*split, batch_size=batch_size, seed=s.seed, transform=self.scale,
                                drop_last=training and s.drop_last,
                                augment=self.augment if training else None,
                                **trainer_share(self.trainer, training, whole))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, training=True)

    def val_dataloader(self, whole: bool = False) -> DataLoader:
        """This process's share of the validation set; ``whole=True``: all of it (for pictures)."""
        return self._loader(self.val, training=False, whole=whole)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, training=False)

    def predict_dataloader(self) -> DataLoader:
        """``trainer.predict`` over the test images, in file order."""
        return self._loader(self.test, training=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m mlplab.data.fashion_mnist [data_dir]``: unpack or download the files (by default
    where a run looks: ``data.data_dir``'s default, $MLPLAB_DATA_DIR or ./data)."""
    parser = argparse.ArgumentParser(prog="python -m mlplab.data.fashion_mnist",
                                     description="Unpack (Debian's package) or download Fashion-MNIST's "
                                                 "four IDX files into <data_dir>/FashionMNIST/raw.")
    parser.add_argument("data_dir", nargs="?", default=FashionMNISTSettings().data_dir,
                        help="where a run looks: data.data_dir (default: $MLPLAB_DATA_DIR, else ./data)")
    print(ensure_raw_files(parser.parse_args(argv).data_dir))


if __name__ == "__main__":
    main()
