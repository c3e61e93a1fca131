"""Roboflow query parameters -> neutral InferenceParams."""

from __future__ import annotations

from gateway.errors import InvalidParameter


def percent_or_fraction(name: str, raw: str | float | None, default: float) -> float:
    """Roboflow's dual scale: 0-100 percent, or a fraction when the value is below 1.

    `confidence=40` and `confidence=0.4` both mean 0.4; `1` means 1 %.
    """
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be a number, got {str(raw)[:40]!r}") from None
    if value != value or not 0.0 <= value <= 100.0:  # NaN, or out of range
        raise InvalidParameter(f"{name} must be between 0 and 100, got {str(raw)[:40]!r}")
    return value if value < 1.0 else value / 100.0
