// vto web page: a thin client of the v1 API (no build step, no third-party code).
//
// Flow: GET /v1/models (the form) + GET /v1/garments + GET /v1/jobs (history) → optional
// POST /v1/masks (preview and correct the mask) → POST /v1/tryon (multipart) → progress from
// GET /v1/jobs/{id}/events (SSE, read with fetch so the API key can be sent) → the outputs.

import { ApiError, api, authHeaders, describe, isPersonProblem, setImage } from "./api.js";
import { catalog, loadGarments, selectGarment } from "./catalog.js";
import { checkImage } from "./checks.js";
import { initHistory, loadHistory, updateItem } from "./history.js";
import { closeEditor, exportMask, initEditor, openEditor } from "./mask_editor.js";
import { applyParams, initSettingsForm, loadModels, requestFields, server,
         supportsMask } from "./models.js";
import { noteProgress, startTiming, stopTiming, streamEvents } from "./progress.js";

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const KEY_STORE = "vto.apiKey";
const PHONE = window.matchMedia("(max-width: 860px)");

const state = {
  key: "", job: null, abort: null, busy: false,
  person: null, personUrl: null, mask: null, maskKind: "automatic",
  befores: new Map(),
};

// --- messages --------------------------------------------------------------------------------

function showError(error) {
  const { title, detail } = describe(error);
  const heading = document.createElement("strong");
  heading.textContent = title;
  const text = document.createElement("span");
  text.dataset.testid = "error-detail";
  text.textContent = detail;
  $("error").replaceChildren(heading, text);
  $("error").hidden = false;
  if (error && error.problem && error.problem.status === 401) {  // show where the key goes
    document.querySelector("details.key").open = true;
    $("api-key").focus();
  }
}

function clearError() { $("error").hidden = true; $("error").replaceChildren(); }

function setCheck(id, message) {
  $(id).textContent = message || "";
  $(id).hidden = !message;
}

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

async function choosePerson() {
  const file = $("person-input").files[0];
  state.person = null;
  $("person-preview").hidden = true;
  resetMask();
  if (!file) return updateMaskButtons();
  const check = await checkImage(file, server.limits, "photo of the person");
  if (!check.ok) {
    setCheck("person-check", check.message);
    $("person-input").value = "";
    return updateMaskButtons();
  }
  setCheck("person-check", "");
  state.person = { file, width: check.width, height: check.height };
  state.personUrl = URL.createObjectURL(file);
  $("person-preview").src = state.personUrl;
  $("person-preview").hidden = false;
  updateMaskButtons();
}

async function chooseGarment() {
  const file = $("garment-input").files[0];
  $("garment-preview").hidden = true;
  if (!file) return;
  const check = await checkImage(file, server.limits, "garment photo");
  if (!check.ok) {
    setCheck("garment-check", check.message);
    $("garment-input").value = "";
    return;
  }
  setCheck("garment-check", "");
  selectGarment(null, null);
  $("garment-preview").src = URL.createObjectURL(file);
  $("garment-preview").hidden = false;
}

async function chooseMaskFile() {
  const file = $("mask-input").files[0];
  if (!file) return;
  const check = await checkImage(file, { ...server.limits, min_photo_side: 1 }, "mask");
  const person = state.person;
  let message = check.ok ? "" : check.message;
  if (check.ok && person && (check.width !== person.width || check.height !== person.height)) {
    message = `The mask is ${check.width} × ${check.height} pixels but the photo is ` +
              `${person.width} × ${person.height}; a mask must be the photo's size.`;
  }
  if (message) {
    setCheck("mask-check", message);
    $("mask-input").value = "";
    return;
  }
  setCheck("mask-check", "");
  setMask(file, "uploaded", `Mask: your file “${file.name}”`);
}

function setMask(blob, kind, text) {
  state.mask = blob;
  state.maskKind = kind;
  $("mask-state").textContent = text;
  $("mask-clear").hidden = kind === "automatic";
}

function resetMask() {
  $("mask-input").value = "";
  setCheck("mask-check", "");
  closeEditor();
  setMask(null, "automatic", supportsMask() ? "Mask: automatic" : "This model uses no mask");
}

function updateMaskButtons() {
  const masks = supportsMask();
  const model = server.byId.get($("model").value);
  const ownMask = Boolean(model && model.capabilities.user_mask);
  $("mask-preview").disabled = !(masks && state.person) || state.busy;
  $("mask-input").closest("label").hidden = !ownMask;
  $("mask-preview").hidden = !masks;
  if (!ownMask && state.maskKind !== "automatic") resetMask();
  if (state.maskKind === "automatic") {
    $("mask-state").textContent = masks || ownMask ? "Mask: automatic" : "This model uses no mask";
  }
}

async function previewMask() {
  if (!state.person) return;
  clearError();
  setCheck("mask-check", "");
  $("mask-preview").disabled = true;
  const form = new FormData();
  form.append("person_image", state.person.file);
  const fields = requestFields();
  form.append("model", fields.model);
  form.append("category", fields.category);
  try {
    const body = await api("/v1/masks", { method: "POST", body: form });
    const mask = new Image();
    mask.src = body.mask;
    await mask.decode();
    await openEditor(state.person.file, mask, `The automatic mask covers ` +
      `${Math.round(body.coverage * 100)} % of the photo. Paint with the brush to add to it, ` +
      "with the eraser to remove from it, then use it.");
  } catch (error) {
    if (error instanceof ApiError && isPersonProblem(error.problem)) {
      const found = describe(error).detail.split(";")[0];  // "No person found in the photo"
      await openEditor(state.person.file, null, `${found}, so there is no automatic mask: ` +
        "paint the area to replace with the brush, then use it.");
    } else {
      showError(error);
    }
  } finally {
    updateMaskButtons();
  }
}

async function useEditedMask() {
  const blob = await exportMask();
  if (!blob) {
    setCheck("mask-check", "The mask is empty: paint the area to replace before using it.");
    return;
  }
  setCheck("mask-check", "");
  $("mask-input").value = "";
  setMask(new File([blob], "mask.png", { type: "image/png" }), "edited",
          "Mask: your corrected mask");
  closeEditor();
}

// --- a job -----------------------------------------------------------------------------------

function missing(detail) {
  return new ApiError({ status: 0, title: "Something is missing", detail });
}

function buildForm() {
  if (!state.person) throw missing("Choose a photo of the person first.");
  const garmentFile = $("garment-input").files[0];
  if (!garmentFile && !catalog.selected) {
    throw missing("Pick a garment from the catalog, or upload a photo of one.");
  }
  const form = new FormData();
  form.append("person_image", state.person.file);
  if (garmentFile) form.append("garment_image", garmentFile);
  else form.append("garment_id", catalog.selected);
  if (state.mask) form.append("mask", state.mask);
  if (!$("densepose-field").hidden) {
    const densepose = $("densepose-input").files[0];
    if (!densepose) throw missing("This model needs a DensePose image of the person; add one.");
    form.append("densepose", densepose);
  }
  for (const [name, value] of Object.entries(requestFields())) form.append(name, value);
  return form;
}

function setBusy(busy) {
  state.busy = busy;
  $("run").disabled = busy || !server.models.length;
  $("cancel").disabled = !busy;
  $("result").classList.toggle("stale", busy);
  updateMaskButtons();
}

function revealOutput() {
  if (PHONE.matches) $("output").scrollIntoView({ block: "start" });
}

async function submit(request) {
  clearError();
  setBusy(true);
  setStatus("Submitting…");
  setProgress(0, 0);
  revealOutput();
  startTiming();
  let final = false;
  try {
    const job = await request();
    if (state.personUrl && job.id && request.withPhoto) state.befores.set(job.id, state.personUrl);
    refreshHistory();
    final = await follow(job);
  } catch (error) {
    if (error.name !== "AbortError") { showError(error); setStatus("Failed"); }
  } finally {
    stopTiming(final);
    setBusy(false);
    state.abort = null;
    refreshHistory();
  }
}

function run(event) {
  event.preventDefault();
  let form;
  try { form = buildForm(); } catch (error) { clearError(); showError(error); return; }
  const request = () => api("/v1/tryon", { method: "POST", body: form });
  request.withPhoto = true;
  submit(request);
}

function onJob(job) {
  state.job = { ...(state.job || {}), ...job };
  const status = job.status || state.job.status;
  const position = job.queue_position;
  setStatus(status === "queued" && position ? `queued (position ${position})` : status);
  if (job.progress) {
    setProgress(job.progress.step || 0, job.progress.total || 0);
    noteProgress(job.progress.step || 0, job.progress.total || 0, status);
  }
  if (state.job.id) updateItem(state.job);
}

// Follow a job until it is terminal: SSE first, polling if the stream breaks. True when the
// job finished (succeeded, failed or canceled).
async function follow(job) {
  state.job = job;
  onJob(job);
  let final = null;
  try {
    state.abort = new AbortController();
    final = await streamEvents(`/v1/jobs/${job.id}/events`, authHeaders(), state.abort, onJob);
  } catch (error) {
    if (error.name === "AbortError") throw error;
  }
  while (!final || !TERMINAL.has(final.status)) {
    if (final) await new Promise((resolve) => setTimeout(resolve, 1000));
    final = await api(`/v1/jobs/${job.id}`);
    onJob(final);
  }
  await showJob(final);
  return true;
}

// Show a finished job: its outputs replace the results; a failure keeps the earlier ones.
async function showJob(job) {
  onJob(job);
  if (job.status === "succeeded") {
    setStatus("Done");
    setProgress(job.progress ? job.progress.total : 0, job.progress ? job.progress.total : 0);
    await showOutputs(job);
  } else if (job.status === "canceled") {
    setStatus("Canceled");
  } else if (job.status === "failed") {
    setStatus("Failed");
    showError({ problem: job.error || { title: "The run failed" } });
  }
}

async function showOutputs(job) {
  const figures = [];
  for (const output of job.outputs || []) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.dataset.testid = "result-image";
    img.alt = `result ${output.index + 1}`;
    const caption = document.createElement("figcaption");
    const link = document.createElement("a");
    link.dataset.testid = "download";
    link.textContent = "download";
    link.download = `vto-${job.id}-${output.index}.png`;
    const label = document.createElement("span");
    label.textContent = `#${output.index + 1}`;
    caption.append(label, link);
    figure.append(img, caption);
    figures.push(figure);
    const shown = await setImage(img, output.url);
    link.href = shown;
    img.addEventListener("click", () => showCompare(job.id, shown));
  }
  $("result").replaceChildren(...figures);
  $("result").classList.remove("stale");
  $("seed-used").textContent = job.seed !== null && job.seed !== undefined ? `seed ${job.seed}` : "";
  $("compare").hidden = true;
  if (figures.length) showCompare(job.id, figures[0].querySelector("img").src);
  await Promise.all(figures.map((f) => f.querySelector("img").decode().catch(() => {})));
  revealOutput();  // on a phone: the result, not the form, fills the screen
}

function showCompare(jobId, afterUrl) {
  const before = state.befores.get(jobId);
  if (!before) return;
  $("compare-before").src = before;
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
    const job = await api(`/v1/jobs/${state.job.id}/cancel`, { method: "POST" });
    if (job && job.status) onJob(job);
  } catch (error) {
    showError(error);
  }
}

// --- history -----------------------------------------------------------------------------------

const historyActions = {
  show: (job) => {
    clearError();
    if (TERMINAL.has(job.status)) { revealOutput(); return showJob(job); }
    if (!state.busy) submit(async () => job);
    return null;
  },
  rerun: (job) => {
    if (state.busy) return;
    applyParams(job.params || {}, job.seed);
    const before = state.befores.get(job.id);
    submit(async () => {
      const again = await api(`/v1/jobs/${job.id}/rerun`, { method: "POST" });
      if (before) state.befores.set(again.id, before);
      return again;
    });
  },
  error: showError,
};

async function refreshHistory() {
  try {
    return await loadHistory(historyActions);
  } catch {
    return [];  // the page's own error already says why (e.g. the key)
  }
}

// --- wiring ----------------------------------------------------------------------------------

async function loadAll() {
  clearError();
  const results = await Promise.allSettled([loadModels(), loadGarments()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(failed.reason);
  resetMask();
  setBusy(state.busy);
  const jobs = await refreshHistory();
  const open = jobs.find((job) => !TERMINAL.has(job.status));
  if (open && !state.busy) submit(async () => open);  // a run still going on: follow it again
}

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
    loadAll();
  });
  $("person-input").addEventListener("change", choosePerson);
  $("garment-input").addEventListener("change", chooseGarment);
  $("mask-input").addEventListener("change", chooseMaskFile);
  $("mask-clear").addEventListener("click", resetMask);
  $("mask-preview").addEventListener("click", previewMask);
  $("mask-use").addEventListener("click", useEditedMask);
  $("mask-close").addEventListener("click", closeEditor);
  const drop = document.querySelector("[data-testid=person-drop]");
  drop.addEventListener("dragover", () => drop.classList.add("over"));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", () => drop.classList.remove("over"));
  document.addEventListener("vto:model", (event) => {
    if (state.maskKind === "automatic") resetMask();  // the automatic mask is the model's
    updateMaskButtons();
    $("densepose-field").hidden = !event.detail.capabilities.needs.includes("densepose");
  });
  $("compare-slider").addEventListener("input", updateCompare);
  $("form").addEventListener("submit", run);
  $("cancel").addEventListener("click", cancel);
  initSettingsForm();
  initEditor();
  initHistory();
  loadAll().finally(() => { document.body.dataset.ready = "true"; });
}

init();
