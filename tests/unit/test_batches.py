"""minibatch_loader: a DataLoader of seeded per-epoch permutations sliced into batches straight
from tensors (EpochBatches picks the rows, MinibatchSet gathers them)."""

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from mlplab.data.batches import MinibatchSet, minibatch_loader


def make_batches(n=100, **kwargs):
    inputs = torch.arange(n).reshape(n, 1)
    return minibatch_loader(inputs, 10 * torch.arange(n), batch_size=kwargs.pop("batch_size", 8), **kwargs)


def test_it_is_a_dataloader_whose_sampler_lightning_keeps_under_ddp():
    loader = make_batches(shuffle=True)
    assert isinstance(loader, DataLoader) and isinstance(loader.sampler, DistributedSampler)
    assert len(loader.dataset) == 100  # user code that expects .dataset finds the examples


def test_creating_an_iterator_leaves_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for _ in make_batches(shuffle=True):
        pass
    assert torch.equal(torch.rand(3), expected)  # the dropout masks of the next epoch depend on it


def test_one_item_per_minibatch_the_short_last_one_kept():
    loader = make_batches(n=50, batch_size=4, shuffle=True, seed=1)
    items = list(loader)
    assert len(loader) == len(items) == loader.sampler.minibatches() == 13
    assert [len(x) for x, _ in items] == [4] * 12 + [2]


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
        MinibatchSet(torch.zeros(10, 2), torch.zeros(9))


@pytest.mark.parametrize(("n", "world", "batch"), [(100, 2, 8), (101, 2, 8), (103, 4, 5), (7, 3, 2)])
def test_ddp_training_shares_are_disjoint_equal_and_interleave_one_permutation(n, world, batch):
    x, y = torch.arange(n).float().unsqueeze(1), torch.arange(n)
    shares = [minibatch_loader(x, y, batch_size=batch, shuffle=True, seed=3, rank=r, world_size=world)
              for r in range(world)]
    for share in shares:
        share.sampler.set_epoch(2)
    seen = [[int(i) for _, b in share for i in b] for share in shares]
    assert len({len(s) for s in seen}) == 1 and len({len(share) for share in shares}) == 1  # same steps
    flat = [i for s in seen for i in s]
    assert len(flat) == len(set(flat)) == n - n % world  # disjoint; ≤ world − 1 left over
    whole = minibatch_loader(x, y, batch_size=batch * world, shuffle=True, seed=3)
    whole.sampler.set_epoch(2)
    for step, (_, together) in enumerate(whole):  # update k of all ranks = batch k of one process
        if len(together) == batch * world:
            assert sorted(i for s in seen for i in s[step * batch : (step + 1) * batch]) == \
                sorted(together.tolist())


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (10, 3), (2, 3)])
def test_ddp_eval_shares_are_contiguous_and_cover_the_split_once(n, world):
    x, y = torch.arange(n).float().unsqueeze(1), torch.arange(n)
    seen = [[int(i) for _, b in minibatch_loader(x, y, batch_size=2, rank=r, world_size=world) for i in b]
            for r in range(world)]
    assert [i for s in seen for i in s] == list(range(n))


def test_rank_must_be_one_of_the_processes():
    with pytest.raises(ValueError, match="rank 2 is not one of the 2 processes"):
        minibatch_loader(torch.zeros(4, 1), torch.zeros(4), batch_size=2, rank=2, world_size=2)
