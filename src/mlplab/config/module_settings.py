"""Everything ``MLPModule`` is built from, checked together (a rule may span two groups): the
network (``config.network``), the regularizer (λ, dropout p and its style, label smoothing), the
optimizer and the schedule (``config.optimization``).

    loss = CE(net(x), y) + λ/2 · Σ‖W‖²   (weight_decay_mode=penalty; else the optimizer decays W by λ)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from mlplab.config.network import (
    GIVEN_TO_NET,
    LAYER_ARGUMENTS,
    ActivationSettings,
    ModelSettings,
    net_arguments,
)
from mlplab.config.optimization import optimizer_settings, scheduler_settings
from mlplab.config.settings import NON_NEGATIVE, PROBABILITY, Settings, info, plain, setting, show
from mlplab.config.signature import locate, takes
from mlplab.errors import ConfigError
from mlplab.nets.dropout import STYLES


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
                                 choices=STYLES)
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

