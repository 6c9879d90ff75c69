"""TensorBatches: seeded per-epoch permutations sliced into batches straight from tensors."""

import pytest
import torch

from mlplab.data.batches import TensorBatches


def make_batches(n=100, **kwargs):
    inputs = torch.arange(n).reshape(n, 1)
    return TensorBatches(inputs, 10 * torch.arange(n), batch_size=kwargs.pop("batch_size", 8), **kwargs)


def firsts(batches):
    return [x[:, 0].tolist() for x, _ in batches]


def test_one_epoch_yields_every_example_once_with_its_target():
    batches = make_batches(shuffle=True, seed=3)
    seen = torch.cat([x[:, 0] for x, _ in batches])
    assert sorted(seen.tolist()) == list(range(100))
    assert seen.tolist() != list(range(100))
    for x, y in batches:
        assert torch.equal(y, 10 * x[:, 0])


def test_order_depends_only_on_seed_and_epoch():
    a, b = make_batches(shuffle=True, seed=3), make_batches(shuffle=True, seed=3)
    assert firsts(a) == firsts(b)
    assert firsts(a) != firsts(make_batches(shuffle=True, seed=4))
    epoch0 = firsts(a)
    a.sampler.set_epoch(1)
    assert firsts(a) != epoch0
    b.sampler.set_epoch(1)
    assert firsts(a) == firsts(b)
    a.sampler.set_epoch(0)
    assert firsts(a) == epoch0


def test_no_shuffle_keeps_the_original_order():
    batches = make_batches(n=10, batch_size=4)
    assert firsts(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("drop_last, sizes", [(False, [3, 3, 3, 1]), (True, [3, 3, 3])])
def test_last_partial_batch(drop_last, sizes):
    batches = make_batches(n=10, batch_size=3, shuffle=True, drop_last=drop_last)
    assert len(batches) == len(sizes)
    assert [len(x) for x, _ in batches] == sizes


def test_transform_applies_to_inputs_only():
    batches = make_batches(n=10, batch_size=5, transform=lambda x: x.float() / 2)
    x, y = next(iter(batches))
    assert x.dtype == torch.float32 and x[:, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert y.tolist() == [0, 10, 20, 30, 40]


def test_inputs_and_targets_must_have_the_same_length():
    with pytest.raises(ValueError, match="10 inputs but 9 targets"):
        TensorBatches(torch.zeros(10, 2), torch.zeros(9), batch_size=4)
