"""The web playground (GET / and /playground) in a real browser: Debian's chromium driven
by Playwright against a real `gateway serve` with the bundled models (tests/playground.py).

The browser tests are skipped, saying why, only when /usr/bin/chromium is missing
(`apt-get install chromium`; scripts/test installs it). Each browser test leaves a
full-page screenshot named after it in PLAYGROUND_ARTIFACTS, else in its tmp_path.
The route tests at the end need no browser.
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Request

from gateway.dialects import playground
from gateway.errors import ConfigError
from gateway.modelconfig import load_workspace
from tests.conftest import DEMO_KEY, ROOT
from tests.imageserver import serve_images
from tests.playground import (
    CHROMIUM,
    DESKTOP,
    EXAMPLES,
    PHONE,
    chromium,
    gateway,
    open_playground,
    predict,
)

SCENE = EXAMPLES / "scene-1.jpg"
CONTROLS = ["model", "source-file", "dropzone", "image-url", "confidence", "overlap", "api-key"]


# -- fixtures: one gateway and one browser for the module, a fresh page per test ------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gateway(tmp_path_factory.mktemp("playground")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium): no browser tests")
    with chromium() as launched:
        yield launched


class Session:
    """A page with what it requested and any uncaught script error."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[Request] = []
        self.script_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("pageerror", lambda error: self.script_errors.append(str(error)))


def new_session(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path, viewport: dict[str, int]
) -> Iterator[Session]:
    context = browser.new_context(viewport=viewport)
    session = Session(context.new_page())
    try:
        yield session
    finally:
        artifacts = Path(os.environ.get("PLAYGROUND_ARTIFACTS", tmp_path))
        artifacts.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        session.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        context.close()
    assert not session.script_errors, f"uncaught script errors: {session.script_errors}"


@pytest.fixture
def session(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    yield from new_session(browser, request, tmp_path, DESKTOP)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    yield from new_session(browser, request, tmp_path, PHONE)


def attributes(page: Page, selector: str, *names: str) -> list[dict[str, Any]]:
    """The named attributes of every element matching `selector`, in document order."""
    return page.eval_on_selector_all(
        selector,
        "(nodes, names) => nodes.map("
        "n => Object.fromEntries(names.map(a => [a, n.getAttribute(a)])))",
        list(names),
    )


def no_horizontal_overflow(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px viewport"


# -- the page -------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_lists_the_models(session: Session, base: str) -> None:
    page = session.page
    response = page.goto(f"{base}/")
    assert response is not None
    assert response.ok
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page.wait_for_selector("#model option[value$='/1']", state="attached")
    assert page.title().startswith("Playground")
    assert page.text_content("h1") == "vision-gateway playground"
    options = attributes(page, "#model option", "value")
    registry = httpx.get(f"{base}/model/registry").json()["models"]
    expected = [m["model_id"] for m in registry] + ["shapes-matte/1"]
    assert sorted(o["value"] for o in options) == sorted(expected)
    # everything the page loaded came from the gateway itself
    assert {r.url.split("/", 3)[2] for r in session.requests} == {base.split("/", 3)[2]}
    for name in ("index.html", "playground.js", "playground.css"):
        text = playground.asset(name).decode()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"'`)]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{name} names {urls}"
    assert page.input_value("#api-key") == ""  # nothing prefilled
    assert "local-demo-key" in (page.text_content("#api-key-hint") or "")
    assert httpx.get(f"{base}/playground").text == httpx.get(f"{base}/").text


def test_detection_draws_one_labelled_box_per_prediction(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-detect/1", SCENE)
    predictions = body["predictions"]
    assert predictions, "the example has shapes to detect"
    boxes = attributes(page, "#overlay rect.box", "data-class", "data-confidence", "width")
    assert len(boxes) == len(predictions)
    for box, prediction in zip(boxes, predictions, strict=True):
        assert box["data-class"] == prediction["class"]
        assert float(box["data-confidence"]) == prediction["confidence"]
        assert float(box["width"]) == pytest.approx(prediction["width"])
    labels = page.eval_on_selector_all("#overlay text.label", "ns => ns.map(n => n.textContent)")
    assert [label.split()[0] for label in labels] == [p["class"] for p in predictions]
    assert page.get_attribute("#overlay", "viewBox") == "0 0 624 295"
    latency = page.locator("#latency")
    assert int(latency.get_attribute("data-client-ms") or -1) >= 0
    # JavaScript's Math.round: halves go up (Python's round() goes to the even neighbour)
    assert int(latency.get_attribute("data-server-ms") or -1) == math.floor(
        body["time"] * 1000 + 0.5
    )
    assert "Round trip" in (latency.text_content() or "")
    status = page.text_content("#status") or ""
    assert status.startswith(f"Done: {len(predictions)} detections")


def test_instance_segmentation_draws_one_polygon_per_prediction(
    session: Session, base: str
) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-seg/1", SCENE)
    predictions = body["predictions"]
    assert predictions
    polygons = attributes(page, "#overlay polygon.instance", "data-class", "points")
    assert len(polygons) == len(predictions)
    for polygon, prediction in zip(polygons, predictions, strict=True):
        assert polygon["data-class"] == prediction["class"]
        assert len(polygon["points"].split()) == len(prediction["points"])
    assert page.locator("#overlay rect.box").count() == 0


def test_semantic_legend_lists_exactly_the_classes_in_the_mask(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-semantic/1", SCENE)
    mask = cv2.imdecode(
        np.frombuffer(base64.b64decode(body["segmentation_mask"]), np.uint8), cv2.IMREAD_UNCHANGED
    )
    present = sorted(int(i) for i in np.unique(mask))
    legend = attributes(page, "#legend li", "data-class", "data-class-id")
    assert [int(item["data-class-id"]) for item in legend] == present
    assert [item["data-class"] for item in legend] == [body["class_map"][str(i)] for i in present]
    assert len(present) < len(body["class_map"])  # a class the mask lacks is not listed
    image = attributes(page, "#overlay image.mask", "data-classes", "href")
    assert len(image) == 1
    assert image[0]["data-classes"] == ",".join(map(str, present))
    assert image[0]["href"].startswith("data:image/png;base64,")
    assert page.is_disabled("#confidence")  # semantic segmentation takes no thresholds


def test_classification_shows_the_top_class_and_every_score(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-cls/1", EXAMPLES / "crop-circle.jpg")
    assert page.get_attribute("#top-class-name", "data-class") == body["top"] == "circle"
    scores = attributes(page, "#scores li", "data-class", "data-confidence")
    assert [s["data-class"] for s in scores] == [p["class"] for p in body["predictions"]]
    assert "circle" in (page.text_content("#stage-caption") or "")


def test_matting_shows_the_cut_out(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-matte/1", EXAMPLES / "matte-scene.jpg")
    assert page.get_attribute("#preview", "src") == f"data:image/png;base64,{body['result']}"
    cutout = cv2.imdecode(
        np.frombuffer(base64.b64decode(body["result"]), np.uint8), cv2.IMREAD_UNCHANGED
    )
    original = cv2.imread(str(EXAMPLES / "matte-scene.jpg"))
    assert cutout.shape == (*original.shape[:2], 4)  # RGBA: the matte is its alpha
    sent = [r for r in session.requests if r.url.endswith("/human_image_segmentation")]
    assert len(sent) == 1
    assert sent[0].headers["x-api-key"] == DEMO_KEY


def test_an_image_url_is_fetched_by_the_gateway(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    with serve_images({"/scene.jpg": SCENE.read_bytes()}) as images:
        body = predict(page, "shapes-detect/1", url=f"{images}/scene.jpg")
    assert page.locator("#overlay rect.box").count() == len(body["predictions"]) > 0
    sent = [r for r in session.requests if "/detect/shapes-detect/1" in r.url]
    assert len(sent) == 1
    assert "image=http%3A%2F%2F127.0.0.1" in sent[0].url
    assert sent[0].post_data is None  # the gateway fetched the image, not the browser
    assert "image=http%3A%2F%2F127.0.0.1" in (page.text_content("#curl-snippet") or "")


def test_a_dropped_image_is_predicted(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    page.check("#source-url")  # dropping a file switches back to it
    dropped = page.evaluate_handle(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
            return transfer;
        }""",
        base64.b64encode(SCENE.read_bytes()).decode("ascii"),
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": dropped})
    assert "dragging" in (page.get_attribute("#dropzone", "class") or "")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    assert "dropped.jpg" in (page.text_content("#file-name") or "")
    assert page.is_checked("#source-file")
    body = predict(page, "shapes-detect/1")
    assert page.locator("#overlay rect.box").count() == len(body["predictions"]) > 0
    assert "file=@dropped.jpg" in (page.text_content("#curl-snippet") or "")


# -- errors are shown -----------------------------------------------------------------------


def test_a_wrong_key_shows_the_401_message(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    body = predict(page, "shapes-detect/1", SCENE, key="not-a-key")
    error = page.locator("#error")
    assert error.is_visible()
    assert error.get_attribute("role") == "alert"
    text = error.text_content() or ""
    assert text.startswith("401 Unauthorized: ")
    assert body["message"] in text
    assert page.locator("#overlay rect.box").count() == 0


def test_a_bad_image_shows_the_400_message(session: Session, base: str, tmp_path: Path) -> None:
    page = session.page
    open_playground(page, base)
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("these are words, not pixels")
    body = predict(page, "shapes-detect/1", not_an_image)
    text = page.text_content("#error") or ""
    assert text.startswith("400 Bad request: ")
    assert body["message"] in text


def test_missing_input_is_explained_before_sending(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    page.click("#submit")
    assert "Choose an image" in (page.text_content("#error") or "")
    page.check("#source-url")
    page.fill("#image-url", "file:///etc/passwd")
    page.click("#submit")
    assert "http(s)" in (page.text_content("#error") or "")
    assert not [r for r in session.requests if r.method == "POST"]


# -- the key stays in the page; the snippets repeat the request -------------------------------


def test_the_key_is_sent_in_a_header_and_kept_nowhere(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    predict(page, "shapes-detect/1", SCENE)
    assert page.url == f"{base}/playground"
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.context.cookies() == []
    assert all(DEMO_KEY not in r.url for r in session.requests)
    sent = [r for r in session.requests if r.method == "POST"]
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {DEMO_KEY}"]
    assert DEMO_KEY not in (page.text_content("#curl-snippet") or "")
    assert DEMO_KEY not in (page.text_content("#python-snippet") or "")


def run_snippet(command: list[str], key: str | None = None) -> Any:
    """Run a snippet from the examples folder, with API_KEY set to `key` or unset."""
    env = {name: value for name, value in os.environ.items() if name != "API_KEY"}
    if key is not None:
        env["API_KEY"] = key
    done = subprocess.run(
        command, cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def same_prediction(a: dict[str, Any], b: dict[str, Any]) -> None:
    def boxes(body: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(p["class"], p["x"], p["y"], p["width"], p["height"]) for p in body["predictions"]]

    assert boxes(a) == boxes(b)


@pytest.mark.parametrize("typed", [False, True], ids=["placeholder", "typed-key"])
def test_the_snippets_send_the_same_request(session: Session, base: str, typed: bool) -> None:
    """The curl and Python snippets, run as shown (from the image's folder), get the
    answer the page got; with the placeholder, from API_KEY in the environment."""
    page = session.page
    open_playground(page, base)
    page.fill("#confidence", "55")
    page.fill("#overlap", "45")
    shown = predict(page, "shapes-detect/1", SCENE)
    if typed:
        page.check("#include-key")
    curl = page.text_content("#curl-snippet") or ""
    python = page.text_content("#python-snippet") or ""
    assert "confidence=55&overlap=45" in curl
    assert '"confidence": "55", "overlap": "45"' in python
    assert (DEMO_KEY in curl and DEMO_KEY in python) is typed
    assert ("$API_KEY" in curl and 'os.environ["API_KEY"]' in python) is not typed
    hint = page.text_content("#snippet-hint") or ""
    assert ("the key you typed" in hint) is typed
    key = None if typed else DEMO_KEY
    same_prediction(json.loads(run_snippet(["bash", "-c", curl], key)), shown)
    python_out = run_snippet([sys.executable, "-c", python], key).splitlines()
    assert python_out[0] == "200"
    same_prediction(ast.literal_eval(python_out[1]), shown)  # print(response.json())


def test_the_matting_snippets_send_the_same_request(session: Session, base: str) -> None:
    page = session.page
    open_playground(page, base)
    shown = predict(page, "shapes-matte/1", EXAMPLES / "matte-scene.jpg")
    curl = page.text_content("#curl-snippet") or ""
    assert json.loads(run_snippet(["bash", "-c", curl], DEMO_KEY)) == shown
    python = page.text_content("#python-snippet") or ""
    assert run_snippet([sys.executable, "-c", python], DEMO_KEY).splitlines()[0] == "200"


# -- keyboard and phone ---------------------------------------------------------------------


def test_keyboard_alone_reaches_every_control_and_submits(session: Session, base: str) -> None:
    page = session.page
    # Playwright turns on file chooser interception when a listener is first added, and
    # asynchronously: a listener added before loading makes sure it is on for the Enter.
    page.on("filechooser", lambda chooser: None)
    open_playground(page, base)
    reached = []
    for _ in range(len(CONTROLS) + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        reached.append(focused)
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"#{focused} shows no focus"
    assert reached == [*CONTROLS, "submit"]
    # the drop zone opens the file chooser from the keyboard
    page.focus("#dropzone")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(SCENE))
    assert "scene-1.jpg" in (page.text_content("#file-name") or "")
    page.focus("#api-key")
    page.keyboard.type(DEMO_KEY)
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_function("() => /^Done/.test(document.getElementById('status').textContent)")
    assert page.locator("#overlay rect.box").count() > 0


def test_a_phone_sized_viewport_has_no_horizontal_scrolling(phone: Session, base: str) -> None:
    page = phone.page
    open_playground(page, base)
    no_horizontal_overflow(page)
    predict(page, "shapes-seg/1", SCENE)
    no_horizontal_overflow(page)
    stage = page.eval_on_selector("#stage", "n => n.getBoundingClientRect().right")
    assert stage <= PHONE["width"]
    predict(page, "shapes-semantic/1", SCENE)
    no_horizontal_overflow(page)


# -- routes, without a browser --------------------------------------------------------------


def test_the_routes_serve_the_page_its_files_and_the_model_list(base: str) -> None:
    for path, media in [
        ("/", "text/html"),
        ("/playground", "text/html"),
        ("/playground/playground.js", "text/javascript"),
        ("/playground/playground.css", "text/css"),
    ]:
        response = httpx.get(f"{base}{path}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{base}/playground/models").json()["models"] == [
        {"id": "shapes-detect/1", "task": "detect", "route": "/detect/shapes-detect/1"},
        {"id": "shapes-seg/1", "task": "instance", "route": "/outline/shapes-seg/1"},
        {"id": "shapes-semantic/1", "task": "semantic", "route": "/segment/shapes-semantic/1"},
        {"id": "shapes-cls/1", "task": "classify", "route": "/classify/shapes-cls/1"},
        {"id": "shapes-matte/1", "task": "matting", "route": "/human_image_segmentation"},
    ]
    check = httpx.post(f"{base}/", params={"api_key": DEMO_KEY})
    assert check.status_code == 200  # POST / is still Roboflow's key check
    assert check.json()["workspace"] == "gateway"
    assert httpx.post(f"{base}/", params={"api_key": "wrong"}).status_code == 401


def test_playground_is_a_reserved_workspace_name(tmp_path: Path) -> None:
    config = tmp_path / "models.yaml"
    config.write_text("workspace: playground\nmodels: []\n")
    with pytest.raises(ConfigError, match="route family"):
        load_workspace(config)


def test_the_page_files_are_package_data() -> None:
    """`pip install .` (the Docker images) ships every file the routes serve."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["gateway"]
    folder = ROOT / "gateway" / "playground"
    files = {path.relative_to(ROOT / "gateway").as_posix() for path in folder.iterdir()}
    assert set(playground.ASSETS) == {name.removeprefix("playground/") for name in files}
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
