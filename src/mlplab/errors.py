"""Errors that are the user's to fix: the entry points print their message, not a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A bad value, file or path; the message names it and says what to do instead."""


class ConfigError(UserError, ValueError):
    """A config value outside what the code accepts."""


def user_error_in(err: BaseException) -> UserError | None:
    """The ``UserError`` behind ``err``, also when Hydra's ``instantiate`` wrapped it."""
    while err is not None:
        if isinstance(err, UserError):
            return err
        err = err.__cause__ or err.__context__
    return None
