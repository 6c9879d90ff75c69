"""How a setting is declared: ``setting(default, help, …)`` on a dataclass field, checked by ``check``.

    lr: float = setting(0.1, "the step size η", within=Range(0, low_open=True), example=0.1)

One declaration carries the name (the field), the type (the annotation), the default, the allowed
range or choices, one line of help and an example. Hydra reads the dataclass as a structured
config (types are enforced when the command line is merged); ``check`` enforces the rest whenever
a settings object is built (``__post_init__``), so a bad value is refused before any data loads,
with one line naming the key, the value and an example.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import OmegaConf

from mlplab.errors import ConfigError

WHERE = "where"  # metadata flag: says where files are read or written, not what the run computes
MOVED: dict[str, str] = {}  # a key that looks like a setting here but is declared elsewhere: where


@dataclass(frozen=True)
class Range:
    """``low ≤ x ≤ high`` (open ends with ``low_open``/``high_open``; None = unbounded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, x: float) -> bool:
        above = self.low is None or (x > self.low if self.low_open else x >= self.low)
        below = self.high is None or (x < self.high if self.high_open else x <= self.high)
        return above and below and not (isinstance(x, float) and not math.isfinite(x))  # NaN, ±inf

    def describe(self) -> str:
        """``> 0``, ``≥ 1``, ``in [0, 1)``."""
        text = str(self)
        return text if text[0] in "<>≤≥" else f"in {text}"

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '≥'} {show(self.low)}"
        if self.low is None:
            return f"{'<' if self.high_open else '≤'} {show(self.high)}"
        return (f"{'(' if self.low_open else '['}{show(self.low)}, {show(self.high)}"
                f"{')' if self.high_open else ']'}")


NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
PROBABILITY = Range(0, 1, high_open=True)  # [0, 1): p = 1 would leave nothing
SEEDS = Range(0, 2**32 - 1)  # Lightning's seed_everything takes these


def setting(default: Any, help: str, *, within: Range | None = None,
            choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
            example: Any = None, where: bool = False, kind: Any = None, required: bool = False,
            per_member: bool = False) -> Any:
    """A dataclass field that declares one setting (lists and dicts get a default factory).
    ``kind`` is the type ``check`` enforces where the annotation must stay looser for Hydra
    (OmegaConf has no unions: ``dropout: Any`` with ``kind=float | list[float]``). ``per_member``:
    the members of one batched group may differ in it (``hydra/launcher=batched`` trains each with
    its own value); jobs that differ in any other setting never share a group."""
    metadata = {"help": help, "within": within, "choices": choices, "example": example, WHERE: where,
                "kind": kind, "required": required, "per_member": per_member}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    if type(default).__hash__ is None:  # another mutable default (a library's dataclass): one shared
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


class Settings:
    """Base of every group's settings: ``group`` is the config key (``optimizer``), and building
    an instance checks every field (``check``), then the group's own rules (``rules``)."""

    group: ClassVar[str] = ""
    # False for a library class's arguments read only to check a config node (mlplab.config.targets):
    # not settings mlplab declares, so not among ``kinds()``
    declared: ClassVar[bool] = True
    # the fix for a key the class lacks that a preset of the group gives (``{key}``: the key)
    unknown_hint: ClassVar[str] = ""
    _subclasses: ClassVar[list[type[Settings]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Settings._subclasses.append(cls)

    @staticmethod
    def kinds() -> list[type[Settings]]:
        """Every settings class that declares settings (the dataclasses; not the bases that only
        name a group), to word Hydra's errors and to find the ``where`` settings."""
        return [kind for kind in Settings._subclasses if dataclasses.is_dataclass(kind) and kind.declared]

    def __post_init__(self) -> None:
        check(self)
        self.rules()

    def rules(self) -> None:
        """Rules between fields of this group; raise ``ConfigError`` naming the keys."""

    def parts(self) -> dict[str, Settings]:
        """Fields that hold a group of their own, checked (``model.net``: the network class's
        settings), by field name."""
        return {}

    def key(self, name: str) -> str:
        return f"{self.group}.{name}" if self.group else name

    def fail(self, name: str, problem: str, example: Any = None) -> None:
        """Raise the one-line message for field ``name``: key, value, problem, example."""
        value = getattr(self, name)
        spec = info(type(self), name)
        hint = f"; e.g. {self.key(name)}={show(example) if example is not None else spec.shown_example}"
        raise ConfigError(f"{self.key(name)}={show(value)} {problem}{hint}")

    @classmethod
    def parse(cls, values: dict[str, Any] | None) -> Settings:
        """An instance from a (partial) dict, or a node of a composed config; unknown keys are
        refused by name."""
        values = dict(plain(values) or {})
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(describe_unknown_key(cls, unknown[0]))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Plain values only, loadable with ``weights_only=True``; without ``_target_``, which the
        groups that name a class add back where a checkpoint needs it (``ModuleSettings.as_dict``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)  # type: ignore
                if f.name != "_target_"}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def show(value: Any) -> str:
    """A value as it is written on the command line: ``[256,256]``, ``null``, ``true``, ``fast``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(show(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Spec:
    """What the declaration says about one field."""

    name: str
    type: Any
    default: Any
    help: str
    within: Range | None
    choices: tuple[str, ...] | None
    example: Any
    where: bool
    required: bool = False
    per_member: bool = False

    @property
    def shown_example(self) -> str:
        """A value to suggest: the declared example, else the default, else one of the type."""
        for value in (self.example, self.default):
            if value is not None and value != "???":
                return show(value)
        return TYPE_EXAMPLES.get(_first_plain(self.type), "…")


TYPE_EXAMPLES = {int: "1", float: "0.1", bool: "true", str: "auto"}


def _first_plain(kind: Any) -> Any:
    """The first type of ``kind`` (a union's, a Literal's values') that has an example."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is typing.Literal:
        return type(args[0])
    plain_args = [found for a in args if (found := _first_plain(a)) in TYPE_EXAMPLES]
    return plain_args[0] if plain_args else _first_plain(args[0]) if args else kind


def info(cls: type, name: str) -> Spec:
    return next(spec for spec in specs(cls) if spec.name == name)


def specs(cls: type) -> Iterator[Spec]:
    """Every declared setting of ``cls`` (fields made with ``setting``), in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        # isinstance, not "is": a class pickled by value (to a launcher's or DDP's worker process)
        # comes back with copies of dataclasses.MISSING
        has_factory = not isinstance(f.default_factory, type(dataclasses.MISSING))
        default = f.default_factory() if has_factory else f.default
        choices = f.metadata["choices"]
        kind = f.metadata["kind"] if f.metadata["kind"] is not None else hints[f.name]
        yield Spec(f.name, kind, default, f.metadata["help"], f.metadata["within"],
                   choices() if callable(choices) else choices, f.metadata["example"],
                   f.metadata[WHERE], f.metadata.get("required", False),
                   f.metadata.get("per_member", False))


# ---- checking ------------------------------------------------------------------------------------

def type_name(kind: Any) -> str:
    """``int`` → "an integer", ``list[int]`` → "a list of integers", ``int | None`` → "an integer or null"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal or (origin in (typing.Union, types.UnionType) and all(
            typing.get_origin(a) is typing.Literal or a is type(None) for a in args)):
        values = list(args) if origin is typing.Literal else [v for a in args
                                                              for v in (typing.get_args(a) or [None])]
        shown = [show(v) for v in values if v is not None]
        return "one of " + ", ".join(dict.fromkeys(shown)) + (" or null" if None in values else "")
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None) and not (a is int and float in args)]
        return " or ".join(dict.fromkeys(names)) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(args[0], "values")
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping"}
    return names.get(kind, f"a {getattr(kind, '__name__', kind)}")


def plain(value: Any) -> Any:
    """OmegaConf's containers (what Hydra's compose API returns: ``cfg.model``, or a dict holding
    one) as the dicts and lists they hold, interpolations resolved; anything else as it is."""
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    return value


def matches(value: Any, kind: Any) -> bool:
    """Whether ``value`` has the declared type (an int is a float too; a bool is not a number)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args and type(value) in {type(a) for a in args}
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(matches(v, args[0]) for v in value)
    if origin is not None:
        return isinstance(value, origin)
    if kind is type(None):
        return value is None
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    if isinstance(kind, type) and issubclass(kind, os.PathLike) and isinstance(value, str):
        return True  # a path on the command line is a string, as Hydra's instantiate passes it
    return isinstance(value, kind)


def check(obj: Settings) -> None:
    """Type, range and choice of every declared field of ``obj``; the first bad one is raised."""
    for spec in specs(type(obj)):
        value = getattr(obj, spec.name)
        if value is None and spec.required:
            obj.fail(spec.name, f"is required by {type(obj).__name__}")
        if not matches(value, spec.type):
            if isinstance(value, str) and matches(unquoted(value), spec.type):  # "optimizer.lr='0.1'"
                raise ConfigError(quoted(obj.key(spec.name), value, spec.type))
            obj.fail(spec.name, f"is not {type_name(spec.type)}")
        if spec.within is not None:
            many = isinstance(value, (list, tuple))
            bad = [v for v in (value if many else [value]) if v is not None and v not in spec.within]
            if bad:
                finite = ("a finite number " if isinstance(bad[0], float) and math.isinf(bad[0])
                          and spec.within.high is None else "")  # (0, inf) says so itself
                obj.fail(spec.name, f"has {show(bad[0])}; each value must be {finite}{spec.within.describe()}"
                         if many else f"must be {finite}{spec.within.describe()}")
        if spec.choices is not None and value not in spec.choices:
            obj.fail(spec.name, f"is not one of {', '.join(spec.choices)}",
                     example=spec.example or spec.choices[0])


def check_ranges(obj: Settings, ranges: dict[str, tuple[Range, Any]]) -> None:
    """Each number ``ranges`` names (``{name: (its range, an example)}``) within its range: for
    settings read from a library's signature, whose annotation gives the type and not the range."""
    for name, (within, example) in ranges.items():
        value = getattr(obj, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value not in within:
            obj.fail(name, f"must be {within.describe()}", example=example)


# ---- wording Hydra's errors (mlplab.cli.errors) --------------------------------------------------

def find_spec(group: str, name: str, owner: Any = None) -> tuple[str, Spec] | None:
    """(class name, declaration) of setting ``group.name``; ``owner`` is OmegaConf's object type."""
    kinds = [owner] if isinstance(owner, type) and issubclass(owner, Settings) else []
    kinds += [k for k in Settings.kinds() if k.group == group]
    for kind in kinds:
        for spec in specs(kind):
            if spec.name == name:
                return kind.__name__, spec
    return None


def describe_type_error(err: Any, override: str | None) -> str:
    """``optimizer.lr=fast is not a number; e.g. optimizer.lr=0.1`` from OmegaConf's ValidationError."""
    key = re.sub(r"\[\d+\]$", "", str(err.full_key))
    given = override or f"{key}={show(err.value)}"
    group, _, name = key.rpartition(".")
    found = find_spec(group, name, getattr(err, "object_type", None))
    if found is None:
        return f"{given}: {str(err.msg).splitlines()[0]}"
    if isinstance(err.value, str) and matches(unquoted(err.value), found[1].type):  # "optimizer.lr='0.1'"
        return quoted(key, err.value, found[1].type)
    return f"{given} is not {type_name(found[1].type)}; e.g. {key}={found[1].shown_example}"


def quoted(key: str, value: str, kind: Any) -> str:
    """The line for a value the user quoted, which Hydra then keeps as a string."""
    return (f"{key}='{value}' is a quoted string, not {type_name(kind)}: the quotes reached Hydra; give it "
            f"unquoted, {key}={value}")


def unquoted(text: str) -> Any:
    """``text`` as Hydra's override grammar reads a value without quotes (``0.1`` a float, ``[1,2]``
    a list, ``off`` a string); the string itself where that fails."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(f"key={text}").value()
    except Exception:  # any text the grammar cannot read stays the string it is
        return text


USUAL = {"epochs": "trainer.max_epochs"}  # what a newcomer types where the closest name is another's


def elsewhere(name: str, close_here: str | None = None) -> str | None:
    """Where a top-level key typed without its group is declared (``max_epochs`` →
    ``trainer.max_epochs``, ``lr`` → ``optimizer.lr``); else the top-level setting it is close to
    (``close_here``: ``sead`` → ``seed``); else the group or setting of a group it is close to
    (``epochs`` → ``trainer.max_epochs``, ``activaton`` → ``activation=…``); None where nothing is."""
    if name in USUAL:
        return USUAL[name]
    kinds = [k for k in Settings.kinds() if k.group]
    exact = [f"{k.group}.{name}" for k in kinds if any(spec.name == name for spec in specs(k))]
    if exact:  # the schema's own groups come first (regularizer.weight_decay before SGD's)
        return exact[0]
    if close_here is not None:
        return close_here
    groups = sorted({k.group.split(".")[0] for k in kinds})
    if group := difflib.get_close_matches(name, groups, n=1, cutoff=0.75):  # modle: model, not monitor.mode
        return f"{group[0]}=…"
    dotted = {spec.name: f"{k.group}.{spec.name}" for k in reversed(kinds) for spec in specs(k)}
    close = difflib.get_close_matches(name, list(dotted), n=1, cutoff=0.75)
    return dotted[close[0]] if close else None


def describe_unknown_key(kind: type[Settings], name: str) -> str:
    """``data.max_degree is not a setting of FashionMNISTSettings (its settings: …)``, with a
    pointer where the key is declared elsewhere (``MOVED``) or another option has it."""
    prefix = f"{kind.group}." if kind.group else ""
    own = difflib.get_close_matches(name, [spec.name for spec in specs(kind)], n=1, cutoff=0.75)
    if not prefix and (there := elsewhere(name, own[0] if own else None)) is not None:  # without its group
        return f"{name} is not a top-level setting; did you mean {there}?"
    moved = MOVED.get(f"{prefix}{name}")
    if moved and len(list(specs(kind))) > 8:  # where it is; a long list of settings would bury it
        return f"{prefix}{name} is not a setting of {kind.__name__}; {moved}"
    text = (f"{prefix}{name} is not a setting of {kind.__name__} (its settings: "
            f"{', '.join(spec.name for spec in specs(kind))})")
    others = [k for k in Settings.kinds() if k.group == kind.group and k is not kind
              and any(spec.name == name for spec in specs(k))]
    options = [f"{kind.group}={k.name}" for k in others if isinstance(getattr(k, "name", None), str)]
    close = difflib.get_close_matches(name, [spec.name for spec in specs(kind)], n=1)  # looser than own
    hint = kind.unknown_hint.format(key=f"{prefix}{name}") if not (close or options or moved) else ""
    return (text + (f"; did you mean {prefix}{close[0]}?" if close and not (options or moved) else "")
            + (f"; {others[0].__name__} has it: {options[0]}" if options else "")
            + (f"; {moved}" if moved else "") + hint)
