"""Train the tiny foreground-matting model on CPU, export it to ONNX and evaluate the export.

Usage (from the repository root)::

    python -m models.training.train_matting [--epochs N] [--samples N]
        [--out models/shapes-matte.onnx]

The foreground is every object pixel of a generated scene; the target is the soft alpha of
:func:`models.training.evaluate_matting.soft_alpha`, letterboxed like the image. Scene ``i`` of
the training set uses ``default_rng([TRAIN_SEED, i])`` (the same scenes as the other bundled
models). The network is the semantic segmenter of ``nets.py`` (narrower at strides 16 and 32)
with a single output channel: raw logits, alpha = sigmoid(logit). It is trained with the shared
loop of ``train.py`` (random flips/transposes, AdamW, one-cycle LR, bf16 autocast, EMA) on BCE
to the soft alpha, a per-image soft Dice and a stride-16 deep-supervision BCE. The EMA weights
are exported with the shared exporter (opset 17, dynamic batch), the metadata is replaced by
the matting metadata, and the export is evaluated with onnxruntime on ``HELDOUT_SEED`` scenes.
Training with the default output path writes ``models/training/results/matting.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as nnf
from torch import nn

from models.training import data, evaluate_matting, nets, scenes, train

MODELS_DIR = Path(__file__).resolve().parents[1]
DEFAULT_OUT = MODELS_DIR / evaluate_matting.MODEL_FILE
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "matting.json"
DEFAULT_CHECKPOINT = Path("/tmp/shapes-matte.pt")
RECIPE = train.Recipe(samples=5000, epochs=6, batch=16, lr=3e-3, imgsz=data.IMGSZ)
WIDTHS = (16, 32, 64, 80, 96)
"""Backbone widths: the semantic model's, narrower at strides 16 and 32 (file < 2 MB)."""
DICE_WEIGHT = 0.5
AUX_WEIGHT = 0.5
DESCRIPTION = "Tiny U-Net foreground matte of the shapes scenes (any object is foreground)"


@dataclass
class MatteSet:
    """Letterboxed training scenes and their soft alphas."""

    images: np.ndarray
    """``(N, S, S, 3)`` uint8 BGR."""
    alphas: np.ndarray
    """``(N, S, S)`` uint8 soft alpha (255 = foreground)."""


# --------------------------------------------------------------------------- data


def _prepare_scene(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Generate scene ``index`` of ``seed``: letterboxed image and uint8 soft alpha."""
    seed, index, size = args
    scene = scenes.make_scene(np.random.default_rng([seed, index]))
    image, geometry = data.letterbox(scene.image, size)
    alpha = evaluate_matting.letterbox_alpha(
        evaluate_matting.soft_alpha(scene.semantic), geometry, size
    )
    return image, np.round(alpha * 255.0).astype(np.uint8)


def build_matte_set(seed: int, count: int, size: int = data.IMGSZ, workers: int = 2) -> MatteSet:
    """Generate ``count`` training scenes in parallel (scene ``i`` from ``[seed, i]``)."""
    jobs = [(seed, index, size) for index in range(count)]
    with get_context("fork").Pool(workers) as pool:
        items = pool.map(_prepare_scene, jobs, chunksize=64)
    return MatteSet(np.stack([item[0] for item in items]), np.stack([item[1] for item in items]))


def matte_batch(
    dataset: MatteSet, indices: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented images and ``(B, 1, S, S)`` float alpha targets in 0..1."""
    images, alphas = [], []
    for index in indices:
        flips = train.random_dihedral(rng)
        chw = data.dihedral_array(np.moveaxis(dataset.images[index], 2, 0), *flips)
        images.append(np.moveaxis(chw, 0, 2))
        alphas.append(data.dihedral_array(dataset.alphas[index], *flips))
    targets = torch.from_numpy(np.stack(alphas)[:, None].astype(np.float32) / 255.0)
    return train.to_tensor(np.stack(images)), targets


# --------------------------------------------------------------------------- model and loss


def build_model() -> nets.ShapeSegmenter:
    """A fresh matting network: the semantic segmenter with one logit channel."""
    return nets.ShapeSegmenter(num_labels=1, widths=WIDTHS)


def matte_loss(
    logits: torch.Tensor, targets: torch.Tensor, aux: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """BCE to the soft alpha plus a per-image soft Dice (so that small objects count), plus the
    BCE of the optional low-resolution deep-supervision logits ``aux`` to the area-averaged
    alpha."""
    bce = nnf.binary_cross_entropy_with_logits(logits, targets)
    probs = logits.sigmoid()
    inter = (probs * targets).sum(dim=(1, 2, 3))
    total = probs.sum(dim=(1, 2, 3)) + targets.sum(dim=(1, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (total + 1.0)
    parts = {"bce": bce, "dice": DICE_WEIGHT * dice.mean()}
    if aux is not None:
        coarse = nnf.adaptive_avg_pool2d(targets, aux.shape[-2:])
        parts["aux"] = AUX_WEIGHT * nnf.binary_cross_entropy_with_logits(aux, coarse)
    parts["total"] = sum(parts.values(), logits.new_zeros(()))
    return parts


def train_matte(recipe: train.Recipe, samples: int, epochs: int) -> nn.Module:
    """Generate the training set and train; returns the EMA model."""
    dataset = build_matte_set(scenes.TRAIN_SEED, samples, recipe.imgsz)
    print(f"generated {samples} scenes", flush=True)
    model = build_model().to(memory_format=torch.channels_last)

    def loss_fn(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        images, targets = matte_batch(dataset, indices, rng)
        logits, aux = model.forward_train(images)
        return matte_loss(logits.float(), targets, aux.float())

    stage = train.Stage(samples=samples, epochs=epochs, lr=recipe.lr)
    return train.fit(model, loss_fn, recipe, stage).model


# --------------------------------------------------------------------------- export


def metadata() -> dict[str, str]:
    """Ultralytics-style ``metadata_props`` of the matting model."""
    return {
        "description": DESCRIPTION,
        "author": "gateway project",
        "version": train.VERSION,
        "license": "MIT",
        "task": "matting",
        "stride": "32",
        "batch": "1",
        "imgsz": str([RECIPE.imgsz, RECIPE.imgsz]),
        "names": str({0: "background", 1: "foreground"}),
    }


def write_metadata(path: Path, values: dict[str, str]) -> None:
    """Replace the ``metadata_props`` of an ONNX file."""
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in values.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export(model: nn.Module, path: Path) -> None:
    """Export with the shared exporter (single ``output0``), then write the matting metadata."""
    train.export_onnx(model, "semantic", RECIPE.imgsz, path)
    write_metadata(path, metadata())


def exported_parameters(model: nn.Module) -> int:
    """Parameter count without the training-only deep-supervision head ``aux``."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("aux."))


# --------------------------------------------------------------------------- CLI


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=RECIPE.epochs)
    parser.add_argument(
        "--samples", type=int, default=RECIPE.samples, help="number of generated training scenes"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="ONNX output path")
    parser.add_argument(
        "--eval-count",
        type=int,
        default=evaluate_matting.DEFAULT_SCENES,
        help="held-out scenes for the evaluation",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help="where to save (or, with --export-only, load) the EMA state dict",
    )
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="skip training: export and evaluate the saved checkpoint",
    )
    return parser.parse_args()


def main() -> None:
    """Train, export, evaluate, and (default output only) write ``results/matting.json``."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    train.seed_everything(scenes.TRAIN_SEED)
    start = time.time()
    if args.export_only:
        model = build_model()
        model.load_state_dict(torch.load(args.checkpoint, weights_only=True))
    else:
        model = train_matte(RECIPE, args.samples, args.epochs)
        torch.save(model.state_dict(), args.checkpoint)
    train_minutes = (time.time() - start) / 60.0
    export(model, args.out)
    summary = {
        "task": "matting",
        "onnx": str(args.out),
        "onnx_bytes": args.out.stat().st_size,
        "parameters": exported_parameters(model),
        "samples": args.samples,
        "epochs": args.epochs,
        "batch": RECIPE.batch,
        "lr": RECIPE.lr,
        "imgsz": RECIPE.imgsz,
        "edge_sigma": evaluate_matting.EDGE_SIGMA,
        "train_seed": scenes.TRAIN_SEED,
        "heldout_seed": scenes.HELDOUT_SEED,
        "train_wall_minutes": round(train_minutes, 2),
        "threads": args.threads,
        "metrics": evaluate_matting.evaluate(args.out, args.eval_count),
    }
    print(json.dumps(summary, indent=2), flush=True)
    if args.out.resolve() == DEFAULT_OUT and not args.export_only:
        RESULTS_PATH.parent.mkdir(exist_ok=True)
        RESULTS_PATH.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
