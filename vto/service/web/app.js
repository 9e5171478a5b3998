// vto web page: a thin client of the v1 API (no build step, no third-party code).
//
// Flow: GET /v1/garments → POST /v1/tryon (multipart) → 202 {id, urls} → progress from
// GET /v1/jobs/{id}/events (SSE) → the final job's outputs. With an API key the page uses
// fetch() everywhere (EventSource cannot send headers) and shows images through blob: URLs.

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const KEY_STORE = "vto.apiKey";

const state = { key: "", garmentId: null, job: null, abort: null, personUrl: null, blobUrls: [] };

// --- HTTP ------------------------------------------------------------------------------------

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, headers: { Accept: "application/json", ...authHeaders(), ...(options.headers || {}) },
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    throw new ApiError(body && typeof body === "object"
      ? { status: response.status, ...body }
      : { status: response.status, title: response.statusText, detail: text.slice(0, 300) });
  }
  return body;
}

// An <img> for an API URL: direct when no key is needed (or the URL is a presigned S3 URL on
// another origin), otherwise fetched with the key and shown as a blob: URL.
async function setImage(img, url) {
  if (!Object.keys(authHeaders()).length || !sameOrigin(url)) {
    img.src = url;
    return url;
  }
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw new ApiError({ status: response.status, title: `cannot load ${url}` });
  const blobUrl = URL.createObjectURL(await response.blob());
  state.blobUrls.push(blobUrl);
  img.src = blobUrl;
  return blobUrl;
}

// --- messages --------------------------------------------------------------------------------

function showError(error) {
  const box = $("error");
  const problem = error && error.problem;
  box.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = problem ? (problem.title || `Error ${problem.status}`) : "Error";
  const detail = document.createElement("span");
  detail.dataset.testid = "error-detail";
  detail.textContent = problem ? (problem.detail || "") : String(error && error.message || error);
  box.append(title, detail);
  box.hidden = false;
  if (problem && problem.status === 401) {  // show where the key goes
    document.querySelector("details.key").open = true;
    $("api-key").focus();
  }
}

function clearError() { $("error").hidden = true; $("error").replaceChildren(); }

function setStatus(text) { $("status").textContent = text; }

function setProgress(step, total) {
  const bar = $("progress-bar");
  if (!total) { $("progress").textContent = ""; bar.hidden = true; return; }
  bar.hidden = false;
  bar.max = total;
  bar.value = step;
  $("progress").textContent = `step ${step} / ${total}`;
}

// --- inputs ----------------------------------------------------------------------------------

function previewFile(input, img) {
  const file = input.files && input.files[0];
  if (!file) { img.hidden = true; img.removeAttribute("src"); return null; }
  const url = URL.createObjectURL(file);
  img.src = url;
  img.hidden = false;
  return url;
}

function syncModelAndCategory(changed) {
  const model = $("model-type"), category = $("category");
  // hd was trained on tops only: picking another category switches to dc, and hd offers
  // nothing but upper body.
  if (changed === "category" && category.value !== "upper_body") model.value = "dc";
  for (const option of category.options) {
    option.disabled = model.value === "hd" && option.value !== "upper_body";
  }
  if (model.value === "hd" && category.value !== "upper_body") category.value = "upper_body";
}

function selectGarment(garment, element) {
  state.garmentId = garment ? garment.id : null;
  for (const item of document.querySelectorAll("[data-testid=garment-item]")) {
    item.setAttribute("aria-selected", String(item === element));
  }
  if (garment) {
    $("garment-input").value = "";
    $("garment-preview").hidden = true;
    const types = garment.model_types || ["dc"];
    if (!types.includes($("model-type").value)) $("model-type").value = types[0];
    syncModelAndCategory("garment");  // model first: hd disables the other categories
    $("category").value = garment.category;
  }
}

async function loadGarments() {
  const list = $("garment-list");
  list.replaceChildren();
  let garments = [];
  try {
    const body = await api("/v1/garments");
    clearError();
    garments = Array.isArray(body) ? body : (body.garments || body.items || body.data || []);
  } catch (error) {
    showError(error);
  }
  $("garment-empty").hidden = garments.length > 0;
  if (!garments.some((g) => g.id === state.garmentId)) state.garmentId = null;
  for (const garment of garments) {
    const item = document.createElement("button");
    item.type = "button";
    item.className = "garment";
    item.dataset.testid = "garment-item";
    item.dataset.id = garment.id;
    item.setAttribute("role", "option");
    item.setAttribute("aria-selected", "false");
    item.title = `${garment.name} · ${garment.category}` +
      (garment.category_source === "predicted" ? " (predicted)" : "");
    const img = document.createElement("img");
    img.alt = garment.name;
    img.loading = "lazy";
    const caption = document.createElement("small");
    caption.textContent = garment.name;
    item.append(img, caption);
    item.addEventListener("click", () => selectGarment(garment, item));
    if (garment.id === state.garmentId) item.setAttribute("aria-selected", "true");
    list.append(item);
    const thumb = garment.thumbnail_url || `/v1/garments/${encodeURIComponent(garment.id)}/thumbnail`;
    setImage(img, thumb).catch(() => {});
  }
}

// --- a job -----------------------------------------------------------------------------------

function buildForm() {
  const person = $("person-input").files[0];
  if (!person) throw new Error("Choose a person photo first.");
  const garmentFile = $("garment-input").files[0];
  if (!garmentFile && !state.garmentId) throw new Error("Pick a garment from the catalog or upload one.");
  const form = new FormData();
  form.append("person_image", person);
  if (garmentFile) form.append("garment_image", garmentFile);
  else form.append("garment_id", state.garmentId);
  const mask = $("mask-input").files[0];
  if (mask) form.append("mask", mask);
  form.append("model_type", $("model-type").value);
  form.append("category", $("category").value);
  form.append("n_samples", $("n-samples").value);
  form.append("n_steps", $("n-steps").value);
  form.append("guidance_scale", $("guidance").value);
  form.append("seed", $("seed").value);
  return form;
}

function setBusy(busy) {
  $("run").disabled = busy;
  $("cancel").disabled = !busy;
}

async function run(event) {
  event.preventDefault();
  clearError();
  $("result").replaceChildren();
  $("compare").hidden = true;
  $("seed-used").textContent = "";
  let form;
  try { form = buildForm(); } catch (error) { showError(error); return; }
  setBusy(true);
  setStatus("Submitting…");
  setProgress(0, 0);
  try {
    const job = await api("/v1/tryon", { method: "POST", body: form });
    state.job = job;
    onJob(job);
    await follow(job);
  } catch (error) {
    if (error.name !== "AbortError") { showError(error); setStatus("Failed"); }
  } finally {
    setBusy(false);
    state.abort = null;
  }
}

function onJob(job) {
  state.job = { ...(state.job || {}), ...job };
  const status = job.status || state.job.status;
  const position = job.queue_position;
  setStatus(status === "queued" && position ? `queued (position ${position})` : status);
  if (job.progress) setProgress(job.progress.step || 0, job.progress.total || 0);
}

// Follow a job until it is terminal: SSE first, polling if the stream breaks.
async function follow(job) {
  const eventsUrl = (job.urls && job.urls.events) || `/v1/jobs/${job.id}/events`;
  let final = null;
  try {
    final = await streamEvents(eventsUrl);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    console.warn("event stream failed, polling instead", error);
  }
  const self = (job.urls && job.urls.self) || `/v1/jobs/${job.id}`;
  while (!final || !TERMINAL.has(final.status)) {
    if (final) await new Promise((resolve) => setTimeout(resolve, 1000));
    final = await api(self);
    onJob(final);
  }
  if (final.status === "succeeded" && !final.outputs) final = await api(self);
  await finish(final);
}

// status/progress events carry {id, status, progress{step,total}, queue_position}; completed
// carries the whole final job document.
function handleEvent(name, data) {
  if (!data || typeof data !== "object") return null;
  if (data.status) onJob(data);
  else if (data.total !== undefined) setProgress(data.step || 0, data.total);
  if (name === "completed" || TERMINAL.has(data.status)) return data;
  return null;
}

// Read an SSE stream with fetch (so the API key header can be sent). Resolves with the final
// job document, or null if the stream ended first.
async function streamEvents(url) {
  const controller = new AbortController();
  state.abort = controller;
  const response = await fetch(url, {
    headers: { Accept: "text/event-stream", ...authHeaders() }, signal: controller.signal,
  });
  if (!response.ok || !response.body) throw new Error(`event stream: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        let parsed = null;
        try { parsed = JSON.parse(data.join("\n")); } catch { continue; }
        const final = handleEvent(name, parsed);
        if (final) return final;
      }
    }
  } finally {
    controller.abort();
  }
}

async function finish(job) {
  onJob(job);
  if (job.status === "succeeded") {
    setStatus("Done");
    setProgress(job.progress ? job.progress.total : 0, job.progress ? job.progress.total : 0);
    await showOutputs(job);
  } else if (job.status === "canceled") {
    setStatus("Canceled");
  } else {
    setStatus("Failed");
    if (job.error) showError({ problem: job.error });
  }
}

async function showOutputs(job) {
  const gallery = $("result");
  gallery.replaceChildren();
  const outputs = job.outputs || [];
  for (const output of outputs) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.dataset.testid = "result-image";
    img.alt = `result ${output.index}`;
    const caption = document.createElement("figcaption");
    const link = document.createElement("a");
    link.dataset.testid = "download";
    link.textContent = "download";
    link.download = `vto-${job.id}-${output.index}.png`;
    const label = document.createElement("span");
    label.textContent = `#${output.index}`;
    caption.append(label, link);
    figure.append(img, caption);
    gallery.append(figure);
    const shown = await setImage(img, output.url);
    link.href = shown;
    img.addEventListener("click", () => showCompare(shown));
  }
  if (job.seed !== undefined && job.seed !== null) $("seed-used").textContent = `seed ${job.seed}`;
  if (outputs.length) showCompare(gallery.querySelector("img").src);
}

function showCompare(afterUrl) {
  if (!state.personUrl) return;
  $("compare-before").src = state.personUrl;
  $("compare-after").src = afterUrl;
  $("compare").hidden = false;
  updateCompare();
}

function updateCompare() {
  const at = $("compare-slider").value;
  $("compare-after").style.clipPath = `inset(0 0 0 ${at}%)`;
  $("compare-divider").style.left = `${at}%`;
}

async function cancel() {
  if (!state.job) return;
  $("cancel").disabled = true;
  setStatus("Canceling…");
  try {
    const job = await api((state.job.urls && state.job.urls.cancel) || `/v1/jobs/${state.job.id}/cancel`,
                          { method: "POST" });
    if (job && job.status) onJob(job);
  } catch (error) {
    showError(error);
  }
}

// --- wiring ----------------------------------------------------------------------------------

function init() {
  const savedKey = sessionStorage.getItem(KEY_STORE);
  if (savedKey) $("api-key").value = savedKey;
  state.key = $("api-key").value.trim();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("api-key").dispatchEvent(new Event("change"));
  });
  $("api-key").addEventListener("change", () => {
    const key = $("api-key").value.trim();
    if (key === state.key) return;  // a blur after a scripted change must not reload
    state.key = key;
    sessionStorage.setItem(KEY_STORE, key);
    loadGarments();
  });
  $("person-input").addEventListener("change", () => {
    state.personUrl = previewFile($("person-input"), $("person-preview"));
  });
  for (const id of ["person-preview", "garment-preview"]) {  // a file that is no image
    $(id).addEventListener("error", () => { $(id).hidden = true; });
  }
  const drop = document.querySelector("[data-testid=person-drop]");
  drop.addEventListener("dragover", () => drop.classList.add("over"));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", () => drop.classList.remove("over"));
  $("garment-input").addEventListener("change", () => {
    if ($("garment-input").files.length) selectGarment(null, null);
    previewFile($("garment-input"), $("garment-preview"));
  });
  $("mask-input").addEventListener("change", () => {
    $("mask-clear").hidden = !$("mask-input").files.length;
  });
  $("mask-clear").addEventListener("click", () => { $("mask-input").value = ""; $("mask-clear").hidden = true; });
  $("model-type").addEventListener("change", () => syncModelAndCategory("model"));
  $("category").addEventListener("change", () => syncModelAndCategory("category"));
  $("compare-slider").addEventListener("input", updateCompare);
  $("form").addEventListener("submit", run);
  $("cancel").addEventListener("click", cancel);
  syncModelAndCategory("init");
  loadGarments();
  document.body.dataset.ready = "true";
}

init();
