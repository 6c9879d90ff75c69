"""Which jobs the batched launcher fits together: only those that differ in settings declared
``per_member``; a job whose network, optimizer or trainer flags a stack cannot honour runs alone,
with the reason (``mlplab.batched.plan``)."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from mlplab.batched import calibrate, plan
from mlplab.batched.plan import alone_because, group_key
from mlplab.config.schema import per_member_keys
from mlplab.config.store import config_dir
from mlplab.runtime import precision
from mlplab.runtime.preflight import check_run


@functools.cache
def composed(overrides: tuple[str, ...]) -> DictConfig:
    """The config Hydra composes for ``overrides``, unresolved (each composition costs a fifth of a
    second, and the tests ask for the same few many times)."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("train", overrides=["paths.run_name=plan", *overrides])


def job(tmp_path, *overrides: str):
    """A job's config as the launcher sees it: composed and resolved, its folder its own."""
    cfg = copy.deepcopy(composed(overrides))
    cfg.paths.output_dir = str(tmp_path)  # before resolving: the job's other paths are under it
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
    ("regularizer.label_smoothing=0.1", None),  # each member's own Objective applies it
    ("optimizer.nesterov=true optimizer.momentum=0.9", None),
    ("optimizer.differentiable=true", "optimizer.differentiable=true: not known to act per member"),
    ("optimizer.foreach=false", "optimizer.foreach=false: not known to act per member"),
    # fp16 on a GPU: Lightning's one GradScaler would skip every member's step for one member's inf
    ("trainer.precision=16-mixed trainer.accelerator=cuda",
     "trainer.precision=16-mixed: one gradient scaler for all members"),
    ("trainer.precision=16-mixed trainer.accelerator=cpu", None),  # Lightning runs it as bf16: no scaler
    ("trainer.precision=bf16-mixed", None),  # no scaler
    # a member's callbacks see epoch ends only: a checkpoint saved from batch ends would never be
    ("+callbacks.last_checkpoint.every_n_train_steps=3", "callback last_checkpoint saves within epochs"),
    ("+callbacks.checkpoint.every_n_epochs=2", None),
    # alone, Lightning refuses a ModelCheckpoint with enable_checkpointing=false; so must the job
    ("trainer.enable_checkpointing=false", "callback checkpoint with trainer.enable_checkpointing=false"),
    ("callbacks=none", None),  # sets enable_checkpointing=false, and there is no checkpoint
    ("trainer.devices=2", "more than one device"),  # a member's job alone would start DDP
    ("trainer.strategy=ddp_spawn", "more than one device"),
])
def test_what_a_stack_cannot_honour_runs_alone_with_the_reason(override, reason, tmp_path):
    said = alone_because(job(tmp_path, *override.split()))
    assert said == reason if reason is None else reason in said


def test_a_module_setting_the_stack_is_not_taught_runs_alone_even_when_every_member_shares_it(
        tmp_path, monkeypatch):
    """A setting added to the schema later, standing in: label smoothing, as if the stack had not
    been taught it (not in STACK_APPLIES). Jobs that share its value would otherwise share a group
    and a stack that never applies it."""
    monkeypatch.setattr(plan, "STACK_APPLIES", tuple(k for k in plan.STACK_APPLIES
                                                     if k != "regularizer.label_smoothing"))
    a, b = (job(tmp_path / name, "regularizer.label_smoothing=0.1", f"regularizer.weight_decay={lam}")
            for name, lam in (("a", 0), ("b", 1e-3)))
    assert alone_because(a) == "regularizer.label_smoothing=0.1: not known to act per member in a stack"
    assert group_key(a) is None and group_key(b) is None
    assert alone_because(job(tmp_path / "c")) is None  # at its default it asks the stack for nothing


def test_every_module_group_is_looked_at_the_model_group_itself_included(tmp_path, monkeypatch):
    """``model.compile`` stands in for a later field of ModelSettings beside ``net``: were it no
    reason of its own, it would still make the job run alone as a setting the stack is not taught."""
    cfg = job(tmp_path, "model.compile=true")
    module = check_run(cfg, multirun=True).module
    assert plan.unapplied_settings(module) == ["model.compile=true"]
    assert plan.unapplied_settings(check_run(job(tmp_path / "d"), multirun=True).module) == []


def test_a_job_whose_settings_are_refused_runs_alone_and_its_own_run_says_why(tmp_path):
    """Pre-flight stops such a sweep first; without it (hydra.callbacks.preflight removed) the plan
    must not end the sweep: the job runs alone and records its error."""
    said = alone_because(job(tmp_path, "+optimizer.weight_decay=0"))
    assert said is not None and said.startswith("its settings are refused (optimizer.weight_decay is not a")
    refused = job(tmp_path / "bad", "+optimizer.weight_decay=0")
    groups = plan.plan_groups([refused, *jobs(tmp_path, 2)], "stacked", max_members=100)
    (group,) = set(groups.values())
    assert str(refused.paths.output_dir) not in groups and len(group.cfgs) == len(group.checked) == 2


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
    timing = calibrate.GroupPath("stacked" if faster else "looped")
    monkeypatch.setattr(plan, "fastest_path", lambda cfg, members: timing)  # the timing, stubbed
    groups = plan.plan_groups(jobs(tmp_path, 3), mode, max_members=100)
    (group,) = set(groups.values())
    assert group.engine == engine and len(group.cfgs) == 3
    assert [cfg.trainer.precision for cfg in group.cfgs] == ["32-true"] * 3


def test_separate_groups_nothing_and_max_members_cuts_a_group(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "fastest_path", lambda cfg, members: calibrate.GroupPath("stacked"))
    five = jobs(tmp_path, 5)
    assert plan.plan_groups(five, "separate", max_members=100) == {}
    groups = plan.plan_groups(five, "auto", max_members=2)
    assert sorted(len(g.cfgs) for g in set(groups.values())) == [2, 2]  # the fifth runs alone
    assert str(five[4].paths.output_dir) not in groups


@pytest.fixture
def stubbed_timer(monkeypatch):
    """``calibrate.step_times`` answering from a table {dtype: (stacked s, separate s)}, each
    measurement forgotten before and after (calibrate times once per shape in a process)."""
    table = {}
    monkeypatch.setattr(calibrate, "step_times", lambda *shape_and_dtype: table[shape_and_dtype[-1]])
    calibrate._measure.cache_clear()
    yield table
    calibrate._measure.cache_clear()


@pytest.mark.parametrize(("stacked_s", "separate_s", "pays"), [(1.05, 1.0, True), (1.15, 1.0, False),
                                                              (0.5, 1.0, True)])
def test_stacking_pays_when_its_step_is_under_1_1_times_the_members_steps(stacked_s, separate_s, pays,
                                                                          stubbed_timer, tmp_path):
    stubbed_timer[None] = (stacked_s, separate_s)
    path = calibrate.fastest_path(job(tmp_path), members=3)
    assert path == calibrate.GroupPath("stacked" if pays else "looped")


# seconds per step of 9 members, (stacked, separate): the bf16 steps on an AVX2 EPYC
# (auto's log: 853 ms stacked, 714 ms looped), against fp32 steps of a tenth of that
AVX2 = {torch.bfloat16: (0.853, 0.714), None: (0.060, 0.095)}


@pytest.mark.parametrize(("native", "bf16_steps", "path"), [
    (False, AVX2[torch.bfloat16], calibrate.GroupPath("stacked", "32-true")),  # bf16 slower: fp32
    (False, (0.040, 0.095), calibrate.GroupPath("stacked")),  # bf16 no slower than fp32: kept
    (False, (0.200, 0.055), calibrate.GroupPath("looped")),  # looped bf16 ≤ stacked fp32: kept
    (True, AVX2[torch.bfloat16], calibrate.GroupPath("looped")),  # bf16 instructions: fp32 not timed
])
def test_auto_keeps_bf16_on_a_cpu_without_it_only_where_it_is_no_slower_than_fp32(
        native, bf16_steps, path, stubbed_timer, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    stubbed_timer[torch.bfloat16] = bf16_steps
    if not native:
        stubbed_timer[None] = AVX2[None]
    cfg = job(tmp_path, "trainer=cpu_bf16")
    assert calibrate.fastest_path(cfg, members=9) == path


def test_a_group_that_auto_moved_to_fp32_runs_and_records_fp32(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "fastest_path", lambda cfg, members: calibrate.GroupPath("stacked", "32-true"))
    bf16_jobs = [job(tmp_path / str(n), "trainer=cpu_bf16", f"regularizer.weight_decay={n / 1000}")
                 for n in range(3)]
    (group,) = set(plan.plan_groups(bf16_jobs, "auto", max_members=100).values())
    assert [cfg.trainer.precision for cfg in group.cfgs] == ["32-true"] * 3  # what fit_group builds
    assert group.folders == [str(cfg.paths.output_dir) for cfg in bf16_jobs]
    assert [cfg.trainer.precision for cfg in bf16_jobs] == ["bf16-mixed"] * 3  # the jobs' own: as given


def test_a_job_killed_before_its_result_runs_alone(tmp_path):
    """A job with a last.ckpt but no metrics.json (SIGKILL, the OOM killer, a lost node) runs alone,
    where its own run resumes it (``sweep_jobs.plan``, tests/e2e/test_batched_resume.py); in a group
    it would start over."""
    cfg = job(tmp_path)
    assert group_key(cfg) is not None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"written")
    assert group_key(cfg) is None


@pytest.mark.parametrize("value", ["lots", 2.5, 1, True])
def test_max_members_must_be_a_whole_number_of_at_least_two(value):
    from mlplab.batched.launcher import BatchedLauncher
    from mlplab.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"hydra.launcher.max_members={value}: a group's largest size"):
        BatchedLauncher(max_members=value)
    assert BatchedLauncher(max_members=2).max_members == 2


def test_a_job_another_process_is_running_is_left_out_of_every_group(tmp_path):
    """Two resumes of one sweep at once: a job whose folder the other holds runs alone (it becomes
    busy at its turn), not as a member whose folder the group would then fail to hold."""
    from mlplab.runtime.folder_lock import hold

    cfg = job(tmp_path / "a")
    assert group_key(cfg) is not None
    with hold(cfg.paths.output_dir):  # this process stands in for the other: holder() sees a live pid
        assert group_key(cfg) is None
