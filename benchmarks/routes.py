"""Median latency of each dialect's route against a running gateway, one request at a time.

    python benchmarks/routes.py --url http://127.0.0.1:9001 [--sagemaker-url URL] [--runs 30]

Prints one JSON line of medians in milliseconds:
    roboflow_detect_ms     POST /detect/shapes-detect/1, base64 body, JSON back
    sagemaker_json_ms      POST /invocations, raw JPEG, JSON back   (with --sagemaker-url)
    sagemaker_jpeg_ms      the same with Accept: image/jpeg          (with --sagemaker-url)
    matting_1080p_ms       POST /human_image_segmentation, a 1920x1080 JPEG, alpha PNG back
    deepomatic_task_ms     POST .../inference, then polling /v0.7/tasks/{id}/ until success
Inputs are the bundled example scene (and a 1080p generated scene for matting).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.training import scenes  # noqa: E402

EXAMPLE = ROOT / "models" / "examples" / "scene-1.jpg"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)


def scene_1080p() -> bytes:
    scene = scenes.make_scene(np.random.default_rng(scenes.EXAMPLES_SEED))
    image = cv2.resize(scene.image, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--sagemaker-url")
    parser.add_argument("--api-key", default="local-demo-key")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    jpeg = EXAMPLE.read_bytes()
    key = {"X-API-KEY": args.api_key}
    report: dict[str, object] = {"runs": args.runs, "image": EXAMPLE.name}
    with httpx.Client(base_url=args.url, timeout=60) as client:

        def detect() -> None:
            client.post(
                "/detect/shapes-detect/1",
                params={"api_key": args.api_key},
                content=base64.b64encode(jpeg),
            ).raise_for_status()

        report["roboflow_detect_ms"] = median_ms(detect, args.runs)
        big = base64.b64encode(scene_1080p()).decode()

        def matting() -> None:
            body = {"img": big}
            client.post("/human_image_segmentation", json=body, headers=key).raise_for_status()

        probe = client.post("/human_image_segmentation", json={"img": big}, headers=key)
        if probe.status_code == 404:  # no matting model configured
            report["matting_1080p_ms"] = None
        else:
            report["matting_1080p_ms"] = median_ms(matting, args.runs)

        def deepomatic() -> None:
            source = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            body = {"inputs": [{"image": {"source": source}}]}
            task = client.post(
                "/v0.7/recognition/public/shapes-detect-v1/inference", json=body, headers=key
            ).json()
            while True:
                status = client.get(f"/v0.7/tasks/{task['task_id']}/", headers=key).json()
                if status["status"] != "pending":
                    break
                time.sleep(0.002)
            if status["status"] != "success":
                raise RuntimeError(status)

        report["deepomatic_task_ms"] = median_ms(deepomatic, args.runs)
    if args.sagemaker_url:
        with httpx.Client(base_url=args.sagemaker_url, timeout=60) as sm:
            for accept, name in (("application/json", "json"), ("image/jpeg", "jpeg")):
                headers = {"Content-Type": "image/jpeg", "Accept": accept}

                def invoke(headers: dict[str, str] = headers) -> None:
                    sm.post("/invocations", content=jpeg, headers=headers).raise_for_status()

                report[f"sagemaker_{name}_ms"] = median_ms(invoke, args.runs)
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    main()
