"""The web playground's browser flow, shared by tests/test_playground.py and
scripts/playground-screenshots: a real `gateway serve` on 127.0.0.1 with the bundled
models, and Debian's chromium (apt package `chromium`) driven by Playwright. Playwright's
own browser downloads are never used: the browser is /usr/bin/chromium
(PLAYGROUND_CHROMIUM names another).

    python -m tests.playground [DIRECTORY]   writes detect.png, instance.png and
                                             semantic.png (default: docs/playground)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import PIL.Image
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import DEMO_KEY, ROOT, free_port, running_gateway

CHROMIUM = Path(os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium"))
EXAMPLES = ROOT / "models" / "examples"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DONE = """() => /^Done/.test(document.getElementById("status").textContent)
    || !document.getElementById("error").hidden"""


@contextmanager
def gateway(directory: Path, **env: str) -> Iterator[str]:
    """`gateway serve` with the bundled configs on a free port of 127.0.0.1: its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_TASK_DB": str(directory / "tasks.sqlite3"),
        "GATEWAY_FETCH_ALLOW": "127.0.0.1",  # the tests' local image server
        **env,
    }
    command = [sys.executable, "-m", "gateway", "serve"]
    with running_gateway(command, environment, port, directory / "serve.log") as base:
        yield base


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            browser.close()


def open_playground(page: Page, base: str, path: str = "/playground") -> None:
    """Load the page and wait until the model picker is filled."""
    page.goto(f"{base}{path}")
    page.wait_for_selector("#model option[value$='/1']", state="attached")


def predict(
    page: Page,
    model: str,
    image: Path | None = None,
    url: str | None = None,
    key: str = DEMO_KEY,
) -> Any:
    """Pick `model`, give the image (a file or a URL), type the key, submit, wait for the
    answer; the response JSON as the page shows it."""
    page.select_option("#model", model)
    if image is not None:
        page.set_input_files("#file", str(image))
    if url is not None:
        page.fill("#image-url", url)
    page.fill("#api-key", key)
    page.click("#submit")
    page.wait_for_function(DONE)
    text = page.text_content("#response-json") or ""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


SCREENSHOTS = {
    "detect": ("shapes-detect/1", "scene-1.jpg"),
    "instance": ("shapes-seg/1", "scene-1.jpg"),
    "semantic": ("shapes-semantic/1", "scene-1.jpg"),
}


def shrink(path: Path) -> None:
    """256 colours: a third of the size, and a screenshot still reads the same."""
    with PIL.Image.open(path) as shot:
        palette = shot.convert("RGB").quantize(256, PIL.Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)


def screenshots(directory: Path) -> list[Path]:
    """The README's screenshots: one per model family, at 1280x800."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with (
        tempfile.TemporaryDirectory() as work,
        gateway(Path(work)) as base,
        chromium() as browser,
    ):
        page = browser.new_page(viewport=DESKTOP)
        for name, (model, image) in SCREENSHOTS.items():
            open_playground(page, base)
            predict(page, model, EXAMPLES / image)
            page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
            path = directory / f"{name}.png"
            page.screenshot(path=str(path))
            shrink(path)
            written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "playground"
    for written in screenshots(target):
        print(written)
