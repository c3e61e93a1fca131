// vision-gateway playground: calls this gateway's own routes and draws the answer over the
// image. Plain JavaScript, nothing loaded from elsewhere. The API key lives in the key field
// and in the request headers only: never in storage, never in this page's URL.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PALETTE = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#9a6324", "#469990", "#800000", "#808000", "#000075", "#bfef45", "#fabed4",
  ];
  const TASKS = {
    detect: "object detection",
    instance: "instance segmentation",
    semantic: "semantic segmentation",
    classify: "classification",
    matting: "foreground matting",
  };
  const THRESHOLD_TASKS = new Set(["detect", "instance"]);
  const STATUS_TEXT = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    408: "Request timeout", 413: "Too large", 415: "Unsupported media type",
    429: "Too many requests", 500: "Server error", 503: "Unavailable",
  };

  const $ = (id) => document.getElementById(id);
  const state = { models: [], file: null, fileUrl: null, last: null };

  // -- small helpers ------------------------------------------------------------------------

  function svg(name, attributes) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    return node;
  }

  function html(name, text, attributes) {
    const node = document.createElement(name);
    if (text !== undefined) node.textContent = text;
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    return node;
  }

  const colorFor = (id) => PALETTE[Math.abs(Number(id) || 0) % PALETTE.length];
  const percent = (value) => `${(100 * value).toFixed(1)} %`;
  const shellQuote = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;
  const pyString = (text) => JSON.stringify(String(text));

  function setStatus(text) { $("status").textContent = text; }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
    setStatus("");
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function selectedModel() {
    return state.models.find((model) => model.id === $("model").value);
  }

  function source() {
    return document.querySelector('input[name="source"]:checked').value;
  }

  // -- models -------------------------------------------------------------------------------

  async function loadModels() {
    const select = $("model");
    try {
      const response = await fetch("/playground/models");
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      state.models = (await response.json()).models;
    } catch (error) {
      select.replaceChildren(html("option", "No models", { value: "" }));
      showError(`Could not list the gateway's models: ${error.message}`);
      return;
    }
    select.replaceChildren(
      ...state.models.map((model) =>
        html("option", `${model.id} (${TASKS[model.task] || model.task})`, { value: model.id })),
    );
    if (!state.models.length) select.replaceChildren(html("option", "No model is configured", { value: "" }));
    modelChanged();
  }

  function modelChanged() {
    const model = selectedModel();
    if (!model) return;
    $("model-hint").textContent = `POST ${model.route}`;
    const thresholds = THRESHOLD_TASKS.has(model.task);
    $("thresholds").disabled = !thresholds;
    $("thresholds-hint").textContent = thresholds
      ? "" : `Not sent: ${TASKS[model.task] || model.task} takes no thresholds.`;
  }

  // -- the image ----------------------------------------------------------------------------

  function setFile(file) {
    if (!file) return;
    if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
    state.file = file;
    state.fileUrl = URL.createObjectURL(file);
    $("file-name").textContent = `${file.name} (${Math.ceil(file.size / 1024)} KiB)`;
    $("source-file").checked = true;
  }

  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  function bindImageInputs() {
    const zone = $("dropzone");
    const input = $("file");
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    input.addEventListener("change", () => setFile(input.files[0]));
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    }
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) setFile(file);
    });
    $("image-url").addEventListener("input", (event) => {
      if (event.target.value.trim()) $("source-url").checked = true;
    });
  }

  // -- the request --------------------------------------------------------------------------

  async function buildRequest(model, key) {
    const from = source();
    const imageUrl = $("image-url").value.trim();
    const request = {
      model, from, imageUrl, key, fileName: state.file ? state.file.name : "",
      url: new URL(model.route, window.location.origin), headers: {}, params: [], body: null,
    };
    if (model.task === "matting") {
      request.headers["Content-Type"] = "application/json";
      if (key) request.headers["X-API-KEY"] = key;
      const payload = from === "file"
        ? { img: await readBase64(state.file), type: "foreground" }
        : { url: imageUrl, type: "foreground" };
      request.body = JSON.stringify(payload);
      return request;
    }
    if (key) request.headers.Authorization = `Bearer ${key}`;
    if (THRESHOLD_TASKS.has(model.task)) {
      request.params.push(["confidence", $("confidence").value], ["overlap", $("overlap").value]);
    }
    if (from === "url") request.params.push(["image", imageUrl]);
    for (const [name, value] of request.params) request.url.searchParams.append(name, value);
    if (from === "file") {
      request.body = new FormData();
      request.body.append("file", state.file, state.file.name);
    }
    return request;
  }

  function checkInput(model) {
    if (!model) return "Pick a model first.";
    if (source() === "file") return state.file ? "" : "Choose an image file (or drop one, or give a URL).";
    const text = $("image-url").value.trim();
    let url = null;
    try { url = new URL(text); } catch (error) { url = null; }
    return url && /^https?:$/.test(url.protocol) ? "" : "Give an http(s) image URL, or choose a file.";
  }

  async function submit(event) {
    event.preventDefault();
    clearError();
    const model = selectedModel();
    const problem = checkInput(model);
    if (problem) return showError(problem);
    let request = null;
    try {
      request = await buildRequest(model, $("api-key").value.trim());
    } catch (error) {
      return showError(`Could not read the image file: ${error.message}`);
    }
    $("submit").disabled = true;
    $("result-heading").parentElement.setAttribute("aria-busy", "true");
    setStatus(`Running ${model.id}…`);
    const started = performance.now();
    let response = null;
    let text = "";
    try {
      response = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
      text = await response.text();
    } catch (error) {
      showError(`The request did not complete: ${error.message}`);
    } finally {
      $("submit").disabled = false;
      $("result-heading").parentElement.removeAttribute("aria-busy");
    }
    if (!response) return;
    const elapsed = performance.now() - started;
    let body = null;
    try { body = JSON.parse(text); } catch (error) { body = null; }
    state.last = request;
    renderSnippets();
    clearResult();
    showJson(body === null ? text : body);
    if (!response.ok) {
      const message = body && (body.message || body.error || body.detail);
      const why = STATUS_TEXT[response.status] || response.statusText || "Error";
      let hint = "";
      if (response.status === 401) hint = " Check the API key (the local demo key is local-demo-key).";
      showError(`${response.status} ${why}: ${message || text || "no message"}.${hint}`);
      return;
    }
    showLatency(elapsed, body);
    const summary = await renderResult(request, body);
    setStatus(`Done: ${summary} (${Math.round(elapsed)} ms).`);
  }

  // -- results ------------------------------------------------------------------------------

  function clearResult() {
    $("overlay").replaceChildren();
    $("stage").hidden = true;
    $("legend-block").hidden = true;
    $("scores-block").hidden = true;
    $("latency").textContent = "";
    $("preview").classList.remove("hidden-under");
  }

  function showJson(body) {
    $("response-json").textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
    $("json-block").hidden = false;
  }

  function showLatency(elapsed, body) {
    const node = $("latency");
    node.dataset.clientMs = String(Math.round(elapsed));
    let text = `Round trip ${Math.round(elapsed)} ms (measured in this browser)`;
    if (body && typeof body.time === "number") {
      node.dataset.serverMs = String(Math.round(body.time * 1000));
      text += ` · server ${(body.time * 1000).toFixed(1)} ms (the response's time)`;
    }
    node.textContent = text;
  }

  function showImage(src, width, height) {
    return new Promise((resolve) => {
      const img = $("preview");
      const canvas = img.parentElement;
      const done = (ok) => {
        canvas.style.width = ok ? "" : "100%";
        canvas.style.aspectRatio = ok || !width ? "" : `${width} / ${height}`;
        resolve(ok);
      };
      img.onload = () => done(true);
      img.onerror = () => done(false);
      $("stage").hidden = false;
      img.src = src;
      if (img.complete && img.naturalWidth) done(true);
    });
  }

  async function renderResult(request, body) {
    const task = request.model.task;
    const imageSrc = request.from === "file" ? state.fileUrl : request.imageUrl;
    const overlay = $("overlay");
    if (task === "matting") {
      const cutout = `data:image/png;base64,${body.result}`;
      await showImage(cutout);
      overlay.removeAttribute("viewBox");
      $("stage-caption").textContent = "The foreground cut out (transparent pixels show the checkerboard).";
      return "foreground cut out";
    }
    const width = body.image ? body.image.width : 0;
    const height = body.image ? body.image.height : 0;
    const shown = await showImage(imageSrc, width, height);
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    overlay.setAttribute("preserveAspectRatio", "none");
    const note = shown ? "" : " The browser could not load the image itself: a blank stands in for it.";
    let summary = "";
    if (task === "detect" || task === "instance") {
      drawDetections(overlay, body.predictions || [], width, height, task === "instance");
      const count = (body.predictions || []).length;
      summary = `${count} ${task === "instance" ? "instance" : "detection"}${count === 1 ? "" : "s"}`;
    } else if (task === "semantic") {
      const classes = await drawMask(overlay, body, width, height);
      summary = `${classes} class${classes === 1 ? "" : "es"} in the mask`;
    } else if (task === "classify") {
      summary = showScores(body);
    }
    $("stage-caption").textContent = `${request.model.id}: ${summary}.${note}`;
    return summary;
  }

  function drawDetections(overlay, predictions, width, height, polygons) {
    const font = Math.max(10, Math.round(Math.max(width, height) / 45));
    for (const [index, p] of predictions.entries()) {
      const color = colorFor(p.class_id);
      const left = p.x - p.width / 2;
      const top = p.y - p.height / 2;
      const data = {
        "data-class": p.class, "data-class-id": String(p.class_id),
        "data-confidence": String(p.confidence), fill: color, stroke: color,
      };
      const group = svg("g", { class: "detection", "data-index": String(index) });
      const shape = polygons && Array.isArray(p.points)
        ? svg("polygon", { class: "instance", points: p.points.map((q) => `${q.x},${q.y}`).join(" "), ...data })
        : svg("rect", { class: "box", x: left, y: top, width: p.width, height: p.height, ...data });
      const title = svg("title");
      title.textContent = `${p.class} ${percent(p.confidence)}`;
      shape.append(title);
      const labelY = top - font * 1.3 >= 0 ? top - font * 1.3 : top;
      const back = svg("rect", { class: "label-back", x: left, y: labelY, height: font * 1.3, fill: color });
      const label = svg("text", {
        class: "label", x: left + font * 0.3, y: labelY + font, "font-size": font, "data-class": p.class,
      });
      label.textContent = `${p.class} ${Math.round(100 * p.confidence)}%`;
      group.append(shape, back, label);
      overlay.append(group);
      back.setAttribute("width", label.getComputedTextLength() + font * 0.6);
    }
  }

  async function drawMask(overlay, body, width, height) {
    const bytes = Uint8Array.from(atob(body.segmentation_mask), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }), {
      colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const names = body.class_map || {};
    const counts = new Map();
    for (let i = 0; i < pixels.data.length; i += 4) {
      const id = pixels.data[i];
      counts.set(id, (counts.get(id) || 0) + 1);
      const color = colorFor(id);
      const background = /^background$/i.test(names[id] || "");
      pixels.data[i] = parseInt(color.slice(1, 3), 16);
      pixels.data[i + 1] = parseInt(color.slice(3, 5), 16);
      pixels.data[i + 2] = parseInt(color.slice(5, 7), 16);
      pixels.data[i + 3] = background ? 0 : 150;
    }
    context.putImageData(pixels, 0, 0);
    const ids = [...counts.keys()].sort((a, b) => a - b);
    overlay.append(svg("image", {
      class: "mask", href: canvas.toDataURL("image/png"), x: 0, y: 0, width, height,
      preserveAspectRatio: "none", "data-classes": ids.join(","),
    }));
    const total = pixels.data.length / 4;
    $("legend").replaceChildren(...ids.map((id) => {
      const name = names[id] === undefined ? `class ${id}` : names[id];
      const item = html("li", undefined, { "data-class": name, "data-class-id": String(id) });
      const swatch = html("span", undefined, { class: "swatch", "aria-hidden": "true" });
      if (/^background$/i.test(name)) swatch.classList.add("transparent");
      else swatch.style.background = colorFor(id);
      item.append(swatch, html("span", `${name}: ${percent(counts.get(id) / total)} of the image`));
      return item;
    }));
    $("legend-block").hidden = false;
    return ids.length;
  }

  function showScores(body) {
    const ranked = Array.isArray(body.predictions)
      ? body.predictions.map((p) => [p.class, p.confidence])
      : Object.entries(body.predictions || {}).map(([name, p]) => [name, p.confidence])
        .sort((a, b) => b[1] - a[1]);
    const top = body.top || (body.predicted_classes || []).join(", ") || (ranked[0] || [""])[0];
    const topLine = $("top-class");
    topLine.replaceChildren(
      "Top class: ",
      html("strong", top, { id: "top-class-name", "data-class": top }),
      typeof body.confidence === "number" ? ` (${percent(body.confidence)})` : "",
    );
    $("scores").replaceChildren(...ranked.map(([name, confidence]) => {
      const item = html("li", undefined, { "data-class": name, "data-confidence": String(confidence) });
      const bar = html("span", undefined, { class: "bar", "aria-hidden": "true" });
      const fill = html("span");
      fill.style.width = `${(100 * confidence).toFixed(1)}%`;
      bar.append(fill);
      item.append(html("span", name, { class: "name" }), bar, html("span", percent(confidence), { class: "score" }));
      return item;
    }));
    $("scores-block").hidden = false;
    return `top class ${top}`;
  }

  // -- snippets -----------------------------------------------------------------------------

  function renderSnippets() {
    const request = state.last;
    if (!request) return;
    const typed = $("include-key").checked;
    const { key } = request;
    $("curl-snippet").textContent = curlSnippet(request, key, typed);
    $("python-snippet").textContent = pythonSnippet(request, key, typed);
    $("snippet-hint").textContent = !key
      ? "No API key was sent, so the snippets send none."
      : typed
        ? "The snippets contain the key you typed: keep them to yourself."
        : "The snippets read the key from the API_KEY environment variable (export API_KEY=...).";
    $("code-block").hidden = false;
  }

  function curlSnippet(request, key, typed) {
    // The typed key, single-quoted for the shell; or $API_KEY, which needs double quotes.
    const header = (name, prefix = "") =>
      (typed ? shellQuote(`${name}: ${prefix}${key}`) : `"${name}: ${prefix}$API_KEY"`);
    const lines = [];
    if (request.model.task === "matting") {
      lines.push(`curl -X POST ${shellQuote(request.url.href)}`, "-H 'Content-Type: application/json'");
      if (key) lines.push(`-H ${header("X-API-KEY")}`);
      if (request.from === "url") {
        lines.push(`-d ${shellQuote(JSON.stringify({ url: request.imageUrl, type: "foreground" }))}`);
        return lines.join(" \\\n  ");
      }
      lines.push("--data-binary @-");
      const build = `{ printf '{"type": "foreground", "img": "'; base64 -w0 ${shellQuote(request.fileName)}; printf '"}'; }`;
      return `${build} | \\\n  ${lines.join(" \\\n  ")}`;
    }
    lines.push(`curl -X POST ${shellQuote(request.url.href)}`);
    if (key) lines.push(`-H ${header("Authorization", "Bearer ")}`);
    if (request.from === "file") lines.push(`-F ${shellQuote(`file=@${request.fileName}`)}`);
    return lines.join(" \\\n  ");
  }

  function pythonSnippet(request, key, typed) {
    const endpoint = new URL(request.url.href);
    endpoint.search = "";
    const keyExpr = typed ? null : 'os.environ["API_KEY"]';
    const imports = [];
    const body = [];
    const args = [`    ${pyString(endpoint.href)},`];
    if (request.model.task === "matting") {
      if (request.from === "file") {
        imports.push("import base64");
        body.push(`with open(${pyString(request.fileName)}, "rb") as image:`,
          '    img = base64.b64encode(image.read()).decode("ascii")');
      }
      if (key) args.push(`    headers={"X-API-KEY": ${keyExpr || pyString(key)}},`);
      args.push(request.from === "file"
        ? '    json={"img": img, "type": "foreground"},'
        : `    json={"url": ${pyString(request.imageUrl)}, "type": "foreground"},`);
    } else {
      if (request.params.length) {
        args.push(`    params={${request.params.map(([n, v]) => `${pyString(n)}: ${pyString(v)}`).join(", ")}},`);
      }
      if (key) args.push(`    headers={"Authorization": ${keyExpr ? `"Bearer " + ${keyExpr}` : pyString(`Bearer ${key}`)}},`);
      if (request.from === "file") args.push(`    files={"file": open(${pyString(request.fileName)}, "rb")},`);
    }
    if (key && keyExpr) imports.push("import os");
    args.push("    timeout=60,");
    return [
      ...imports, ...(imports.length ? [""] : []), "import httpx", "", ...body,
      "response = httpx.post(", ...args, ")", "print(response.status_code)", "print(response.json())",
    ].join("\n");
  }

  async function copy(button) {
    const block = $(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(block.textContent);
      setStatus("Copied to the clipboard.");
    } catch (error) {
      const range = document.createRange();
      range.selectNodeContents(block);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      setStatus("Selected: press Ctrl+C (or Cmd+C) to copy.");
    }
  }

  // -- wiring -------------------------------------------------------------------------------

  function bindSliders() {
    for (const name of ["confidence", "overlap"]) {
      $(name).addEventListener("input", () => { $(`${name}-value`).textContent = $(name).value; });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    bindImageInputs();
    bindSliders();
    $("model").addEventListener("change", modelChanged);
    $("predict-form").addEventListener("submit", submit);
    $("include-key").addEventListener("change", renderSnippets);
    for (const button of document.querySelectorAll("button.copy")) {
      button.addEventListener("click", () => copy(button));
    }
    loadModels();
  });
})();
