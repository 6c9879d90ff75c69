"""Every setting of mlplab, declared once: name, type, default, allowed values, help, example.

Each config group has a dataclass here; the YAML files under ``conf/`` are presets over them and
name only what they change. Hydra composes against these classes (``mlplab.config.store``), so a
value of the wrong type is refused while the command line is merged; building a settings object
(``Settings.parse``) checks the rest. The LightningModule and the DataModules take these objects,
so the code that uses a setting reads it from the same declaration.

Groups with one shape (model, activation, regularizer) are typed in ``TrainConfig``; groups whose
options have different settings pick their class by ``_target_``: the data sets (``DATA``), and
the optimizer and the scheduler, whose settings are the named torch class's own arguments
(``torch_settings``; the presets' classes: ``TORCH_PRESETS``). The trainer's settings are
Lightning's (``mlplab.config.trainer``).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from omegaconf import MISSING
from torch.optim.lr_scheduler import LRScheduler

from mlplab.config.location import config_dir
from mlplab.config.settings import (
    AT_LEAST_ONE,
    MOVED,
    NON_NEGATIVE,
    PROBABILITY,
    Range,
    Settings,
    info,
    plain,
    setting,
    show,
    specs,
)
from mlplab.config.signature import class_settings, locate, signature_settings
from mlplab.config.trainer import TrainerSettings
from mlplab.errors import ConfigError
from mlplab.nets.activations import ACTIVATIONS


def _activations() -> tuple[str, ...]:
    """The activations ``mlplab.nets`` knows."""
    return tuple(ACTIVATIONS)


# ---- what the network is ---------------------------------------------------------------------
# The network is any ``torch.nn.Module`` class, named by ``model.net._target_`` as in
# lightning-hydra-template; its settings are the class's own constructor arguments (read from its
# signature, as the optimizer's are), but those mlplab gives it: the data's shape, and the
# activation and dropout groups where the class takes them (``NET_BUILT_BY_MLPLAB``).

# What the other groups give a network whose class takes the argument: argument → (group, setting).
GIVEN_TO_NET = {"activation": ("activation", "name"), "dropout": ("regularizer", "dropout"),
                "dropout_style": ("regularizer", "dropout_style")}
LAYER_ARGUMENTS = tuple(GIVEN_TO_NET)  # each acts on hidden layers only: with hidden=[] it does nothing
NET_BUILT_BY_MLPLAB = ("num_inputs", "num_outputs", *GIVEN_TO_NET)  # the data's shape, and those
NET_PRESETS = {"scratch": "mlplab.nets.ScratchMLP", "concise": "mlplab.nets.ConciseMLP"}
EXAMPLE_NET = NET_PRESETS["concise"]


def net_settings(values: dict[str, Any] | Settings | None) -> Settings:
    """The settings of ``model.net``: its class checked to be an importable ``nn.Module``, its
    arguments against the class's signature (``ScratchMLP`` when no class is named, as in
    ``MLPModule(model={"net": {"hidden": [64]}})``; ``model=any`` must name one)."""
    if isinstance(values, Settings):
        return values
    values = {"_target_": NET_PRESETS["scratch"], **dict(values or {})}
    target = str(values.get("_target_"))
    named_class("model.net", target, torch.nn.Module, "torch.nn.Module", EXAMPLE_NET)
    return net_class_settings(target).parse(values)


def named_class(key: str, target: str, base: type, base_name: str, example: str) -> type:
    """The class ``<key>._target_`` names, checked to be a ``base``; else one line naming the fix."""
    if target in ("None", "???"):
        raise ConfigError(f"{key}._target_ is required: the {base_name} class to use, e.g. "
                          f"{key}._target_={example}")
    try:
        built = locate(target)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"{key}._target_={target} cannot be imported ({type(err).__name__}: {err}); name "
                          f"a class as module.Class, with its folder on PYTHONPATH (PYTHONPATH=<folder> "
                          f"mlplab-train …), e.g. {key}._target_={example}") from None
    if not (isinstance(built, type) and issubclass(built, base)):
        raise ConfigError(f"{key}._target_={target} is not a {base_name} class; e.g. "
                          f"{key}._target_={example}")
    return built


def net_class_settings(target: str) -> type[Settings]:
    """The settings class of the network class ``target``, importable as
    ``mlplab.config.schema.net__<target with __ for .>`` (pickled by reference, as
    ``torch_class_settings``'s are)."""
    kind = _net_class_settings(target)
    kind.__module__, kind.__qualname__ = __name__, f"net__{target.replace('.', '__')}"
    return kind


@functools.cache
def _net_class_settings(target: str) -> type[Settings]:
    kind = signature_settings(locate(target), locate(target).__name__, "model.net", skip=NET_BUILT_BY_MLPLAB,
                              extra=[("_target_", str, field(default=target))])
    kind.unknown_hint = preset_hint("model")
    return kind


def preset_hint(group: str) -> str:
    """The fix for an argument another class's preset gave (``model=scratch``'s ``hidden`` to a
    network of one's own): start from the group's ``any`` option, or drop the key."""
    if group == "model":  # model.net is a plain dict: a key can go (a torch preset's schema keeps its own)
        return "; if the model preset gave it for its own class, start from model=any (model=any " \
               "model.net._target_=…), or drop it: ~{key}"
    return f"; if the {group} preset gave it for its own class, start from {group}=any ({group}=any " \
           f"{group}._target_=…)"


def net_arguments(settings: Settings) -> dict[str, Any]:
    """The class's own arguments among a net's settings (not ``_target_``)."""
    return {spec.name: getattr(settings, spec.name) for spec in specs(type(settings))}


def takes(kind: type, argument: str) -> bool:
    """Whether the class's constructor (a network's, an optimizer's) takes ``argument`` (or any keyword)."""
    parameters = inspect.signature(kind.__init__).parameters
    return argument in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


MOVED.update({f"model.{name}": f"the network's arguments are model.net.*: model.net.{name}"
              for name in ("hidden", "init_std")})
MOVED["model.name"] = ("the network is its class, model.net._target_ (model=scratch: mlplab.nets.ScratchMLP, "
                       "model=concise: mlplab.nets.ConciseMLP)")


@dataclass
class ModelSettings(Settings):
    group: ClassVar[str] = "model"
    net: Any = setting({}, "the network: an nn.Module class (_target_; mlplab.nets.ScratchMLP if none) and "
                       "its constructor's arguments (model.net.*); the presets: model=scratch (d2l 4.2), "
                       "model=concise (4.3), model=any", kind=dict, example={"_target_": EXAMPLE_NET})
    compile: bool = setting(False, "torch.compile the network (slower on a CPU: docs/performance.md)")

    def rules(self) -> None:
        # ``net`` stays the plain mapping Hydra composes (any class's keys can be set, added with
        # "+" or removed with "~"); its checked form is ``network``, a settings object of the class
        self.network = net_settings(self.net)

    def parts(self) -> dict[str, Settings]:
        return {"net": self.network}

    @property
    def net_class(self) -> type[torch.nn.Module]:
        return locate(self.network._target_)

    def as_dict(self) -> dict[str, Any]:
        return {"net": {"_target_": self.network._target_, **self.network.as_dict()}, "compile": self.compile}


@dataclass
class ActivationSettings(Settings):
    group: ClassVar[str] = "activation"
    name: str = setting("relu", "σ after every hidden layer: hand-written (scratch) or built in (concise)",
                        choices=_activations)


@dataclass
class RegularizerSettings(Settings):
    group: ClassVar[str] = "regularizer"
    weight_decay: float = setting(0.0, "λ: loss + λ/2·Σ‖W‖², or the optimizer's decay (weight_decay_mode); "
                                  "biases are never decayed; 0 = off",
                                  within=NON_NEGATIVE, example=1e-3, per_member=True)
    dropout: Any = setting(0.0, "dropout p after each hidden layer: one number, or one per layer",
                           within=PROBABILITY, kind=float | list[float], example=0.5, per_member=True)
    dropout_style: str = setting("inverted", "inverted: kept units × 1/(1 − p) while training (d2l's code); "
                                 "classic: all units × (1 − p) at evaluation (the notes, 4.6.3)",
                                 choices=("inverted", "classic"))
    weight_decay_mode: str = setting("auto", "auto (scratch → penalty, concise or a decoupled optimizer "
                                     "such as AdamW → optimizer), penalty or optimizer",
                                     choices=("auto", "penalty", "optimizer"))
    label_smoothing: float = setting(0.0, "ε: the training target puts 1 − ε on the label, ε/K on each "
                                     "class", within=PROBABILITY, example=0.1)

    def decay_mode(self, net_class: type, decoupled: bool = False, optimizer_decays: bool = True) -> str:
        """``auto`` follows the book: the scratch model adds the penalty, the concise one (and any
        network that does not say ``weight_decay_mode = "penalty"``) asks the optimizer. An optimizer
        that decouples weight decay (``decoupled``: AdamW) is always asked: as a penalty in the loss
        its λ would be Adam's L2 term, not the decoupled decay the optimizer was chosen for. One
        without a ``weight_decay`` argument (``optimizer_decays`` false: Rprop, LBFGS) is never asked:
        it would ignore λ, so ``auto`` adds the penalty (and ``optimizer`` is refused:
        ``check_decay_mode``)."""
        if self.weight_decay_mode != "auto":
            return self.weight_decay_mode
        if not optimizer_decays:
            return "penalty"
        return "optimizer" if decoupled else getattr(net_class, "weight_decay_mode", "optimizer")

    def check_decay_mode(self, optimizer_decays: bool) -> None:
        """``weight_decay_mode=optimizer`` with a λ the optimizer has no argument for is refused."""
        if self.weight_decay_mode == "optimizer" and not optimizer_decays and self.weight_decay:
            self.fail("weight_decay_mode", "but the optimizer takes no weight_decay argument, so λ would "
                      f"be ignored (regularizer.weight_decay={show(self.weight_decay)})", example="penalty")


# ---- how it learns ---------------------------------------------------------------------------
# An optimizer and a learning-rate schedule are any torch class, named by ``_target_`` as Hydra
# instantiates it (``_partial_``: mlplab gives the parameters, or the optimizer); their settings
# are the class's own arguments (``mlplab.config.signature``). The presets under conf/optimizer and
# conf/scheduler name a class and the values mlplab's experiments use.

OPTIMIZER_BUILT_BY_MLPLAB = ("params", "weight_decay")  # the net's, by parameter group (regularizer)
SCHEDULER_BUILT_BY_MLPLAB = ("optimizer", "last_epoch", "verbose")
MOVED.update({"optimizer.weight_decay": "λ is regularizer.weight_decay, which decays the weights, not the "
                                         "biases"})


def scheduler_extras() -> list[tuple[str, Any, Any]]:
    """What Lightning needs to know of a scheduler besides the class's own arguments."""
    return [("interval", str, setting("epoch", "when Lightning steps it: after every update (step) or "
                                                "every epoch (epoch)", choices=("step", "epoch"))),
            ("monitor", str | None, setting(None, "the validation metric a ReduceLROnPlateau watches",
                                            example="val/loss"))]


BUILT_BY_MLPLAB = {"optimizer": OPTIMIZER_BUILT_BY_MLPLAB, "scheduler": SCHEDULER_BUILT_BY_MLPLAB}
EXAMPLE_TARGETS = {"optimizer": "torch.optim.SGD", "scheduler": "torch.optim.lr_scheduler.StepLR"}
BASE_NAMES = {"optimizer": "torch.optim.Optimizer", "scheduler": "torch.optim.lr_scheduler.LRScheduler"}


def torch_settings(group: str, values: dict[str, Any] | Settings, base: type) -> Settings:
    """The settings of a torch optimizer or scheduler: its class (``_target_``) checked to be a
    ``base``, its arguments checked against the class's signature, then the class built once on a
    stand-in so that torch's own checks (``Invalid learning rate``, …) speak before any data loads."""
    if isinstance(values, Settings):
        return values
    values = dict(values or {})
    target = str(values.get("_target_"))
    built = named_class(group, target, base, BASE_NAMES[group], EXAMPLE_TARGETS[group])
    settings = torch_class_settings(group, target).parse(values)
    try_build(group, settings, built)
    return settings


def torch_class_settings(group: str, target: str) -> type[Settings]:
    """The settings class of the torch class ``target`` as an option of ``group``, importable as
    ``mlplab.config.schema.<group>__<target with __ for .>`` (see ``__getattr__``), so that settings
    objects pickle by reference (to ddp_spawn's processes, to a launcher's workers)."""
    extras = scheduler_extras if group == "scheduler" else None
    kind = class_settings(target, group, BUILT_BY_MLPLAB[group], extras)
    kind.unknown_hint = preset_hint(group)
    kind.__module__, kind.__qualname__ = __name__, f"{group}__{target.replace('.', '__')}"
    return kind


def __getattr__(name: str) -> type[Settings]:
    """``optimizer__torch__optim__SGD`` → the settings class of ``torch.optim.SGD``;
    ``net__mlplab__nets__ScratchMLP`` → that of the network class (PEP 562)."""
    group, _, target = name.partition("__")
    if group == "net" and target:
        return net_class_settings(target.replace("__", "."))
    if group not in BUILT_BY_MLPLAB or not target:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return torch_class_settings(group, target.replace("__", "."))


def arguments(settings: Settings) -> dict[str, Any]:
    """The class's own arguments among ``settings`` (not ``_target_``, ``interval``, …)."""
    own = {spec.name for spec in specs(type(settings))} - {name for name, *_ in scheduler_extras()}
    return {name: getattr(settings, name) for name in own}


def try_build(group: str, settings: Settings, built: type) -> None:
    """Build the class on a stand-in parameter (and optimizer): torch's own argument checks; a
    schedule also takes one step (``StepLR(step_size=0)`` divides by zero only when it steps)."""
    if group == "optimizer" and not getattr(settings, "lr", 1) > 0:
        settings.fail("lr", "must be > 0 (an update must move the weights)", example=0.1)
    stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    kwargs = arguments(settings)
    try:
        if group == "optimizer":
            built([torch.zeros(1, requires_grad=True)], **kwargs)
        else:
            filled = {"total_steps": 1} if "total_steps" in kwargs and kwargs["total_steps"] is None else {}
            schedule = built(stand_in, **{**kwargs, **filled})  # total_steps=None: mlplab fills it in
            if not isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                stand_in.step()
                schedule.step()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{group}: {err} ({settings._target_}); see mlplab-train --help for its "
                          f"settings") from None
    except (IndexError, ZeroDivisionError) as err:  # a list too short, a count of 0 it divides by
        raise ConfigError(f"{group}: {settings._target_} stopped on its settings ({type(err).__name__}: "
                          f"{err}): one is out of range, e.g. a list too short or a 0 it divides by; "
                          f"see mlplab-train --help for its settings") from None
    if issubclass(built, torch.optim.lr_scheduler.ReduceLROnPlateau) and not settings.monitor:
        # it steps on a metric: Lightning would ask for it once the fit starts, in a dict's words
        raise ConfigError(f"scheduler: {settings._target_} steps on a validation metric and "
                          f"scheduler.monitor names none; e.g. +scheduler.monitor=val/loss")


# The presets' classes: their schemas go to Hydra's ConfigStore (optimizer/_sgd, …), so that every
# argument of the class is a key without "+" and a wrong type is refused while Hydra merges.
# optimizer=any takes any other class (its arguments then need "+": Hydra cannot know them).
TORCH_PRESETS = {"optimizer": {"sgd": "torch.optim.SGD", "adamw": "torch.optim.AdamW",
                               "adam": "torch.optim.Adam"},
                 "scheduler": {"step": "torch.optim.lr_scheduler.StepLR",
                               "cosine": "mlplab.training.schedules.Cosine",
                               "onecycle": "mlplab.training.schedules.OneCycle"}}


def preset_class(group: str, option: str) -> type[Settings]:
    """The settings class of a preset's torch class (``optimizer=sgd`` → SGD's)."""
    return torch_class_settings(group, TORCH_PRESETS[group][option])


def optimizer_settings(values: dict[str, Any] | Settings | None) -> Settings:
    """The optimizer's settings; without a ``_target_``, over the ``sgd`` preset (d2l's SGD, lr 0.1)."""
    if not isinstance(values, Settings) and not (values or {}).get("_target_"):
        sgd = {"_target_": TORCH_PRESETS["optimizer"]["sgd"], **preset("optimizer", "sgd")}
        values = {**sgd, **(values or {})}
    return torch_settings("optimizer", values, torch.optim.Optimizer)


def scheduler_settings(values: dict[str, Any] | Settings | None) -> Settings | None:
    """None for ``scheduler=none`` (an empty group): the learning rate stays the optimizer's."""
    if not values:
        return None
    return torch_settings("scheduler", values, LRScheduler)


def preset(group: str, option: str) -> dict[str, Any]:
    """A preset's values, as mlplab's default where Python code gives none (``MLPModule()``)."""
    values = yaml.safe_load((Path(config_dir()) / group / f"{option}.yaml").read_text()) or {}
    return {k: v for k, v in values.items() if k != "defaults"}


# ---- the data --------------------------------------------------------------------------------

SEEDS = Range(0, 2**32 - 1)  # Lightning's seed_everything takes these
FASHION_MNIST_IMAGES = {"train": 60000, "test": 10000}  # the official files' counts
TRAIN_IMAGES = FASHION_MNIST_IMAGES["train"]

@dataclass
class FashionMNISTSettings(Settings):
    group: ClassVar[str] = "data"
    task: ClassVar[str] = "classification"
    _target_: str = "mlplab.data.fashion_mnist.FashionMNISTDataModule"
    # conf/data/fashion_mnist.yaml gives it ${paths.data_dir}; this default serves a DataModule
    # built in Python, outside a composed config
    data_dir: str = setting(os.environ.get("MLPLAB_DATA_DIR", "data"), "holds FashionMNIST/raw/*-ubyte, "
                            "unpacked on first use (default paths.data_dir: $MLPLAB_DATA_DIR, else "
                            "<paths.root_dir>/data)", where=True, example="/data")
    batch_size: int = setting(256, "training minibatch size (d2l: 256)", within=AT_LEAST_ONE, example=256)
    val_size: int = setting(5000, "training images held out for validation; 0 = validate on the test "
                            "set (d2l)", within=Range(0, TRAIN_IMAGES - 1), example=5000)
    train_subset: int | None = setting(None, "train on the first N shuffled images only (null = all)",
                                       within=Range(1, TRAIN_IMAGES), example=1000)
    normalize: bool = setting(False, "(x − mean) / std after scaling to [0, 1]")
    drop_last: bool = setting(False, "skip the short last training batch")
    eval_batch_size: int | None = setting(1024, "val/test batch size; the averages do not depend on "
                                          "it (null = batch_size)", within=AT_LEAST_ONE, example=1024)
    augment: bool = setting(False, "random shifts and left-right flips of training batches, on the device")
    augment_shift: int = setting(2, "shifts of up to this many pixels each way", within=Range(0, 8),
                                 example=2)
    augment_flip: bool = setting(True, "mirror half of the augmented images")
    seed: int = setting(42, "the validation split and the batch order (the run's seed)", example=42,
                        within=SEEDS)
    download: bool = setting(True, "allow torchvision's download when no local copy is found", where=True)
    debian_dir: str = setting("/usr/share/datasets/fashion-mnist", "where Debian's "
                              "dataset-fashion-mnist puts its .gz files", where=True)
    check_counts: bool = setting(True, "refuse files without Fashion-MNIST's 60000/10000 images "
                                 "(false: small test files)")

    def rules(self) -> None:
        left = TRAIN_IMAGES - self.val_size
        if self.check_counts and self.train_subset and self.train_subset > left:
            self.fail("train_subset", f"exceeds the {left} training images data.val_size={self.val_size} "
                      f"leaves", example=left)

    @property
    def validates_on_test(self) -> bool:
        """``val_size=0``: the test set is the validation set (d2l's train_ch3)."""
        return self.val_size == 0


@dataclass
class SyntheticSettings(Settings):
    """What both regression sets of d2l share."""

    group: ClassVar[str] = "data"
    task: ClassVar[str] = "regression"
    n_train: int = setting(100, "training examples", within=AT_LEAST_ONE, example=100)
    n_test: int = setting(100, "test examples; also the validation set, as in d2l", within=AT_LEAST_ONE,
                          example=100)
    noise: float = setting(0.1, "ε ~ N(0, noise²) added to every label", within=NON_NEGATIVE, example=0.1)
    batch_size: int = setting(10, "minibatch size", within=AT_LEAST_ONE, example=10)
    seed: int = setting(42, "draws the data and the batch order (the run's seed)", example=42,
                        within=SEEDS)
    validates_on_test: ClassVar[bool] = True  # as in d2l: no separate validation split


@dataclass
class PolynomialSettings(SyntheticSettings):
    _target_: str = "mlplab.data.synthetic.PolynomialDataModule"
    max_degree: int = setting(20, "features generated: xⁱ/i! for i < max_degree", within=Range(4),
                              example=20)
    num_features: int = setting(4, "features the model sees: 2 underfits, 4 is the true degree, 20 "
                                "overfits", within=AT_LEAST_ONE, example=4)

    def rules(self) -> None:
        if self.num_features > self.max_degree:
            self.fail("num_features", f"exceeds data.max_degree={self.max_degree}")


@dataclass
class HighDimLinearSettings(SyntheticSettings):
    _target_: str = "mlplab.data.synthetic.HighDimLinearDataModule"
    num_inputs: int = setting(200, "input dimension d: many weights, few examples", within=AT_LEAST_ONE,
                              example=200)
    n_train: int = setting(20, "training examples: far fewer than weights", within=AT_LEAST_ONE, example=20)
    noise: float = setting(0.01, "ε ~ N(0, noise²) added to every label", within=NON_NEGATIVE, example=0.01)
    batch_size: int = setting(5, "minibatch size (d2l: 5)", within=AT_LEAST_ONE, example=5)


DATA: dict[str, type[Settings]] = {"fashion_mnist": FashionMNISTSettings, "polynomial": PolynomialSettings,
                                   "highdim_linear": HighDimLinearSettings}


def data_settings_class(target: str) -> type[Settings]:
    """The settings class of the DataModule ``target`` (``data._target_``)."""
    for kind in DATA.values():
        if kind._target_ == target:  # type: ignore[attr-defined]
            return kind
    raise ConfigError(f"data._target_={target} is not a data set of mlplab; choose data="
                      f"{' or data='.join(DATA)}")


# ---- the run ---------------------------------------------------------------------------------

# What a fit logs every epoch, by the data's task (MLPModule: train/ and val/ of EpochAverages'
# loss and accuracy, weights/l2_norm, train/lr; test/ only after fit): what a monitor can watch.
FIT_METRICS = {"classification": ("val/acc", "val/loss", "train/acc", "train/loss", "weights/l2_norm",
                                  "train/lr"),
               "regression": ("val/loss", "train/loss", "weights/l2_norm", "train/lr")}


# Which way each kind of logged metric improves (the part of its name after the stage: val/acc):
# a monitor watching it the other way would keep the worst epoch, stop early on improvements and
# make a search seek the worst runs. weights/l2_norm and train/lr have no better direction.
BETTER = {"acc": ("max", "an accuracy is best when largest"), "loss": ("min", "a loss is best when smallest")}


def better_mode(metric: str) -> str | None:
    """``max`` for an accuracy, ``min`` for a loss, None for a metric with no better direction."""
    return BETTER.get(metric.rpartition("/")[2], (None,))[0]


@dataclass
class MonitorSettings(Settings):
    group: ClassVar[str] = "monitor"
    name: str = setting("val/acc", "the validation metric that picks best.ckpt", example="val/loss")
    mode: str = setting("max", "max for an accuracy, min for a loss", choices=("max", "min"))


def check_mode(owner: Settings, name: str, mode: str) -> None:
    """``owner.mode`` must rank ``owner.name`` the way it improves (``BETTER``)."""
    metric, given = getattr(owner, name), getattr(owner, mode)
    wanted = better_mode(str(metric))
    if wanted is not None and given != wanted:
        owner.fail(mode, f"ranks {owner.key(name)}={metric} backwards: "
                   f"{BETTER[metric.rpartition('/')[2]][1]}", example=wanted)


# Where mlplab's metrics live: a name here that a fit does not log is a typo of one of them.
OWN_NAMESPACES = ("train/", "val/", "test/", "weights/", "hp/")


def check_logged(owner: Settings, name: str, task: str) -> None:
    """``owner.name`` must be a metric a fit of ``task`` logs (monitor.name, scheduler.monitor): a
    name the fit never logs would end the run at its first validation (Lightning's ModelCheckpoint
    cannot find it), so it is refused now, with the names there are. A name outside mlplab's
    namespaces and unlike its names (``my/score``) is one the user's own code logs (a callback, a
    subclass of the module), as Lightning lets any logged key be monitored: it passes."""
    metric = str(getattr(owner, name))
    logged = FIT_METRICS[task]
    if metric in logged:
        return
    close = difflib.get_close_matches(metric, logged, n=1, cutoff=0.75)
    if not metric.startswith(OWN_NAMESPACES) and not close:
        return
    guess = f"; did you mean {close[0]}?" if close else ""
    owner.fail(name, f"is not a metric a {task} run logs{guess} (those are: {', '.join(logged)}; one your "
               f"own code logs takes a name outside {', '.join(OWN_NAMESPACES)})",
               example=close[0] if close else logged[0])


@dataclass
class PathsSettings(Settings):
    """Where a run reads and writes: the ``paths`` group of lightning-hydra-template
    (``conf/paths/default.yaml``). Relative paths are relative to the folder mlplab-train runs in
    (``hydra.job.chdir=false``); ``root_dir`` moves ``data_dir`` and ``log_dir`` together."""

    group: ClassVar[str] = "paths"
    root_dir: str = setting(".", "data_dir and log_dir go under here unless given themselves", where=True,
                            example="/scratch/me/mlplab")
    data_dir: str = setting("${oc.env:MLPLAB_DATA_DIR,${paths.root_dir}/data}", "the data sets' folder, "
                            "data.data_dir's default ($MLPLAB_DATA_DIR, else <root_dir>/data)", where=True,
                            example="/data")
    log_dir: str = setting("${paths.root_dir}/logs", "runs/, multiruns/ and evals/ go under here", where=True,
                           example="/scratch/me/logs")
    # None only where Hydra runs no job (--cfg job --resolve prints it so)
    output_dir: str | None = setting("${hydra:runtime.output_dir}", "this run's folder", where=True)
    run_name: str = setting("${mlplab.run_name:${hydra:overrides.task}}",
                            "the TensorBoard folder: the run's overrides (long lists cut and hashed)",
                            where=True)


def ignore_warnings_setting() -> Any:
    """``ignore_warnings``, a top-level key of mlplab-train and of mlplab-eval alike."""
    return setting(True, "hide the third-party noise every run prints (torch's LeafSpec deprecation, "
                   "Lightning's litlogger tip and model-summary note); false shows it", where=True)


@dataclass
class RunSettings(Settings):
    """The top-level keys: what holds for the whole run."""

    seed: int = setting(42, "seeds the split, the init, the batch order and dropout", example=42,
                        within=SEEDS, per_member=True)
    ckpt_path: str | None = setting(None, "resume from a run's checkpoints/last.ckpt, or `last` (the "
                                    "newest run of the same command)", where=True, example="last")
    test_ckpt: str = setting("best", "the weights that score the test set once fit ends",
                             choices=("best", "last"))
    max_loss: float = setting(1e6, "a training loss above this, NaN or inf stops the run as diverged",
                              within=Range(0, math.inf, low_open=True, high_open=True), example=1e6)
    retry_failed: bool = setting(False, "resuming a sweep (hydra.sweep.dir=<it>): run its failed, diverged "
                                 "and pruned jobs again", where=True)
    ignore_warnings: bool = ignore_warnings_setting()


@dataclass
class TrainConfig(RunSettings):
    """The schema ``conf/train.yaml`` composes against (``mlplab.config.store``)."""

    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    data: Any = MISSING  # one of DATA, by _target_
    model: ModelSettings = field(default_factory=ModelSettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)
    regularizer: RegularizerSettings = field(default_factory=RegularizerSettings)
    optimizer: Any = MISSING  # a torch.optim class and its arguments (torch_settings)
    scheduler: Any = field(default_factory=dict)  # an lr_scheduler class and its arguments; {}: none
    trainer: TrainerSettings = MISSING  # conf/trainer presets; its defaults are Lightning's
    logger: Any = None  # Lightning loggers by _target_ (conf/logger)
    callbacks: Any = field(default_factory=dict)  # Lightning callbacks by _target_ (conf/callbacks)
    paths: PathsSettings = field(default_factory=PathsSettings)


@dataclass
class EvalConfig(Settings):
    """The schema of ``conf/eval.yaml`` (``mlplab-eval``)."""

    ckpt_path: str = setting(MISSING, "the .ckpt written by mlplab-train to score", where=True,
                             example="logs/runs/<run>/checkpoints/best.ckpt")
    seed: int = setting(42, "for data settings the checkpoint does not carry", example=42, within=SEEDS)
    ignore_warnings: bool = ignore_warnings_setting()
    # set by the regression data presets for mlplab-train; mlplab-eval has no use for them
    test_ckpt: Any = None
    monitor: Any = None
    data: Any = MISSING
    trainer: TrainerSettings = MISSING  # conf/trainer presets; its defaults are Lightning's
    paths: PathsSettings = field(default_factory=PathsSettings)


def options() -> dict[str, dict[str, type[Settings]]]:
    """The groups whose options have settings of their own: each option's settings class."""
    return {"data": DATA, **{group: {option: preset_class(group, option) for option in presets}
                             for group, presets in TORCH_PRESETS.items()}}


# ---- the groups the module takes -------------------------------------------------------------

@dataclass
class ModuleSettings:
    """Everything ``MLPModule`` is built from, checked together (a rule may span two groups)."""

    model: ModelSettings
    activation: ActivationSettings
    regularizer: RegularizerSettings
    optimizer: Settings
    scheduler: Settings | None

    @classmethod
    def parse(cls, model: Any = None, activation: Any = None, regularizer: Any = None,
              optimizer: Any = None, scheduler: Any = None) -> ModuleSettings:
        def own(kind: type[Settings], values: Any) -> Settings:
            return values if isinstance(values, kind) else kind.parse(values)

        optimizer, scheduler = plain(optimizer), plain(scheduler)  # a composed config's nodes too

        settings = cls(own(ModelSettings, model), own(ActivationSettings, activation),
                       own(RegularizerSettings, regularizer), optimizer_settings(optimizer),
                       scheduler_settings(scheduler))
        settings.rules()
        return settings

    @property
    def optimizer_decays(self) -> bool:
        """Whether the optimizer's class takes a ``weight_decay`` (torch ignores it in a group where
        the class has none: Rprop, SparseAdam)."""
        return takes(locate(self.optimizer._target_), "weight_decay")

    def given_to_net(self) -> dict[str, Any]:
        """What the other groups give the network, where its class takes the argument: σ by name,
        dropout p (one, or one per hidden layer) and its style."""
        return {argument: getattr(owner, name) for argument, (owner, name) in self.net_givers().items()
                if takes(self.model.net_class, argument)}

    def net_givers(self) -> dict[str, tuple[Settings, str]]:
        """``GIVEN_TO_NET`` with this run's settings objects: argument → (settings, setting name)."""
        return {argument: (getattr(self, group), name) for argument, (group, name) in GIVEN_TO_NET.items()}

    def rules(self) -> None:
        """A setting the network cannot apply is refused, not ignored; then the class is built on
        the meta device (no memory, no random numbers) so that its own checks speak now."""
        net = self.model.network._target_
        hidden = getattr(self.model.network, "hidden", None)
        for argument, (owner, name) in self.net_givers().items():
            value = getattr(owner, name)
            default = info(type(owner), name).default
            # asked for: away from its default (dropout 0 for every layer asks for nothing)
            asked = any(p > 0 for p in value) if isinstance(value, (list, tuple)) else value != default
            if asked and not takes(self.model.net_class, argument):
                raise ConfigError(f"{owner.key(name)}={show(value)}: model.net._target_={net} takes no "
                                  f"`{argument}` argument, so it cannot apply it; leave the setting at its "
                                  f"default, or give the class a `{argument}` argument")
            if asked and hidden is not None and len(hidden) == 0 and argument in LAYER_ARGUMENTS:
                raise ConfigError(f"{owner.key(name)}={show(value)}: model.net.hidden=[] has no hidden layer "
                                  f"to apply it to (a linear model); leave it at its default, or add a "
                                  f"layer, e.g. model.net.hidden=[256]")
        self.regularizer.check_decay_mode(self.optimizer_decays)
        with torch.device("meta"):  # a stand-in shape: the data's own is given when the run builds it
            self.build_net(num_inputs=784, num_outputs=10)

    def build_net(self, **shape: int) -> torch.nn.Module:
        """The network: its own settings, ``shape`` (``num_inputs``, ``num_outputs``: the data's)
        and what the other groups give it; a ``ValueError`` or ``TypeError`` of its constructor is
        a setting the user can fix, said in one line."""
        kind = self.model.net_class
        given = {name: value for name, value in shape.items() if takes(kind, name)}
        try:
            return kind(**net_arguments(self.model.network), **self.given_to_net(), **given)
        except (ValueError, TypeError) as err:
            raise ConfigError(self.net_error(str(err))) from None

    def net_error(self, text: str) -> str:
        """A network's ``ValueError`` as one line: a message that starts with an argument's name
        (``dropout has 3 values …``) is said of the setting that gave it, with its value."""
        network = self.model.network
        owners = {**self.net_givers(), **{name: (network, name) for name in net_arguments(network)}}
        first, _, rest = text.partition(" ")
        if first in owners:
            owner, name = owners[first]
            key, example = owner.key(name), info(type(owner), name).shown_example
            return (f"{key}={show(getattr(owner, name))} {rest} ({network._target_}); "
                    f"e.g. {key}={example}")
        return f"model.net ({network._target_}): {text}; see mlplab-train --help for its settings"

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every group's plain values, as checkpoints store them. The optimizer and the schedule keep
        the class they name (``_target_``), so that ``MLPModule(**hparams)`` (mlplab-eval,
        ``MLPModule.load_from_checkpoint``) builds the run's own, not the SGD preset."""
        groups: dict[str, dict[str, Any]] = {}
        for name in self.__dataclass_fields__:
            group = getattr(self, name)
            target = getattr(group, "_target_", None)
            values = group.as_dict() if group else {}
            groups[name] = {"_target_": target, **values} if target else values
        return groups


MODULE_GROUPS = tuple(ModuleSettings.__dataclass_fields__)


# What a member of a batched group may have of its own besides the settings declared
# ``per_member=True``: the optimizer's step size and momentum (MemberSGD keeps them per member).
PER_MEMBER_ARGUMENTS = {"optimizer": ("lr", "momentum")}


def per_member_keys() -> tuple[str, ...]:
    """Every key the members of one batched group may differ in (``setting(per_member=True)``)."""
    declared = {f"{kind.group}.{spec.name}" if kind.group else spec.name
                for kind in Settings.kinds() for spec in specs(kind) if spec.per_member}
    return tuple(sorted(declared | {f"{group}.{name}" for group, names in PER_MEMBER_ARGUMENTS.items()
                                    for name in names}))


def group_class(group: str, values: dict[str, Any] | None) -> type[Settings]:
    """The settings class of one of the module's groups (for the optimizer and the scheduler:
    that of the class its ``_target_`` names, SGD by default)."""
    if group == "optimizer":
        return type(optimizer_settings(values))
    if group == "scheduler":
        return type(scheduler_settings(values)) if values else preset_class("scheduler", "cosine")
    return typing.get_type_hints(ModuleSettings)[group]
