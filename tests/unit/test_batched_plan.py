"""Which jobs the batched launcher fits together: only those that differ in settings declared
``per_member``; a job whose network, optimizer or trainer flags a stack cannot honour runs alone,
with the reason (``mlplab.batched.plan``)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mlplab.batched import calibrate, plan
from mlplab.batched.plan import alone_because, group_key
from mlplab.config.schema import per_member_keys
from mlplab.config.store import config_dir


def job(tmp_path, *overrides: str):
    """A job's config as the launcher sees it: composed and resolved, its folder its own."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=plan", *overrides])
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


def test_the_per_member_settings_are_the_declared_ones():
    assert per_member_keys() == ("optimizer.lr", "optimizer.momentum", "regularizer.dropout",
                                 "regularizer.weight_decay", "seed")


@pytest.mark.parametrize(("first", "second", "together"), [
    ("regularizer.weight_decay=0", "regularizer.weight_decay=1e-3", True),
    ("regularizer.dropout=0", "regularizer.dropout=0.5", True),
    ("optimizer.lr=0.1", "optimizer.lr=0.5", True),
    ("regularizer.label_smoothing=0", "regularizer.label_smoothing=0.1", False),  # not per member
    ("model.net.hidden=[64]", "model.net.hidden=[32]", False),
    ("activation=relu", "activation=tanh", False),
    ("data.batch_size=256", "data.batch_size=128", False),
])
def test_jobs_share_a_group_only_when_they_differ_in_per_member_settings(first, second, together, tmp_path):
    a, b = job(tmp_path / "a", first), job(tmp_path / "b", second)
    assert group_key(a) is not None and group_key(b) is not None
    assert (group_key(a) == group_key(b)) is together


@pytest.mark.parametrize(("override", "reason"), [
    ("model=concise", None),
    ("trainer.max_epochs=3", None),
    ("trainer.limit_val_batches=2", None),
    ("optimizer=adam", "optimizer torch.optim.Adam: a stack trains with SGD only"),
    ("scheduler=cosine", "a learning-rate schedule"),
    ("model.compile=true", "model.compile=true"),
    ("trainer.gradient_clip_val=0.5", "trainer.gradient_clip_val=0.5: not known to act per member in a"),
    ("trainer.accumulate_grad_batches=2", "trainer.accumulate_grad_batches=2: not known to act per member"),
    ("trainer.max_steps=10", "trainer.max_steps=10: not known to act per member"),
    ("callbacks=[default,lr_monitor]", "callback lr_monitor (lightning.pytorch.callbacks.LearningRate"),
])
def test_what_a_stack_cannot_honour_runs_alone_with_the_reason(override, reason, tmp_path):
    said = alone_because(job(tmp_path, override))
    assert said == reason if reason is None else reason in said


def test_a_network_the_stack_cannot_hold_runs_alone(tmp_path):
    cfg = job(tmp_path)
    cfg.model.net._target_ = "torch.nn.Identity"  # any other nn.Module class
    assert alone_because(cfg) == ("model.net._target_=torch.nn.Identity: a stack holds "
                                  "mlplab.nets.ScratchMLP or mlplab.nets.ConciseMLP only")


def jobs(tmp_path, count: int):
    """``count`` jobs of one group (they differ in λ only), each in its own folder."""
    return [job(tmp_path / str(n), f"regularizer.weight_decay={n / 1000}") for n in range(count)]


@pytest.mark.parametrize(("mode", "faster", "engine"), [
    ("auto", True, "stacked"), ("auto", False, "looped"),
    ("stacked", False, "stacked"), ("looped", True, "looped")])
def test_the_mode_picks_the_engine_auto_by_the_timing(mode, faster, engine, tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "stacking_pays", lambda cfg, members: faster)  # the timing, stubbed
    groups = plan.plan_groups(jobs(tmp_path, 3), mode, max_members=100)
    (group,) = set(groups.values())
    assert group.engine == engine and len(group.cfgs) == 3


def test_separate_groups_nothing_and_max_members_cuts_a_group(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "stacking_pays", lambda cfg, members: True)
    five = jobs(tmp_path, 5)
    assert plan.plan_groups(five, "separate", max_members=100) == {}
    groups = plan.plan_groups(five, "auto", max_members=2)
    assert sorted(len(g.cfgs) for g in set(groups.values())) == [2, 2]  # the fifth runs alone
    assert str(five[4].paths.output_dir) not in groups


@pytest.mark.parametrize(("stacked_s", "separate_s", "pays"), [(1.05, 1.0, True), (1.15, 1.0, False),
                                                              (0.5, 1.0, True)])
def test_stacking_pays_when_its_step_is_under_1_1_times_the_members_steps(stacked_s, separate_s, pays,
                                                                          monkeypatch):
    monkeypatch.setattr(calibrate, "step_times", lambda *args: (stacked_s, separate_s))
    calibrate._measure.cache_clear()  # measured once per shape in a process: forget earlier ones
    assert calibrate._measure(784, (64,), 10, 3, 256, "cpu", None) is pays
    calibrate._measure.cache_clear()
