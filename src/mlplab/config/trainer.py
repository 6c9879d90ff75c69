"""The ``trainer`` group's schema: Lightning's own ``Trainer`` arguments, read from its signature.

Lightning declares every Trainer flag once, with a type and a default; mlplab does not declare
them again. Each plain-valued argument becomes a setting: its help is the first sentence of
Lightning's docstring (its example the docstring's ``Default:``), its type Lightning's annotation
(checked by ``mlplab.config.settings``), its default Lightning's (``conf/trainer/default.yaml``
names what mlplab changes). Objects mlplab
builds itself (``logger``, ``callbacks``, ``plugins``) are not settings.
"""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import make_dataclass
from typing import Any

import lightning as L

from mlplab.config.settings import Settings, setting

BUILT_BY_MLPLAB = ("logger", "callbacks", "plugins")  # from the logger and callbacks groups
PLAIN = (int, float, bool, str)


def argument_docs(doc: str) -> dict[str, str]:
    """``{argument: its whole description}`` from the ``Args:`` block of a Google-style docstring."""
    docs, name = {}, None
    for line in doc.split("Args:", 1)[-1].splitlines():
        match = re.match(r"^    (\w+): (.*)", line)
        if match:
            name, text = match.groups()
            docs[name] = text
        elif name and line.startswith("        "):
            docs[name] += " " + line.strip()
    return docs


def first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text.replace("``", ""), maxsplit=1)[0]


def documented_default(text: str) -> Any:
    """The value after ``Default:`` in Lightning's description (``'32-true'`` → ``32-true``)."""
    match = re.search(r"Default: ``'?([^`']+)'?``", text)
    return match.group(1) if match else None


def omegaconf_type(annotation: Any) -> Any:
    """What Hydra can enforce while merging: plain types and ``X | None``; ``Any`` for the unions
    Lightning allows (``int | float``, ``str | Accelerator``, …), which ``check`` enforces."""
    if annotation in PLAIN:
        return annotation
    args = typing.get_args(annotation)
    if len(args) == 2 and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        if inner in PLAIN:
            return inner | None
    return Any


def trainer_rules(self: Settings) -> None:
    """mlplab's rule on top of Lightning's types: a whole number of epochs (schedules and the
    divergence guard count them)."""
    epochs = self.max_epochs  # type: ignore[attr-defined]
    if epochs is None or epochs < 1:
        self.fail("max_epochs", "must be a whole number of epochs ≥ 1", example=10)


def trainer_settings_class() -> type[Settings]:
    """A dataclass with one field per plain-valued ``lightning.Trainer`` argument."""
    signature = inspect.signature(L.Trainer.__init__)
    hints = typing.get_type_hints(L.Trainer.__init__)
    docs = argument_docs(inspect.getdoc(L.Trainer.__init__) or "")
    fields: list[tuple[str, Any, Any]] = [("_target_", str, "lightning.pytorch.Trainer")]
    for name, parameter in signature.parameters.items():
        if name == "self" or name in BUILT_BY_MLPLAB:
            continue
        annotation = hints.get(name, Any)
        fields.append((name, omegaconf_type(annotation),
                       setting(parameter.default, first_sentence(docs.get(name, "A Trainer argument.")),
                               kind=annotation, example=documented_default(docs.get(name, "")))))
    return make_dataclass("TrainerSettings", fields, bases=(Settings,),
                          namespace={"group": "trainer", "rules": trainer_rules, "__module__": __name__})


TrainerSettings = trainer_settings_class()
