"""Settings read from a signature: when a library already declares a set of arguments (Lightning's
``Trainer``, a ``torch.optim`` optimizer, an ``lr_scheduler``), mlplab does not declare them again.

Each plain-valued argument becomes a setting: its type is the library's annotation (checked by
``mlplab.config.settings``), its default the library's, its help the first sentence of the
library's docstring entry, its example the entry's documented default.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import field, make_dataclass
from typing import Any

from mlplab.config.settings import Settings, setting
from mlplab.errors import ConfigError

PLAIN = (int, float, bool, str)


def argument_docs(doc: str) -> dict[str, str]:
    """``{argument: its whole description}`` from the ``Args:`` block of a Google-style docstring
    (``name: text`` or ``name (type, optional): text``)."""
    docs, name = {}, None
    for line in doc.split("Args:", 1)[-1].splitlines():
        match = re.match(r"^    (\w+)(?: \([^)]*\))?: (.*)", line)
        if match:
            name, text = match.groups()
            docs[name] = text
        elif name and line.startswith("        "):
            docs[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):  # the next section: Example:, Note:, …
            break
    return docs


def first_sentence(text: str) -> str:
    """The help line: the description's first sentence, without its "(default: …)", which is the
    library's default and not always the preset's (SGD's lr: torch's 1e-3, the sgd preset's 0.1)."""
    sentence = re.split(r"(?<=\.)\s", text.replace("``", ""), maxsplit=1)[0]
    return re.sub(r"\s*\(default: [^)]*\)", "", sentence)


def documented_default(text: str) -> Any:
    """The value after ``Default:`` in a description (``'32-true'`` → ``32-true``; ``True`` → true,
    ``None`` → none to show: the command line writes null, and a type's own example reads better)."""
    match = re.search(r"Default: ``'?([^`']+)'?``", text)
    value = match.group(1) if match else None
    return {"None": None, "True": True, "False": False}.get(value, value)


def omegaconf_type(annotation: Any) -> Any:
    """What Hydra can enforce while merging: plain types and ``X | None``; ``Any`` for the unions
    a library allows (``int | float``, ``str | Accelerator``, …), which ``check`` enforces."""
    if annotation in PLAIN:
        return annotation
    args = typing.get_args(annotation)
    if len(args) == 2 and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        if inner in PLAIN:
            return inner | None
    return Any


def signature_settings(target: Callable[..., Any], name: str, group: str, skip: tuple[str, ...] = (),
                       defaults: dict[str, Any] | None = None, extra: list[tuple[str, Any, Any]] = (),
                       rules: Callable[[Settings], None] | None = None,
                       declared: bool = True, where: tuple[str, ...] = ()) -> type[Settings]:
    """A ``Settings`` dataclass with one field per argument of ``target`` (a class: its
    ``__init__``), but those in ``skip`` (built by mlplab) and ``*args``/``**kwargs``. ``defaults``
    replaces a library default that has none; ``extra`` adds fields first (``_target_``, …); the
    arguments in ``where`` say where files go (left out of run names and HParams)."""
    function = target.__init__ if inspect.isclass(target) else target
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that does not evaluate: check nothing but presence
        hints = {}
    docs = argument_docs(inspect.getdoc(target) or "") | argument_docs(inspect.getdoc(function) or "")
    fields: list[tuple[str, Any, Any]] = list(extra)
    for argument, parameter in signature.parameters.items():
        if argument in ("self", *skip) or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = (defaults or {}).get(argument, parameter.default)
        required = default is inspect.Parameter.empty
        default = None if required else default
        annotation = hints.get(argument, Any)
        doc = docs.get(argument, f"an argument of {getattr(target, '__qualname__', target)}.")
        fields.append((argument, omegaconf_type(annotation) if default is not None else Any,
                       setting(default, first_sentence(doc), kind=annotation, required=required,
                               example=documented_default(doc), where=argument in where)))
    namespace = {"group": group, "__module__": __name__, "declared": declared}
    if rules is not None:
        namespace["rules"] = rules
    return make_dataclass(name, fields, bases=(Settings,), namespace=namespace)


def locate(target: str) -> Any:
    """The object a dotted name (``torch.optim.SGD``) names; ImportError or AttributeError if none."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.cache
def class_settings(target: str, group: str, skip: tuple[str, ...],
                   extras: Callable[[], list[tuple[str, Any, Any]]] | None = None) -> type[Settings]:
    """The settings of the class named ``target`` (``torch.optim.SGD``) as an option of ``group``:
    ``_target_`` and ``_partial_`` (as Hydra instantiates it), ``extras()``, then its arguments."""
    kind = locate(target)
    extra = [("_target_", str, field(default=target)), ("_partial_", bool, field(default=True)),
             *(extras() if extras else [])]
    return signature_settings(kind, kind.__name__, group, skip=skip, extra=extra)


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


def preset_hint(group: str) -> str:
    """The fix for an argument another class's preset gave (``model=scratch``'s ``hidden`` to a
    network of one's own): start from the group's ``any`` option, or drop the key."""
    if group == "model":  # model.net is a plain dict: a key can go (a torch preset's schema keeps its own)
        return "; if the model preset gave it for its own class, start from model=any (model=any " \
               "model.net._target_=…), or drop it: ~{key}"
    return f"; if the {group} preset gave it for its own class, start from {group}=any ({group}=any " \
           f"{group}._target_=…)"


def takes(kind: type, argument: str) -> bool:
    """Whether the class's constructor (a network's, an optimizer's) takes ``argument`` (or any keyword)."""
    parameters = inspect.signature(kind.__init__).parameters
    return argument in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
