"""Which jobs of a sweep the batched launcher fits together (``plan_groups``), and why a job runs
alone (``alone_because``).

Jobs share a group when they differ only in what a member of a stack can have of its own (the
settings declared ``per_member`` in ``mlplab.config``: λ, dropout p, the seed where the data
do not follow it; and SGD's lr and momentum) and nothing in them needs a model of its own: one of
the chapter's two networks, SGD without a schedule, no ``torch.compile``, module settings the stack
is known to apply (``STACK_APPLIES``: any other away from its default), a single device,
callbacks that act at epoch ends (checkpoints, the dashboard, the progress bar), trainer flags the
group is known to honour per member (``STACK_HONOURS``), no earlier result to skip or resume (a
resumed sweep's unfinished jobs run as usual). ``mode``: how a group's steps run
(``mlplab.batched.module``): ``stacked``, ``looped``, ``auto`` (stacked where a stacked step of the
group's shape is faster on this device, ``mlplab.batched.calibrate``; else looped; and bf16 on a CPU
without bf16 instructions only where it is no slower than fp32 there, else fp32).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mlplab.batched.calibrate import GroupPath, fastest_path
from mlplab.batched.fit import fit_group
from mlplab.config.module_settings import MODULE_GROUPS, ModuleSettings
from mlplab.config.network import NET_PRESETS
from mlplab.config.schema import per_member_keys
from mlplab.config.settings import show, specs
from mlplab.config.trainer import TrainerSettings
from mlplab.errors import ConfigError
from mlplab.files import holder
from mlplab.records import RunRecord
from mlplab.runtime.precision import bf16_on_cpu
from mlplab.runtime.preflight import CheckedRun, check_run
from mlplab.runtime.run import held_job
from mlplab.runtime.sweep_jobs import earlier_result

log = logging.getLogger(__name__)
# settings that name a job's own folder, or the parts of it each member builds for itself
PER_FOLDER = ("paths", "callbacks", "logger", "trainer.default_root_dir")
STACKABLE_NETS = tuple(NET_PRESETS.values())  # the networks batched.net.StackedMLP can hold
# Trainer flags a batched group honours for each member as its own run would (mlplab.batched.members
# hands every member its epochs, validations, checkpoints and logs); a job that sets any other flag
# away from Lightning's default runs alone, the reason logged.
STACK_HONOURS = ("_target_", "accelerator", "devices", "strategy", "num_nodes", "precision", "max_epochs",
                 "min_epochs", "log_every_n_steps", "num_sanity_val_steps", "deterministic", "benchmark",
                 "default_root_dir", "enable_checkpointing", "enable_progress_bar", "enable_model_summary",
                 "check_val_every_n_epoch", "limit_val_batches", "limit_test_batches", "inference_mode",
                 "use_distributed_sampler")
# The settings of the module's groups a stack applies to each member as its own run would:
# StackedMLP builds the members' networks (mlplab.batched.net), MemberSGD makes their SGD steps,
# each member's own Objective gives its loss. A job that sets any other of them away from its
# default runs alone, the reason logged: a setting added to the schema later is never dropped by a
# stack, whether the members differ in it or share it, until the stack is taught it here.
STACK_APPLIES = ("model.net.hidden", "model.net.init_std", "activation.name", "regularizer.weight_decay",
                 "regularizer.dropout", "regularizer.dropout_style", "regularizer.weight_decay_mode",
                 "regularizer.label_smoothing", "optimizer.lr", "optimizer.momentum", "optimizer.nesterov")
# ModelCheckpoint's arguments that save from batch ends, which a member's callbacks never see
STEP_CHECKPOINTS = ("every_n_train_steps", "train_time_interval")
# callbacks that act at epoch ends only, which a member's run can have (mlplab.batched.members)
MEMBER_CALLBACKS = ("mlplab.reporting.dashboard.TensorBoardDashboard",
                    *(f"lightning.pytorch.callbacks.{name}" for name in (
                        "ModelCheckpoint", "RichProgressBar", "TQDMProgressBar", "RichModelSummary",
                        "ModelSummary")))


class JobGroup:
    """Jobs fitted together; the first to run fits all, each gets its own result (or the error).
    ``precision``: the trainer precision the group runs in where ``auto`` replaced the jobs' own
    (``mlplab.batched.calibrate``); each member's record then says the one it ran in."""

    def __init__(self, cfgs: list[DictConfig], checked: list[CheckedRun], engine: str = "stacked",
                 precision: str | None = None) -> None:
        """``checked``: each member's settings as the plan parsed them (``check_run``: the data's and
        the module's, which the precision does not touch)."""
        if precision is not None:
            cfgs = [in_precision(cfg, precision) for cfg in cfgs]
        self.cfgs, self.checked, self.engine = cfgs, checked, engine
        self.folders = [str(cfg.paths.output_dir) for cfg in cfgs]
        self.results: list[RunRecord] | None = None
        self.error: BaseException | None = None

    def run(self, cfg: DictConfig) -> RunRecord:
        """What ``mlplab.runtime.run.train`` is to a job alone, for a member: its folder held, its
        result (the launcher hands this to the job's task function)."""
        return held_job(cfg, lambda: self.result(str(cfg.paths.output_dir)))

    def result(self, folder: str) -> RunRecord:
        """The member's record; the first member to ask fits the group."""
        if self.results is None and self.error is None:
            try:
                self.results = fit_group(self.cfgs, self.checked, [f for f in self.folders if f != folder],
                                         self.engine)
            except Exception as err:  # every member's job records it (mlplab.runtime.record.record_failure)
                self.error = err
        if self.error is not None:
            raise self.error
        return self.results[self.folders.index(folder)]


def in_precision(cfg: DictConfig, precision: str) -> DictConfig:
    """A copy of a job's config whose trainer runs in ``precision``."""
    cfg = copy.deepcopy(cfg)
    cfg.trainer.precision = precision
    return cfg


def without(values: dict[str, Any], dotted: Sequence[str]) -> dict[str, Any]:
    values = copy.deepcopy(values)
    for key in dotted:
        *parents, last = key.split(".")
        node = values
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return values


def group_key(cfg: DictConfig, checked: CheckedRun | None = None) -> str | None:
    """What members of one group share (everything but their own settings and folders), or None
    with the reason logged when this job must run alone. ``checked``: its settings, parsed (else
    parsed here)."""
    reason = alone_because(cfg, checked)
    if reason is None and earlier_result(cfg.paths.output_dir) is not None:
        reason = "it ran before (a resumed sweep)"
    if reason is None and (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file():
        reason = "it was stopped before it wrote a result (killed): it resumes from its last.ckpt"
    if reason is None and holder(cfg.paths.output_dir) is not None:
        reason = "another process is running it"  # it becomes busy at its turn, or runs alone
    if reason:
        log.info("runs alone: %s (%s)", cfg.paths.output_dir, reason)
        return None
    values = OmegaConf.to_container(cfg, resolve=True)
    return json.dumps(without(values, [*per_member_keys(), *PER_FOLDER]), sort_keys=True, default=str)


def alone_because(cfg: DictConfig, checked: CheckedRun | None = None) -> str | None:
    """Why this job cannot be a member of a stack; None when it can. ``checked``: its settings,
    parsed (else parsed here)."""
    optimizer = cfg.get("optimizer") or {}
    if optimizer.get("_target_") != "torch.optim.SGD":
        return f"optimizer {optimizer.get('_target_')}: a stack trains with SGD only"
    if optimizer.get("dampening", 0) or optimizer.get("maximize", False):
        return "SGD with dampening or maximize"
    if cfg.get("scheduler"):
        return "a learning-rate schedule"
    net = cfg.model.net.get("_target_")
    if net not in STACKABLE_NETS:
        return f"model.net._target_={net}: a stack holds {' or '.join(STACKABLE_NETS)} only"
    if cfg.model.get("compile"):
        return "model.compile=true"
    if cfg.get("ckpt_path"):
        return "ckpt_path is set"
    trainer = cfg.trainer
    if trainer.get("devices", 1) not in (1, "1") or str(trainer.get("strategy", "auto")) not in ("auto",):
        return "more than one device"
    # fp16's GradScaler is one for the whole fit: one member's inf gradient would skip every member's step
    if str(trainer.get("precision")) in ("16-mixed", "16") and not bf16_on_cpu(trainer):  # a CPU: bf16
        return f"trainer.precision={trainer.get('precision')}: one gradient scaler for all members"
    for name, callback in (cfg.get("callbacks") or {}).items():
        if callback and callback.get("_target_") not in MEMBER_CALLBACKS:
            return f"callback {name} ({callback.get('_target_')})"
        if callback and any(callback.get(key) for key in STEP_CHECKPOINTS):  # batch ends: not a member's
            return f"callback {name} saves within epochs ({', '.join(STEP_CHECKPOINTS)})"
        if callback and str(callback.get("_target_")).endswith("ModelCheckpoint") \
                and trainer.get("enable_checkpointing") is False:  # alone, the run drops them
            # (runtime.build.switched_off)
            return f"callback {name} with trainer.enable_checkpointing=false"
    try:
        module = (checked or check_run(cfg, multirun=True)).module
    except ConfigError as err:  # pre-flight stops these first; without it, the job's run says why
        return f"its settings are refused ({err})"
    unapplied = unapplied_settings(module) + unhonoured_flags(cfg)
    return f"{', '.join(unapplied)}: not known to act per member in a stack" if unapplied else None


def unapplied_settings(module: ModuleSettings) -> list[str]:
    """The settings of a job's module groups (as its run parses them: every group, and the parts of
    one such as ``model.net``) that are away from their defaults and not in ``STACK_APPLIES``
    (``key=value``)."""
    found = []
    for group in MODULE_GROUPS:
        top = getattr(module, group)
        for settings in ([top, *top.parts().values()] if top is not None else []):
            for spec in specs(type(settings)):
                value = getattr(settings, spec.name)
                key = settings.key(spec.name)
                if (spec.name not in settings.parts() and key not in STACK_APPLIES
                        and as_lists(value) != as_lists(spec.default)):
                    found.append(f"{key}={show(value)}")
    return found


def as_lists(value: Any) -> Any:
    """A tuple as a list (a default ``(256,)`` equals a composed ``[256]``)."""
    return list(value) if isinstance(value, tuple) else value


def unhonoured_flags(cfg: DictConfig) -> list[str]:
    """The trainer flags of this job that a batched group is not known to honour for each member as
    its own run would (``key=value``): every flag set away from Lightning's default that is not in
    ``STACK_HONOURS``."""
    defaults = {spec.name: spec.default for spec in specs(TrainerSettings)}
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    return [f"trainer.{key}={show(value)}" for key, value in trainer.items()
            if key not in STACK_HONOURS and key in defaults and value != defaults[key]]


def plan_groups(jobs: list[DictConfig], mode: str, max_members: int) -> dict[str, JobGroup]:
    """The groups of ``jobs`` (resolved configs), by run folder; jobs not in a group are absent."""
    if mode == "separate":
        return {}
    by_key: dict[str, list[tuple[DictConfig, CheckedRun]]] = defaultdict(list)
    for cfg in jobs:
        try:  # each job's settings parsed once here, for its group's fit too
            checked = check_run(cfg, multirun=True)
        except ConfigError:
            group_key(cfg)  # logs why it runs alone; its own run records the error
            continue
        if (key := group_key(cfg, checked)) is not None:
            by_key[key].append((cfg, checked))
    groups: dict[str, JobGroup] = {}
    for members in by_key.values():
        for start in range(0, len(members), max_members):
            chunk = members[start : start + max_members]
            if len(chunk) < 2:  # say so, as for the reasons above (seed=1,2 with data.seed=${seed})
                log.info("runs alone: %s (no other job differs from it in per-member settings only: %s)",
                         chunk[0][0].paths.output_dir, ", ".join(per_member_keys()))
                continue
            cfgs, checked_runs = [cfg for cfg, _ in chunk], [checked for _, checked in chunk]
            path = fastest_path(cfgs[0], len(cfgs)) if mode == "auto" else GroupPath(mode)
            group = JobGroup(cfgs, checked_runs, path.engine, path.precision)
            groups.update(dict.fromkeys(group.folders, group))
    return groups
