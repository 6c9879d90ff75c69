"""Errors that are the user's to fix: the entry points print their message, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator


class UserError(Exception):
    """A bad value, file or path; the message names it and says what to do instead."""


class ConfigError(UserError, ValueError):
    """A config value outside what the code accepts."""


def causes(err: BaseException | None) -> Iterator[BaseException]:
    """``err`` and what it was raised from (``raise … from e``, as Hydra's instantiate does)."""
    while err is not None:
        yield err
        err = err.__cause__


class Diverged(UserError):
    """The training loss stopped being finite; the message names the update and the fix."""
