"""Write the model cards ``models/shapes-*.md`` from ``models/training/results/*.json``.

Usage (from the repository root, after training)::

    python -m models.training.make_cards

The ONNX files are inspected with onnxruntime for the input/output shapes. An existing
``## Accuracy (benchmarks/accuracy.py)`` section of a card is kept as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort

from models.training import scenes
from models.training.evaluate import CONF_THRESHOLD, NMS_IOU

MODELS_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ACCURACY_HEADING = "## Accuracy (benchmarks/accuracy.py)"
CARD_NAMES = {
    "detect": "shapes-detect",
    "segment": "shapes-seg",
    "semantic": "shapes-semantic",
    "classify": "shapes-cls",
}

LETTERBOX = (
    "Letterbox (Ultralytics style) into 320 x 320: `r = min(320 / h, 320 / w)`, resize to "
    "`(round(w * r), round(h * r))` with `cv2.INTER_LINEAR`, pad evenly (left = `(320 - new_w) "
    "// 2`, top = `(320 - new_h) // 2`) with 114 on all channels; BGR -> RGB, divide by 255, "
    "NCHW float32."
)
CLASSIFY_PRE = (
    "Resize the shortest side to 96 with `cv2.INTER_LINEAR` and centre-crop 96 x 96; BGR -> "
    "RGB, divide by 255, NCHW float32."
)
BACKBONE = (
    "Backbone: 3x3 stride-2 ConvBN-SiLU stem (16 ch), then four stride-2 stages (32, 64, 96, "
    "128 ch) each followed by a residual block (two 3x3 ConvBN for the 32/64 stages, a 1x1-3x3-1x1 "
    "bottleneck for the 96/128 stages); BatchNorm is folded into the convolutions at export."
)

ARCHITECTURE = {
    "detect": (
        f"{BACKBONE} Neck: top-down FPN (48 ch) over strides 8, 16, 32. Head: anchor-free "
        "(FCOS / YOLOv8-like), one tower of two 3x3 ConvBN shared by all levels, a 1x1 conv to "
        "4 ltrb distances (softplus x stride) + 4 class logits. Anchor points are the cell "
        "centres of the three levels (40x40 + 20x20 + 10x10 = 2100); boxes are decoded to "
        "centre-x, centre-y, width, height in the graph and class scores pass through a sigmoid. "
        "Training: mask-aware centre sampling with per-level size ranges, GIoU box loss, "
        "quality focal loss whose target is the IoU of the predicted box."
    ),
    "segment": (
        f"{BACKBONE} Neck and box/class head as `shapes-detect` (48-ch FPN, shared tower); a "
        "separate shared branch (3x3 ConvBN, 1x1 conv) predicts the 32 raw mask coefficients "
        "per anchor. Prototypes (YOLACT / YOLOv8-seg style): the stride-8 FPN level goes "
        "through two 3x3 ConvBN (32 ch), is upsampled bilinearly to stride 4, added to a 1x1 "
        "projection of the stride-4 backbone features, refined by a 3x3 ConvBN and projected "
        "to 32 prototypes. Mask loss, for each positive anchor (at most 96 per image): BCE "
        "between sigmoid(coefficients . prototypes) and the soft GT visible mask at 80 x 80, "
        "cropped to the GT box (plus one prototype pixel) and normalised by the crop area, "
        "plus a soft Dice term; a training-only 1x1 semantic classifier on the prototype "
        "features adds an auxiliary cross-entropy (not exported)."
    ),
    "semantic": (
        f"{BACKBONE} Context: two dilated (2, 4) residual bottlenecks and a global-average "
        "context term on the stride-32 features. Decoder: top-down FPN (48 ch) over strides "
        "4..32, a 2x transposed conv to stride 2 fused with the stem features, a 3x3 ConvBN "
        "and a 1x1 classifier, then a bilinear 2x upsampling of the logits to 320 x 320 in the "
        "graph. Loss: cross-entropy + 0.5 soft Dice at 320 x 320, plus a training-only "
        "deep-supervision cross-entropy on the stride-16 FPN level (not exported)."
    ),
    "classify": (
        "3x3 stride-2 ConvBN stem (16 ch), three stride-2 stages (32, 64, 96 ch) with residual "
        "blocks, global average pooling, linear layer, softmax in the graph. Loss: "
        "cross-entropy."
    ),
}

OUTPUTS = {
    "detect": (
        "`output0` `[batch, 8, 2100]`: rows 0-3 are box centre x, centre y, width, height in "
        "letterboxed input pixels; rows 4-7 are per-class scores (already sigmoid, 0..1). "
        "No NMS in the graph (YOLOv8 detect layout)."
    ),
    "segment": (
        "`output0` `[batch, 40, 2100]`: rows 0-3 box centre x, centre y, width, height (input "
        "pixels), rows 4-7 class scores (sigmoid), rows 8-39 the 32 raw mask coefficients. "
        "`output1` `[batch, 32, 80, 80]` mask prototypes. An instance mask is "
        "sigmoid(coefficients . prototypes) at 80 x 80, prototype pixel (i, j) covering input "
        "pixels [4i, 4i+4) x [4j, 4j+4) (YOLOv8-seg layout)."
    ),
    "semantic": (
        "`output0` `[batch, 5, 320, 320]`: raw logits at input resolution, label 0 = "
        "background, 1 + class id for the shapes (argmax over axis 1)."
    ),
    "classify": "`output0` `[batch, 4]`: softmax probabilities (sum to 1).",
}

POSTPROCESS = {
    "detect": (
        f"Training-side post-processing: confidence {CONF_THRESHOLD} on the best class score, "
        f"class-aware NMS at IoU {NMS_IOU}, at most 100 boxes, then undo the letterbox "
        "(`(x - left) / r`, `(y - top) / r`, clipped to the image)."
    ),
    "segment": (
        f"Boxes as for `shapes-detect` (confidence {CONF_THRESHOLD}, class-aware NMS IoU "
        f"{NMS_IOU}). Masks: sigmoid(coefficients . prototypes), bilinear upsampling x4 to 320 x "
        "320, crop to the predicted box, threshold 0.5, remove the padding and resize to the "
        "original image size."
    ),
    "semantic": (
        "Remove the padding from the logits, resize them bilinearly to the original size, argmax."
    ),
    "classify": "Argmax of the probabilities.",
}

LIMITATIONS = {
    "detect": (
        "Only the synthetic shape domain. Most misses are heavily occluded objects (at least 35 %"
        " visible by construction) and objects under about 20 input pixels; triangles are the "
        "weakest class."
    ),
    "segment": (
        "Only the synthetic shape domain. Masks are at 80 x 80 prototype resolution: objects "
        "under about 24 input pixels reach a mask IoU near 0.8 at best, and in heavy occlusion "
        "masks can leak into, or lose parts to, neighbouring shapes inside the box."
    ),
    "semantic": (
        "Only the synthetic shape domain; most errors are along shape boundaries and on heavily "
        "occluded shapes (triangle is the weakest class)."
    ),
    "classify": "Only the synthetic shape domain (one dominant shape per crop).",
}

METRIC_LABELS = {
    "mAP50": "box mAP@0.5 (VOC all-point, mean over 4 classes)",
    "mask_IoU": "mean mask IoU over GT instances (unmatched = 0)",
    "mIoU": "mIoU (5 labels incl. background, original resolution)",
    "top1": "top-1 accuracy",
}


def _shape(dims: list[object]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def io_summary(path: Path) -> tuple[str, str]:
    """Input and output signatures as onnxruntime reports them."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = ", ".join(f"`{i.name}` {i.type} {_shape(i.shape)}" for i in sess.get_inputs())
    outputs = ", ".join(f"`{o.name}` {o.type} {_shape(o.shape)}" for o in sess.get_outputs())
    return inputs, outputs


def metrics_table(metrics: dict[str, object]) -> str:
    """A markdown table: headline metrics first, then per-class values, then the extra
    operating points (confidence / NMS IoU) if any."""
    rows = ["| metric | value |", "| --- | --- |"]
    values = {k: v for k, v in metrics.items() if isinstance(v, float)}
    ordered = [k for k in METRIC_LABELS if k in values]
    ordered += [k for k in values if k not in METRIC_LABELS]
    rows += [f"| {METRIC_LABELS.get(k, k)} | {values[k]:.4f} |" for k in ordered]
    for key, extra in metrics.items():
        if isinstance(extra, dict):
            for name in METRIC_LABELS:
                if name in extra:
                    rows.append(f"| {METRIC_LABELS[name]}, {key} | {extra[name]:.4f} |")
    return "\n".join(rows)


def _stages(result: dict[str, object]) -> list[dict[str, object]]:
    stages = result["stages"]
    assert isinstance(stages, list)
    return stages


def stages_text(task: str, result: dict[str, object]) -> str:
    """One bullet per training stage."""
    unit = "crops" if task == "classify" else "scenes"
    lines = []
    for number, stage in enumerate(_stages(result), start=1):
        first = int(stage["sample_offset"])  # type: ignore[call-overload]
        last = first + int(stage["samples"]) - 1  # type: ignore[call-overload]
        start = "from scratch" if stage["init"] is None else f"from stage {number - 1}"
        lines.append(
            f"- Stage {number}: {unit} {first}..{last}, {stage['epochs']} epochs, "
            f"peak lr {stage['lr']}, {start}, {stage['wall_minutes']} min."
        )
    return "\n".join(lines)


def commands_text(task: str, result: dict[str, object]) -> str:
    """The command line of each training stage."""
    lines = []
    for stage in _stages(result):
        line = f"python -m models.training.train --task {task}"
        if stage["init"] is not None:
            line += (
                f" --init /tmp/shapes-{task}.pt --samples {stage['samples']}"
                f" --sample-offset {stage['sample_offset']} --epochs {stage['epochs']}"
                f" --lr {stage['lr']}"
            )
        lines.append(line)
    return "\n".join(lines)


def notes_text(result: dict[str, object]) -> str:
    """Free-form notes of the results file, one bullet each (empty if none)."""
    notes = result.get("notes", [])
    assert isinstance(notes, list)
    return "".join(f"- Note: {note}\n" for note in notes)


def card(task: str, result: dict[str, object], existing: str | None) -> str:
    """Render one model card."""
    name = CARD_NAMES[task]
    path = MODELS_DIR / f"{name}.onnx"
    inputs, outputs = io_summary(path)
    metrics = result["metrics"]
    assert isinstance(metrics, dict)
    if task == "classify":
        classes = ", ".join(f"{i}: {n}" for i, n in enumerate(scenes.CLASSES))
        evaluated = f"{metrics['crops']} crops"
        data = (
            f"generated crops (`scenes.make_crop`, crop `i` from "
            f"`default_rng([{result['train_seed']}, i])`, sides 64-160, one dominant "
            "shape, half with a partial distractor), random flips/transposes"
        )
    else:
        labels = ("background", *scenes.CLASSES) if task == "semantic" else scenes.CLASSES
        classes = ", ".join(f"{i}: {n}" for i, n in enumerate(labels))
        count = metrics["scenes"]
        objects = f", {metrics['objects']} objects" if "objects" in metrics else ""
        evaluated = f"{count} scenes{objects}"
        data = (
            f"generated scenes (`scenes.make_scene`, scene `i` from "
            f"`default_rng([{result['train_seed']}, i])`), letterboxed once, random "
            "flips/transposes at every step"
        )
    size_kib = int(result["onnx_bytes"]) / 1024  # type: ignore[call-overload]
    accuracy = f"{ACCURACY_HEADING}\n\nTBD\n"
    if existing and ACCURACY_HEADING in existing:
        accuracy = existing[existing.index(ACCURACY_HEADING) :]
        nxt = accuracy.find("\n## ", len(ACCURACY_HEADING))
        accuracy = accuracy if nxt < 0 else accuracy[: nxt + 1]
    pre = CLASSIFY_PRE if task == "classify" else LETTERBOX
    return f"""# {name}

Tiny {task} model for the procedural "coloured shapes" scenes of
`models/training/scenes.py`, trained from scratch on CPU (no pretrained weights). It is a test
and demo model for the gateway, not a general-purpose detector.

- File: `models/{name}.onnx`, {size_kib:.0f} KiB, opset 17, dynamic batch axis `batch`
- Task metadata: `{task}`; classes (`names`): {classes}
- Parameters: {result["parameters"]:,} (weights in the ONNX file, BatchNorm folded)

## Input and pre-processing

onnxruntime: {inputs}

{pre}

## Outputs

onnxruntime: {outputs}

{OUTPUTS[task]}

{POSTPROCESS[task]}

## Architecture

{ARCHITECTURE[task]}

## Training

- Data: {data}.
- Optimisation: batch {result["batch"]}, AdamW (weight decay 5e-4), linear warm-up + cosine
  decay of the learning rate, bf16 autocast, EMA of the weights (the EMA is exported).
{stages_text(task, result)}
- Wall time: {result["train_wall_minutes"]} min in total, including the in-memory data
  generation, on a shared 2-core CPU (AMD EPYC, AVX-512 BF16), {result["threads"]} torch
  threads, torch {result.get("torch", "2.13.0+cpu")}.
{notes_text(result)}- Commands (from the repository root; see `models/training/README.md`):

```sh
{commands_text(task, result)}
```

## Metrics

Training-side evaluation (onnxruntime + numpy, {evaluated}, seed HELDOUT_SEED =
{result["heldout_seed"]}), as printed by `python -m models.training.evaluate --task {task}`
(confidence {CONF_THRESHOLD} and class-aware NMS IoU {NMS_IOU} unless the row says otherwise;
`conf=0.001,nms_iou=0.6` is the operating point of a full-range mAP,
`conf=0.4,nms_iou=0.3` the gateway's served defaults):

{metrics_table(metrics)}

## Limitations

{LIMITATIONS[task]}

{accuracy}"""


def main() -> None:
    """Render every card whose results file exists."""
    for task, name in CARD_NAMES.items():
        result_path = RESULTS_DIR / f"{task}.json"
        if not result_path.exists():
            print(f"skip {task}: no {result_path}")
            continue
        result = json.loads(result_path.read_text())
        target = MODELS_DIR / f"{name}.md"
        existing = target.read_text() if target.exists() else None
        target.write_text(card(task, result, existing))
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
