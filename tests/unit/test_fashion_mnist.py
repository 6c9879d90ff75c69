"""Fashion-MNIST: locating the files, the seeded split, the batches; then the real files."""

import gzip
import os
from pathlib import Path

import pytest
import torch
from helpers import write_fake_fashion_mnist

from mlplab.data.fashion_mnist import (
    FILES,
    MEAN,
    STD,
    DataNotFoundError,
    FashionMNISTDataModule,
    ensure_raw_files,
    load_split,
)
from mlplab.data.idx import IdxError

N_TRAIN, N_TEST = 60, 20


@pytest.fixture
def data_dir(tmp_path):
    return write_fake_fashion_mnist(tmp_path, N_TRAIN, N_TEST)


def datamodule(data_dir, **kwargs):
    kwargs = {"val_size": 15, "batch_size": 8, "seed": 0, "eval_batch_size": None,
              **kwargs}
    dm = FashionMNISTDataModule(data_dir=str(data_dir), check_counts=False, download=False, **kwargs)
    dm.setup("fit")
    return dm


def ids(split):
    return set(split[0][:, 0, 0, 0].tolist())


def test_split_sizes_disjoint_and_covering(data_dir):
    dm = datamodule(data_dir)
    assert [len(s[0]) for s in (dm.train, dm.val, dm.test)] == [N_TRAIN - 15, 15, N_TEST]
    assert not ids(dm.train) & ids(dm.val)
    assert ids(dm.train) | ids(dm.val) == set(range(N_TRAIN))


def test_split_follows_the_seed(data_dir):
    split = ids(datamodule(data_dir, seed=1).val)
    assert ids(datamodule(data_dir, seed=1).val) == split
    assert ids(datamodule(data_dir, seed=2).val) != split


def test_train_subset_keeps_n_training_images(data_dir):
    dm, full = datamodule(data_dir, train_subset=10), datamodule(data_dir)
    assert len(dm.train[0]) == len(dm.train[1]) == 10
    assert ids(dm.train) < ids(full.train)
    assert ids(dm.val) == ids(full.val)


def test_val_size_zero_validates_on_test(data_dir):
    dm = datamodule(data_dir, val_size=0)
    assert len(dm.train[0]) == N_TRAIN
    assert torch.equal(dm.val[0], dm.test[0]) and torch.equal(dm.val[1], dm.test[1])


@pytest.mark.parametrize("normalize", [False, True])
def test_batches_are_scaled_floats_with_int64_labels(data_dir, normalize):
    dm = datamodule(data_dir, normalize=normalize)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, dm.val[1][:8])
    expected = dm.val[0][:8].float() / 255
    if normalize:
        expected = (expected - MEAN) / STD
    else:
        assert x.min() >= 0 and x.max() <= 1
    torch.testing.assert_close(x, expected)
    assert sum(len(y) for _, y in dm.train_dataloader()) == N_TRAIN - 15


def fake_files(tmp_path):
    """{file name: IDX bytes} of a fake data set, as Debian's package would hold them."""
    raw = write_fake_fashion_mnist(tmp_path / "fake", N_TRAIN, N_TEST) / "FashionMNIST" / "raw"
    return {p.name: p.read_bytes() for p in raw.iterdir()}


def write_debian_dir(deb, files):
    deb.mkdir()
    for name, content in files.items():
        (deb / f"{name}.gz").write_bytes(gzip.compress(content))


def test_unpacks_debian_gz_files(tmp_path):
    files = fake_files(tmp_path)
    write_debian_dir(tmp_path / "deb", files)
    raw = ensure_raw_files(tmp_path / "data", debian_dir=tmp_path / "deb", download=False)
    assert raw == tmp_path / "data" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(files)
    assert all((raw / name).read_bytes() == content for name, content in files.items())


def test_corrupt_gz_leaves_no_part_file(tmp_path):
    files = fake_files(tmp_path)
    write_debian_dir(tmp_path / "deb", files)
    (tmp_path / "deb" / f"{FILES['train'][0]}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(IdxError, match="corrupt gzip"):
        ensure_raw_files(tmp_path / "data", debian_dir=tmp_path / "deb", download=False)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert not list(raw.glob("*.part")) and not (raw / FILES["train"][0]).exists()


def test_nothing_anywhere_names_all_three_ways(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        ensure_raw_files(tmp_path / "data", debian_dir=tmp_path / "deb", download=False)
    message = str(err.value)
    for way in ("data.data_dir=", "apt-get install dataset-fashion-mnist", "torchvision's download"):
        assert way in message
    # the third way was switched off, so its fix is to switch it on, not the network
    assert "not tried (data.download=false); allow it with data.download=true" in message
    assert "network" not in message


@pytest.fixture(scope="module")
def real_raw():
    repo = Path(__file__).resolve().parents[1]
    return ensure_raw_files(os.environ.get("MLPLAB_DATA_DIR", repo / "data"))


@pytest.mark.dataset
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_files_have_the_official_counts(real_raw, split, n):
    images, labels = load_split(real_raw, split, expected_count=None)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [n // 10] * 10
    if split == "train":  # the normalisation constants are those of the training images
        x = images.float() / 255
        assert x.mean().item() == pytest.approx(MEAN, abs=5e-4)
        assert x.std().item() == pytest.approx(STD, abs=5e-4)


@pytest.mark.dataset
def test_real_default_split(real_raw):
    dm = FashionMNISTDataModule(data_dir=str(real_raw.parents[1]), download=False)
    dm.setup("fit")
    assert [len(s[1]) for s in (dm.train, dm.val, dm.test)] == [55000, 5000, 10000]


@pytest.mark.dataset
def test_the_data_command_without_a_folder_prepares_the_one_a_run_reads(real_raw, monkeypatch, capsys):
    """``python -m mlplab.data.fashion_mnist``: data.data_dir's default ($MLPLAB_DATA_DIR here, as
    the test session sets it), not ./data of wherever it is typed."""
    from mlplab.data.fashion_mnist import main

    monkeypatch.setattr("sys.argv", ["fashion_mnist"])
    main()
    assert Path(capsys.readouterr().out.strip()) == Path(real_raw)


def test_the_unpack_command_reads_its_arguments(tmp_path, monkeypatch, capsys):
    """``python -m mlplab.data.fashion_mnist --help`` prints its usage; it took any first word for
    the folder (and unpacked 53 MB into ``./--help``). An option it does not know is refused."""
    from mlplab.data.fashion_mnist import main

    monkeypatch.chdir(tmp_path)
    for argv, code in ((["--help"], 0), (["--force"], 2)):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == code
    assert "usage: python -m mlplab.data.fashion_mnist [-h] [data_dir]" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
