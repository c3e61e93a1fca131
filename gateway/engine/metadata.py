"""Ultralytics-style ONNX metadata: `names`, `imgsz`, `task`, `stride`.

Ultralytics writes these as strings into `metadata_props`, e.g. names as the repr of a
dict `{0: 'person', 1: 'bicycle'}` and imgsz as `[640, 640]`. They are parsed with
`ast.literal_eval`, never `eval`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import ModelError


@dataclass(frozen=True)
class ExportMetadata:
    """What an export says about itself; None where it says nothing."""

    names: tuple[str, ...] | None = None
    imgsz: tuple[int, int] | None = None  # (height, width)
    task: str | None = None
    stride: int | None = None
    end2end: bool = False


def _literal(key: str, text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ModelError(f"metadata '{key}' is not a literal: {text[:80]!r}") from None


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        return tuple(str(value[k]) for k in sorted(value, key=int))
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise ModelError(f"metadata 'names' must be a dict or list, got {type(value).__name__}")


def _imgsz(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ModelError(f"metadata 'imgsz' must be an int or [h, w], got {value!r}")


def parse_metadata(props: Mapping[str, str]) -> ExportMetadata:
    """Read the Ultralytics keys from an ONNX model's metadata_props."""
    args = _literal("args", props["args"]) if "args" in props else {}
    end2end = props.get("end2end", "").strip().lower() == "true" or bool(
        isinstance(args, Mapping) and args.get("nms")
    )
    return ExportMetadata(
        names=_names(_literal("names", props["names"])) if "names" in props else None,
        imgsz=_imgsz(_literal("imgsz", props["imgsz"])) if "imgsz" in props else None,
        task=props.get("task"),
        stride=int(float(props["stride"])) if "stride" in props else None,
        end2end=end2end,
    )
