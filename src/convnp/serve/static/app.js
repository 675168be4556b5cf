// convnp serve: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
// The input is either the drawing canvas (sent as PNG) or an uploaded file (sent as it is);
// the server prepares it exactly as `convnp predict` does and answers with JSON.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  models: [], model: null,      // the selected model's description (GET /api/models)
  upload: null,                 // a File while the input is an upload, null for the drawing
  drawn: false,                 // anything drawn since the last clear
  source: "",                   // "draw" or "upload": what the last answer was about
  layer: 0,                     // the layer shown in the maps panel
  channel: null,                // its channel shown enlarged, or null
};

// -- talking to the server -------------------------------------------------------------------
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(err) {
  $("error").hidden = !err;
  $("error").textContent = err ? String(err.message || err) : "";
}

async function inputBody() {
  if (state.upload) return { body: state.upload, type: state.upload.type || "application/octet-stream" };
  const blob = await new Promise((resolve) => $("draw").toBlob(resolve, "image/png"));
  return { body: blob, type: "image/png" };
}

async function post(path, params) {
  const { body, type } = await inputBody();
  const query = new URLSearchParams({ model: state.model.id, invert: $("invert").value, ...params });
  return api(`${path}?${query}`, { method: "POST", body, headers: { "Content-Type": type } });
}

function hasInput() { return state.model && (state.upload || state.drawn); }

// At most one request of a kind in flight; a call while one runs asks for one more run after it.
function throttled(fn, interval) {
  let running = false, again = false, last = 0;
  return function run() {
    if (running) { again = true; return; }
    running = true;
    again = false;
    setTimeout(async () => {
      last = performance.now();
      try { await fn(); showError(null); } catch (err) { showError(err); }
      running = false;
      if (again) run();
    }, Math.max(0, last + interval - performance.now()));
  };
}

const updatePrediction = throttled(async () => {
  if (!hasInput()) return;
  const source = state.upload ? "upload" : "draw";
  const answer = await post("/api/predict", {});
  showSeen(answer.input);
  showBars(answer);
  $("predicted").textContent = answer.label;
  $("predicted").dataset.source = source;
}, 100);

const updateDetails = throttled(async () => {
  if (!hasInput()) return;
  const source = state.upload ? "upload" : "draw";
  const target = $("target").value;
  const [layers, sal] = await Promise.all([
    post("/api/layers", { layer: String(state.layer) }),
    $("show-saliency").checked ? post("/api/saliency", target === "" ? {} : { target }) : null,
  ]);
  showMaps(layers.layers[0]);
  showSaliency(sal);
  $("maps").dataset.source = source;
}, 300);

function update() { updatePrediction(); updateDetails(); }

// -- colours ---------------------------------------------------------------------------------
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
  .map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
const RDBU = ["#053061", "#6bacd1", "#f7f6f6", "#e48066", "#67001f"]
  .map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));

function ramp(stops, t) {   // t in [0, 1] -> [r, g, b], linear between the stops
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  return stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
}
const VIRIDIS_LUT = Array.from({ length: 256 }, (_, v) => ramp(VIRIDIS, v / 255));
const RDBU_LUT = Array.from({ length: 256 }, (_, v) => ramp(RDBU, v / 255));

function bytes(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }

// Paint `values` (h*w bytes from `offset`) on `canvas` through a colour table.
function paint(canvas, values, offset, h, w, lut) {
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = lut[values[offset + i]];
    img.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function resetViews() {   // nothing to show until something is drawn or uploaded
  $("predicted").textContent = "";
  delete $("predicted").dataset.source;
  delete $("maps").dataset.source;
  for (const id of ["bars", "maps"]) $(id).replaceChildren();
  for (const id of ["seen", "saliency"]) $(id).getContext("2d").clearRect(0, 0, $(id).width, $(id).height);
  $("seen-info").textContent = "";
  $("zoom").hidden = true;
}

// -- drawing and uploads --------------------------------------------------------------------
function clearCanvas() {
  const ctx = $("draw").getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, 280, 280);
  state.upload = null;
  state.drawn = false;
}

function setUpDrawing() {
  const canvas = $("draw"), ctx = canvas.getContext("2d");
  let last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    if (state.upload) state.upload = null;   // drawing on an upload: from now on the canvas is the input
    last = at(e);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e);
    stroke(last, p);
    last = p;
  });
  const end = () => { if (last) { last = null; update(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  function stroke(a, b) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    state.drawn = true;
    updatePrediction();
  }
}

async function useFile(file) {
  if (!file) return;
  clearCanvas();
  state.upload = file;
  try {   // show it on the canvas; the file itself is what the server gets
    const bitmap = await createImageBitmap(file);
    const s = Math.min(280 / bitmap.width, 280 / bitmap.height);
    const ctx = $("draw").getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, (280 - bitmap.width * s) / 2, (280 - bitmap.height * s) / 2, bitmap.width * s, bitmap.height * s);
  } catch (err) { /* the browser cannot show it; the server says whether it can read it */ }
  update();
}

function setUpDrop() {
  const zone = $("drop");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    useFile(e.dataTransfer.files[0]);
  });
  $("upload").addEventListener("change", (e) => { useFile(e.target.files[0]); e.target.value = ""; });
}

// -- what the answers show ------------------------------------------------------------------
function showSeen(input) {
  const [c, h, w] = input.shape, data = bytes(input.data), canvas = $("seen");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const rgb = c === 1 ? [data[i], data[i], data[i]] : [data[i], data[h * w + i], data[2 * h * w + i]];
    img.data.set([...rgb, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  $("seen-info").textContent = `${c} x ${h} x ${w}` + (input.inverted ? ", inverted (the model was trained on light strokes on black)" : "");
}

function showBars(answer) {
  const order = answer.probabilities.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 10);
  $("bars").replaceChildren(...order.map(([p, k]) => {
    const li = document.createElement("li");
    li.className = k === answer.predicted ? "top" : "";
    li.dataset.cls = k;
    li.title = `saliency for ${answer.classes[k]}`;
    li.innerHTML = `<span class="label"></span><span class="track"><span class="fill"></span></span><span class="p"></span>`;
    li.querySelector(".label").textContent = answer.classes[k];
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".p").textContent = `${(100 * p).toFixed(1)}%`;
    li.addEventListener("click", () => { $("target").value = String(k); $("show-saliency").checked = true; updateDetails(); });
    return li;
  }));
}

function showSaliency(answer) {
  const canvas = $("saliency"), ctx = canvas.getContext("2d");
  if (!answer) { ctx.clearRect(0, 0, canvas.width, canvas.height); return; }
  const [h, w] = answer.saliency.shape, data = bytes(answer.saliency.data);
  canvas.width = w; canvas.height = h;
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {   // "hot": black-red-yellow-white, more opaque where larger
    const t = data[i] / 255;
    img.data.set([255 * Math.min(1, 3 * t), 255 * Math.min(1, Math.max(0, 3 * t - 1)),
                  255 * Math.max(0, 3 * t - 2), 220 * Math.sqrt(t)], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function showMaps(layer) {
  const maps = $("maps"), info = state.model.layers[layer.index];
  $("layer-title").textContent = `${info.repr}: output ${layer.shape.join(" x ")}` +
    (layer.shown < (layer.kind === "maps" ? layer.shape[0] : layer.shape.reduce((a, b) => a * b, 1)) ? ` (first ${layer.shown} shown)` : "");
  const data = bytes(layer.data);
  maps.className = layer.kind;
  maps.dataset.layer = layer.index;
  $("zoom").hidden = true;
  if (state.channel !== null && state.channel < layer.shown && layer.kind === "maps") zoom(layer, data, state.channel);
  if (layer.kind === "vector") {
    const canvas = document.createElement("canvas");
    paint(canvas, data, 0, 1, layer.shown, VIRIDIS_LUT);
    canvas.title = `values from ${layer.min.toPrecision(3)} to ${layer.max.toPrecision(3)}`;
    maps.replaceChildren(canvas);
    return;
  }
  const [, h, w] = layer.shape;
  maps.replaceChildren(...Array.from({ length: layer.shown }, (_, c) => {
    const fig = document.createElement("figure"), canvas = document.createElement("canvas");
    paint(canvas, data, c * h * w, h, w, VIRIDIS_LUT);
    canvas.style.aspectRatio = `${w} / ${h}`;
    const cap = document.createElement("figcaption");
    cap.textContent = `ch ${c}`;
    fig.append(canvas, cap);
    fig.addEventListener("click", () => { state.channel = c; zoom(layer, data, c); });
    return fig;
  }));
}

function zoom(layer, data, c) {
  const [, h, w] = layer.shape;
  paint($("zoom-canvas"), data, c * h * w, h, w, VIRIDIS_LUT);
  $("zoom-info").textContent = `layer ${layer.name} (${layer.type}), channel ${c}: ${h} x ${w},` +
    ` values ${layer.min[c].toPrecision(3)} (dark) to ${layer.max[c].toPrecision(3)} (yellow)`;
  $("zoom").hidden = false;
}

async function showFilters() {
  $("filters").replaceChildren();
  $("filters-info").textContent = "";
  if (!state.model.has_filters) { $("filters-info").textContent = "this model has no convolution"; return; }
  const f = await api(`/api/filters?model=${encodeURIComponent(state.model.id)}`);
  const [n, c, kh, kw] = f.shown, data = bytes(f.data);
  $("filters-info").textContent = `${f.repr}: blue negative, white 0, red positive (up to ${f.vmax.toPrecision(3)})` +
    (n < f.shape[0] || c < f.shape[1] ? `; ${n} of ${f.shape[0]} filters shown` : "");
  $("filters").replaceChildren(...Array.from({ length: n }, (_, i) => {
    const row = document.createElement("div");
    row.className = "filter-row";
    for (let j = 0; j < c; j++) {
      const canvas = document.createElement("canvas");
      paint(canvas, data, (i * c + j) * kh * kw, kh, kw, RDBU_LUT);
      canvas.title = `filter ${i}, input channel ${j}`;
      row.append(canvas);
    }
    return row;
  }));
}

// -- models and the train button -------------------------------------------------------------
async function loadModels(select) {
  const answer = await api("/api/models");
  state.models = answer.models;
  $("model").replaceChildren(...answer.models.map((m) => {
    const opt = new Option(m.error ? `${m.name} (cannot be used)` : m.name, m.id);
    opt.disabled = Boolean(m.error);
    opt.title = m.error || "";
    return opt;
  }));
  const usable = answer.models.filter((m) => !m.error);
  $("no-models").hidden = usable.length > 0;
  $("train").hidden = answer.training === null;
  if (answer.training && answer.training.state === "running") followTraining();
  const id = select || (state.model && state.model.id) || answer.default;
  if (id) { $("model").value = id; await chooseModel(id); }
}

async function chooseModel(id) {
  state.model = state.models.find((m) => m.id === id);
  const m = state.model;
  $("model-info").textContent = `${m.layers.length} layers, ${m.parameters.toLocaleString()} parameters, input ${m.input_shape.join(" x ")}` +
    (m.dataset ? `, trained on ${m.dataset}` : "");
  $("target").replaceChildren(new Option("the predicted class", ""), ...m.classes.map((c, k) => new Option(c, String(k))));
  state.layer = Math.min(state.layer, m.layers.length - 1);
  state.channel = null;
  $("layer-tabs").replaceChildren(...m.layers.map((layer) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.layer = layer.index;
    b.title = layer.repr;
    b.innerHTML = `${layer.name} <b></b> <span class="shape"></span>`;
    b.querySelector("b").textContent = layer.type;
    b.querySelector(".shape").textContent = layer.shape.join("\u00d7");
    b.addEventListener("click", () => { state.layer = layer.index; state.channel = null; markLayer(); updateDetails(); });
    return b;
  }));
  markLayer();
  $("maps").replaceChildren();
  await showFilters();
  update();
}

function markLayer() {
  for (const b of $("layer-tabs").children) b.setAttribute("aria-pressed", String(Number(b.dataset.layer) === state.layer));
}

async function followTraining() {
  $("train").disabled = true;
  $("train-status").hidden = false;
  for (;;) {
    const s = await api("/api/train");
    $("train-progress").value = s.progress;
    $("train-message").textContent = s.message;
    if (s.state !== "running") {
      $("train").disabled = false;
      if (s.state === "done") await loadModels(s.model);
      else showError(s.message);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function startTraining() {
  try {
    await api("/api/train", { method: "POST" });
    await followTraining();
  } catch (err) { showError(err); $("train").disabled = false; }
}

// -- start -----------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", async () => {
  clearCanvas();
  setUpDrawing();
  setUpDrop();
  $("clear").addEventListener("click", () => { clearCanvas(); resetViews(); });
  $("invert").addEventListener("change", update);
  $("target").addEventListener("change", updateDetails);
  $("show-saliency").addEventListener("change", updateDetails);
  $("model").addEventListener("change", (e) => chooseModel(e.target.value).catch(showError));
  $("train").addEventListener("click", startTraining);
  try { await loadModels(); } catch (err) { showError(err); }
});
