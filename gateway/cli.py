"""Command line: `gateway predict`, `gateway serve`, `gateway models`."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import orjson

from gateway.addresses import AddressPolicy
from gateway.auth import append_key, key_hash, new_key
from gateway.dialects.roboflow.params import percent_or_fraction
from gateway.dialects.roboflow.render import render_json
from gateway.errors import GatewayError, ModelNotFound
from gateway.fetch import Fetcher
from gateway.images import decode
from gateway.logs import configure_logging
from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams
from gateway.results import Prediction
from gateway.settings import Settings


def _read_source(source: str) -> bytes:
    if source.lower().startswith(("http://", "https://")):
        # The person at the terminal chose the URL: any address, their own network too.
        return asyncio.run(Fetcher(AddressPolicy(allow_all=True)).fetch(source))
    return Path(source).read_bytes()


def _load_one(settings: Settings, model_id: str) -> Model:
    configs = {c.id: c for c in load_model_configs(settings.config_path)}
    if model_id not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise ModelNotFound(f"no model '{model_id}' in {settings.config_path} (models: {known})")
    return Model.load(configs[model_id], settings.runtime())


def _timings_line(runs: list[Prediction]) -> str:
    def median_ms(stage: str) -> float:
        return 1000 * float(statistics.median(getattr(p.timings, stage) for p in runs))

    stages = ("decode", "preprocess", "inference", "postprocess", "total")
    parts = [f"{stage} {median_ms(stage):.2f} ms" for stage in stages]
    return f"median of {len(runs)} run(s): " + ", ".join(parts)


def cmd_predict(args: argparse.Namespace) -> int:
    settings = Settings.from_env(config_path=args.config, provider=args.provider)
    model = _load_one(settings, args.model)
    data = _read_source(args.image)
    params = InferenceParams(
        confidence=percent_or_fraction("confidence", args.confidence, model.spec.confidence),
        iou=percent_or_fraction("overlap", args.overlap, model.spec.nms_threshold),
    )
    runs = []
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        image = decode(data)
        decoded = time.perf_counter() - started
        runs.append(model.predict([image], params, [decoded])[0])
    sys.stdout.write(orjson.dumps(render_json(runs[-1])).decode() + "\n")
    if args.timings:
        print(_timings_line(runs[1:] if len(runs) > 1 else runs), file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    settings = Settings.from_env(config_path=args.config)
    for config in load_model_configs(settings.config_path):
        model = Model.load(config, settings.runtime())
        spec = model.spec
        pre = spec.preprocessing
        layout = spec.detection.kind if spec.detection else "-"
        print(
            f"{spec.id}\t{spec.task.value}\t{pre.width}x{pre.height}\t{layout}\t"
            f"{len(spec.class_names)} classes: {', '.join(spec.class_names[:8])}"
        )
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """A new random key: its digest goes into the keys file, the key itself to stdout only."""
    path = args.file or Settings.from_env().keys_path or Path("configs/keys.yaml")
    models = [m.strip() for m in args.models.split(",") if m.strip()] or ["*"]
    secret = new_key()
    append_key(path, args.name, secret, models)
    print(f"added key {args.name!r} for {', '.join(models)} to {path}", file=sys.stderr)
    print("the key is shown once; it is not stored anywhere:", file=sys.stderr)
    print(secret)
    return 0


def cmd_keys_hash(args: argparse.Namespace) -> int:
    """The key_hash line of a key read from stdin (for keys made elsewhere)."""
    secret = sys.stdin.readline().strip()
    if not secret:
        print("gateway: error: no key on stdin", file=sys.stderr)
        return 2
    print(key_hash(secret))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import serve

    settings = Settings.from_env(
        profile="sagemaker" if args.sagemaker else None,
        config_path=args.config,
        provider=args.provider,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
    return serve(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", type=Path, help="models YAML (default: GATEWAY_CONFIG)")
    parser.add_argument("--provider", choices=("auto", "cpu", "cuda", "tensorrt"))
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="print Roboflow-style JSON for one image")
    predict.add_argument("image", help="image file or http(s) URL")
    predict.add_argument("--model", required=True, help="model id, e.g. shapes-detect/1")
    predict.add_argument("--confidence", help="0-100, or a fraction below 1 (default: model's)")
    predict.add_argument("--overlap", help="NMS IoU, 0-100 or a fraction (default: model's)")
    predict.add_argument("--timings", action="store_true", help="print stage times to stderr")
    predict.add_argument("--repeat", type=int, default=1, help="run N times (for --timings)")
    predict.set_defaults(func=cmd_predict)

    models = commands.add_parser("models", help="list the configured models as resolved")
    models.set_defaults(func=cmd_models)

    keys = commands.add_parser("keys", help="create API keys, or hash one for the keys file")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="make a key and add its digest to the file")
    create.add_argument("--name", required=True, help="unique name that stands for the key")
    create.add_argument("--models", default="*", help="comma-separated model ids (default: *)")
    create.add_argument("--file", type=Path, help="keys file (default: GATEWAY_KEYS_FILE)")
    create.set_defaults(func=cmd_keys_create)
    hash_ = key_commands.add_parser("hash", help="print the key_hash of a key read from stdin")
    hash_.set_defaults(func=cmd_keys_hash)

    serve = commands.add_parser("serve", help="serve the configured models over HTTP")
    serve.add_argument("--host", help="bind address (default 0.0.0.0, GATEWAY_HOST)")
    serve.add_argument("--port", type=int, help="port (default 9001, GATEWAY_PORT)")
    serve.add_argument(
        "--workers", type=int, help="server processes, each with the models (GATEWAY_WORKERS)"
    )
    serve.add_argument(
        "--sagemaker",
        action="store_true",
        help="SageMaker container conventions: port 8080, models from /opt/ml/model",
    )
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GatewayError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
