"""Range checks for the ``data.*`` settings, with messages that name the key and the fix."""

from __future__ import annotations

from mlplab.errors import ConfigError


def check(key: str, value: object, low: float, high: float | None = None, note: str = "",
          integer: bool = True) -> None:
    """Raise ``ConfigError`` naming ``data.<key>`` unless ``value`` is a number in ``low..high``."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ConfigError(f"data.{key}={value!r} is not {kind}; set data.{key} to {kind} ≥ {low}")
    if high is not None and not low <= value <= high:
        raise ConfigError(f"data.{key}={value} is outside {low}..{high}{note}; "
                          f"set data.{key} to a value in {low}..{high}")
    if value < low:
        raise ConfigError(f"data.{key}={value} is below {low}{note}; set data.{key} to {low} or more")
