"""Roboflow query parameters -> a parsed, validated query (no HTTP objects here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import InvalidParameter
from gateway.params import InferenceParams

FORMATS = ("json", "image", "image_and_json")
DEFAULT_CONFIDENCE = 0.4  # confidence=40
DEFAULT_OVERLAP = 0.3  # overlap=30


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


def _integer(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}, got {value}")
    return value


def _boolean(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise InvalidParameter(f"{name} must be true or false, got {raw[:40]!r}")


@dataclass(frozen=True)
class RoboflowQuery:
    """Everything a hosted-route query string says, validated."""

    params: InferenceParams
    format: str = "json"
    labels: bool = False
    stroke: int = 1
    image_url: str | None = None


def parse_query(query: Mapping[str, str]) -> RoboflowQuery:
    """Read the hosted routes' parameters; unknown ones (e.g. `name`) are ignored."""
    classes = query.get("classes")
    fmt = (query.get("format") or "json").strip().lower()
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}, got {fmt[:40]!r}")
    params = InferenceParams(
        confidence=percent_or_fraction("confidence", query.get("confidence"), DEFAULT_CONFIDENCE),
        iou=percent_or_fraction("overlap", query.get("overlap"), DEFAULT_OVERLAP),
        classes=frozenset(c.strip() for c in classes.split(",") if c.strip()) if classes else None,
        max_detections=_integer("max_detections", query.get("max_detections"), 300, 1, 10_000),
    )
    return RoboflowQuery(
        params=params,
        format=fmt,
        labels=_boolean("labels", query.get("labels")),
        stroke=_integer("stroke", query.get("stroke"), 1, 1, 50),
        image_url=query.get("image") or None,
    )
