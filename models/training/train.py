"""Train one of the bundled shape models on CPU, export it to ONNX and evaluate the export.

Usage (from the repository root)::

    python -m models.training.train --task detect|segment|semantic|classify \\
        [--epochs N] [--samples N] [--out PATH]

The training set is generated in memory from ``TRAIN_SEED`` (sample ``i`` uses
``default_rng([TRAIN_SEED, i])``), augmented with random flips / transposes, and the model is
trained with AdamW, a one-cycle learning rate, bf16 autocast and an EMA of the weights. The EMA
weights are exported (opset 17, dynamic batch), Ultralytics-style metadata is written into the
file, and the export is evaluated with onnxruntime on held-out data (``HELDOUT_SEED``). A JSON
summary is written to ``models/training/results/<task>.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from models.training import data, evaluate, losses, nets, scenes

MODELS_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
OPSET = 17
VERSION = "1.0.0"
TASK_FILES = evaluate.MODEL_FILES


@dataclass(frozen=True)
class Recipe:
    """Default training hyper-parameters of one task."""

    samples: int
    epochs: int
    batch: int
    lr: float
    imgsz: int


RECIPES: dict[str, Recipe] = {
    "detect": Recipe(samples=5000, epochs=8, batch=16, lr=3e-3, imgsz=data.IMGSZ),
    "segment": Recipe(samples=5000, epochs=12, batch=16, lr=3e-3, imgsz=data.IMGSZ),
    "semantic": Recipe(samples=5000, epochs=8, batch=16, lr=3e-3, imgsz=data.IMGSZ),
    "classify": Recipe(samples=24000, epochs=6, batch=64, lr=3e-3, imgsz=data.CLS_IMGSZ),
}
EXTRA_EVALUATIONS: dict[str, tuple[tuple[float, float], ...]] = {
    "detect": ((0.001, 0.6),),
    "segment": ((0.001, 0.6), (0.4, 0.3)),
}
"""Extra (confidence, NMS IoU) operating points: benchmarks/accuracy.py's mAP and served ones."""
DESCRIPTIONS = {
    "detect": "Tiny anchor-free shape detector (circle, triangle, square, star)",
    "segment": "Tiny anchor-free shape instance segmenter (circle, triangle, square, star)",
    "semantic": "Tiny U-Net shape semantic segmenter (background + 4 shapes)",
    "classify": "Tiny CNN shape classifier (circle, triangle, square, star)",
}


# --------------------------------------------------------------------------- utilities


class EMA:
    """Exponential moving average of a model's floating-point state (weights and BN stats)."""

    def __init__(self, model: nn.Module, decay: float = 0.998, tau: float = 300.0) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay, self.tau, self.updates = decay, tau, 0
        for param in self.model.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights of ``model`` into the average."""
        self.updates += 1
        decay = self.decay * (1.0 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(current[name].detach(), alpha=1.0 - decay)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy."""
    torch.manual_seed(seed)
    np.random.seed(seed)


def optimizer_for(model: nn.Module, lr: float, weight_decay: float = 5e-4) -> torch.optim.AdamW:
    """AdamW with weight decay on conv/linear weights only."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )


def one_cycle(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to 2 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))


def epoch_batches(
    count: int, batch: int, epochs: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Shuffled index batches over ``epochs`` passes (last partial batch dropped)."""
    for _ in range(epochs):
        order = rng.permutation(count)
        for start in range(0, count - batch + 1, batch):
            yield order[start : start + batch]


def random_dihedral(rng: np.random.Generator) -> tuple[bool, bool, bool]:
    """A random element of the 8 flips/transposes of a square."""
    flip_x, flip_y, transpose = (bool(v) for v in rng.integers(0, 2, 3))
    return flip_x, flip_y, transpose


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 BGR -> channels-last ``(B, 3, H, W)`` float RGB 0..1."""
    return torch.from_numpy(data.to_input(images)).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- batches


def detection_batch(
    dataset: data.SceneSet, indices: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, list[losses.Targets]]:
    """Augmented images and per-image targets."""
    images, targets = [], []
    for index in indices:
        flips = random_dihedral(rng)
        image = np.moveaxis(
            data.dihedral_array(np.moveaxis(dataset.images[index], 2, 0), *flips), 0, 2
        )
        images.append(image)
        masks = data.dihedral_array(dataset.masks[index], *flips).astype(np.float32) / 255.0
        targets.append(
            losses.Targets(
                boxes=torch.from_numpy(data.dihedral_boxes(dataset.boxes[index], size, *flips)),
                class_ids=torch.from_numpy(dataset.class_ids[index]),
                masks=torch.from_numpy(masks),
            )
        )
    return to_tensor(np.stack(images)), targets


def semantic_batch(
    dataset: data.SceneSet, indices: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented images and ``(B, H, W)`` long label maps."""
    assert dataset.semantic is not None
    images, labels = [], []
    for index in indices:
        flips = random_dihedral(rng)
        images.append(
            np.moveaxis(data.dihedral_array(np.moveaxis(dataset.images[index], 2, 0), *flips), 0, 2)
        )
        labels.append(data.dihedral_array(dataset.semantic[index], *flips))
    return to_tensor(np.stack(images)), torch.from_numpy(np.stack(labels).astype(np.int64))


def classify_batch(
    images: np.ndarray, labels: np.ndarray, indices: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented crops and labels."""
    flips = random_dihedral(rng)
    batch = np.moveaxis(data.dihedral_array(np.moveaxis(images[indices], 3, 1), *flips), 1, 3)
    return to_tensor(batch), torch.from_numpy(labels[indices])


# --------------------------------------------------------------------------- training


LossFn = Callable[[np.ndarray, np.random.Generator], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Stage:
    """One training run: data range, length, peak learning rate and optional initial weights."""

    samples: int
    epochs: int
    lr: float
    offset: int = 0
    init: Path | None = None


def fit(
    model: nn.Module, loss_fn: LossFn, recipe: Recipe, stage: Stage, log_every: int = 50
) -> EMA:
    """Generic loop: bf16 autocast forward, fp32 loss, AdamW, one-cycle LR, EMA."""
    count, epochs = stage.samples, stage.epochs
    if stage.init is not None:
        model.load_state_dict(torch.load(stage.init, weights_only=True))
    rng = np.random.default_rng([scenes.TRAIN_SEED, stage.offset])
    optimizer = optimizer_for(model, stage.lr)
    total = epochs * (count // recipe.batch)
    warmup = min(300, total // 10)
    ema = EMA(model)
    model.train()
    start = time.time()
    running: dict[str, float] = {}
    for step, indices in enumerate(epoch_batches(count, recipe.batch, epochs, rng)):
        for group in optimizer.param_groups:
            group["lr"] = stage.lr * one_cycle(step, total, warmup)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            parts = loss_fn(indices, rng)
        optimizer.zero_grad(set_to_none=True)
        parts["total"].backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        ema.update(model)
        for name, value in parts.items():
            running[name] = running.get(name, 0.0) * 0.9 + float(value.detach()) * 0.1
        if (step + 1) % log_every == 0 or step + 1 == total:
            elapsed = time.time() - start
            text = " ".join(f"{k}={v:.4f}" for k, v in running.items())
            print(
                f"step {step + 1}/{total} epoch {step * recipe.batch // count + 1} {text} "
                f"{(step + 1) * recipe.batch / elapsed:.1f} img/s {elapsed / 60:.1f} min",
                flush=True,
            )
    return ema


def train_detector(recipe: Recipe, stage: Stage, with_masks: bool) -> nn.Module:
    """Train the detector (``with_masks``: the instance segmenter); returns the EMA model."""
    dataset = data.build_scene_set(
        scenes.TRAIN_SEED, stage.samples, recipe.imgsz, offset=stage.offset
    )
    print(f"generated {stage.samples} scenes", flush=True)
    model = build_model("segment" if with_masks else "detect")
    model = model.to(memory_format=torch.channels_last)
    assert isinstance(model, nets.ShapeDetector)
    generator = torch.Generator().manual_seed(scenes.TRAIN_SEED)

    def loss_fn(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        images, targets = detection_batch(dataset, indices, recipe.imgsz, rng)
        raw = model.raw(images)
        raw = nets.RawOutput(
            *(
                None if t is None else t.float()
                for t in (raw.distances, raw.logits, raw.coefs, raw.protos, raw.aux)
            )
        )
        return losses.detection_loss(raw, model.anchors, model.anchor_strides, targets, generator)

    return fit(model, loss_fn, recipe, stage).model


def train_semantic(recipe: Recipe, stage: Stage) -> nn.Module:
    """Train the semantic segmenter; returns the EMA model."""
    dataset = data.build_scene_set(
        scenes.TRAIN_SEED, stage.samples, recipe.imgsz, with_semantic=True, offset=stage.offset
    )
    print(f"generated {stage.samples} scenes", flush=True)
    model = build_model("semantic").to(memory_format=torch.channels_last)
    assert isinstance(model, nets.ShapeSegmenter)

    def loss_fn(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        images, labels = semantic_batch(dataset, indices, rng)
        logits, aux = model.forward_train(images)
        return losses.semantic_loss(logits.float(), labels, aux.float())

    return fit(model, loss_fn, recipe, stage).model


def train_classifier(recipe: Recipe, stage: Stage) -> nn.Module:
    """Train the classifier; returns the EMA model."""
    assert stage.offset == 0, "crop offsets are not supported"
    images, labels = data.build_crop_set(scenes.TRAIN_SEED, stage.samples, recipe.imgsz)
    print(f"generated {stage.samples} crops", flush=True)
    model = build_model("classify").to(memory_format=torch.channels_last)

    def loss_fn(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        batch, targets = classify_batch(images, labels, indices, rng)
        loss = nn.functional.cross_entropy(model(batch).float(), targets)
        return {"total": loss}

    return fit(model, loss_fn, recipe, stage).model


# --------------------------------------------------------------------------- export


def metadata(task: str, imgsz: int) -> dict[str, str]:
    """Ultralytics-style ``metadata_props``."""
    names = dict(enumerate(scenes.CLASSES))
    if task == "semantic":
        names = dict(enumerate(("background", *scenes.CLASSES)))
    return {
        "description": DESCRIPTIONS[task],
        "author": "gateway project",
        "version": VERSION,
        "license": "MIT",
        "task": task,
        "stride": "32",
        "batch": "1",
        "imgsz": str([imgsz, imgsz]),
        "names": str(names),
    }


def export_onnx(model: nn.Module, task: str, imgsz: int, path: Path) -> None:
    """Export in eval mode (opset 17, dynamic batch) and write the metadata."""
    model = model.float().to(memory_format=torch.contiguous_format).eval()
    outputs = ["output0", "output1"] if task == "segment" else ["output0"]
    dynamic = {name: {0: "batch"} for name in ["images", *outputs]}
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy exporter, on purpose
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=outputs,
            opset_version=OPSET,
            dynamic_axes=dynamic,
            dynamo=False,
            do_constant_folding=True,
        )
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata(task, imgsz).items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    _set_static_output_shapes(proto, path, imgsz)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _set_static_output_shapes(proto: onnx.ModelProto, path: Path, imgsz: int) -> None:
    """Replace exporter-generated symbolic output dims (all but batch) by their values."""
    import onnxruntime as ort  # local: only needed at export time

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    values = sess.run(None, {"images": np.zeros((1, 3, imgsz, imgsz), np.float32)})
    for output, value in zip(proto.graph.output, values, strict=True):
        dims = output.type.tensor_type.shape.dim
        for axis in range(1, len(dims)):
            dims[axis].Clear()
            dims[axis].dim_value = value.shape[axis]


def build_model(task: str) -> nn.Module:
    """A fresh (untrained) network for ``task``."""
    classes = len(scenes.CLASSES)
    if task in ("detect", "segment"):
        return nets.ShapeDetector(classes, data.IMGSZ, with_masks=task == "segment")
    if task == "semantic":
        return nets.ShapeSegmenter(classes + 1)
    return nets.ShapeClassifier(classes)


# --------------------------------------------------------------------------- CLI


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="number of generated training scenes (crops for classify)",
    )
    parser.add_argument("--out", type=Path, default=None, help="ONNX output path")
    parser.add_argument(
        "--eval-count", type=int, default=None, help="held-out scenes (crops) for the evaluation"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="where to save the EMA state dict (default /tmp/shapes-<task>.pt)",
    )
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from this state dict (fine-tuning stage)"
    )
    parser.add_argument(
        "--sample-offset",
        type=int,
        default=0,
        help="first training scene index (fresh scenes for a fine-tuning stage)",
    )
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="skip training: export and evaluate the saved checkpoint",
    )
    return parser.parse_args()


def onnx_parameters(path: Path) -> int:
    """Number of weights stored in an ONNX file (BatchNorm folded, training-only heads gone)."""
    proto = onnx.load(str(path))
    return sum(int(np.prod(init.dims)) for init in proto.graph.initializer)


def evaluate_all(task: str, path: Path, count: int | None) -> dict[str, object]:
    """The default evaluation plus the extra operating points of ``EXTRA_EVALUATIONS``."""
    metrics: dict[str, object] = dict(evaluate.evaluate(task, path, count))
    for conf, iou in EXTRA_EVALUATIONS.get(task, ()):
        key = f"conf={conf},nms_iou={iou}"
        metrics[key] = evaluate.evaluate(task, path, count, conf, iou)
    return metrics


def main() -> None:
    """Train (or load the checkpoint), export, evaluate, and write ``results/<task>.json``."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(scenes.TRAIN_SEED)
    recipe = RECIPES[args.task]
    out = args.out or MODELS_DIR / TASK_FILES[args.task]
    checkpoint = args.checkpoint or Path(f"/tmp/shapes-{args.task}.pt")
    results = RESULTS_DIR / f"{args.task}.json"
    stage = Stage(
        samples=args.samples or recipe.samples,
        epochs=args.epochs or recipe.epochs,
        lr=args.lr or recipe.lr,
        offset=args.sample_offset,
        init=args.init,
    )
    summary: dict[str, object] = {
        "task": args.task,
        "batch": recipe.batch,
        "imgsz": recipe.imgsz,
        "train_seed": scenes.TRAIN_SEED,
        "heldout_seed": scenes.HELDOUT_SEED,
        "threads": args.threads,
        "torch": torch.__version__,
        "stages": [],
    }
    if (args.export_only or args.init) and results.exists():  # keep the earlier record
        summary = json.loads(results.read_text())
    start = time.time()
    if args.export_only:
        model = build_model(args.task)
        model.load_state_dict(torch.load(checkpoint, weights_only=True))
    else:
        if args.task in ("detect", "segment"):
            model = train_detector(recipe, stage, with_masks=args.task == "segment")
        elif args.task == "semantic":
            model = train_semantic(recipe, stage)
        else:
            model = train_classifier(recipe, stage)
        minutes = round((time.time() - start) / 60.0, 2)
        stages = summary.setdefault("stages", [])
        assert isinstance(stages, list)
        stages.append(
            {
                "samples": stage.samples,
                "sample_offset": stage.offset,
                "epochs": stage.epochs,
                "lr": stage.lr,
                "init": None if stage.init is None else "previous stage",
                "wall_minutes": minutes,
            }
        )
        summary["train_wall_minutes"] = round(sum(s["wall_minutes"] for s in stages), 2)
        torch.save(model.state_dict(), checkpoint)
    export_onnx(model, args.task, recipe.imgsz, out)
    summary.update(
        {
            "onnx": out.name,
            "onnx_bytes": out.stat().st_size,
            "parameters": onnx_parameters(out),
            "metrics": evaluate_all(args.task, out, args.eval_count),
        }
    )
    print(json.dumps(summary, indent=2), flush=True)
    if args.out is None:
        RESULTS_DIR.mkdir(exist_ok=True)
        results.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
