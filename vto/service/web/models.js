// The settings form, built from the server (GET /v1/models): the models it serves, each with
// the categories and settings it supports and its licence, narrowed by the deployment's limits
// and filled with its defaults. Nothing about models is hard-coded here.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
export const CATEGORY_WORDS = { upper_body: "Top", lower_body: "Bottom", dress: "Dress" };

export const server = { models: [], byId: new Map(), limits: {}, defaults: {}, default: null };

export async function loadModels() {
  const body = await api("/v1/models");
  server.models = body.models || [];
  server.byId = new Map(server.models.map((m) => [m.id, m]));
  server.limits = body.limits || {};
  server.defaults = body.defaults || {};
  server.default = body.default || (server.models[0] && server.models[0].id);
  const select = $("model");
  const chosen = select.value;
  select.replaceChildren(...server.models.map((model) => new Option(titleParts(model)[0], model.id)));
  applyModel(server.byId.has(chosen) ? chosen : server.default);
}

// "OOTDiffusion HD (half-body, tops)" -> ["OOTDiffusion HD", "half-body, tops"]: the short name
// fits a phone's select; the rest is said under it.
export function titleParts(model) {
  const match = /^(.*?)\s*\((.*)\)\s*$/.exec(model.title);
  return match ? [match[1], match[2]] : [model.title, ""];
}

export function currentModel() {
  return server.byId.get($("model").value);
}

export function supportsMask(model = currentModel()) {
  const caps = model && model.capabilities;
  return Boolean(caps && caps.user_mask && caps.needs.includes("mask"));
}

// A numeric setting's bounds and default: the model's range, narrowed by the server's limit.
function range(spec, limit, deploymentDefault) {
  const max = limit ? Math.min(spec.max, limit) : spec.max;
  const wanted = deploymentDefault ?? spec.default;
  return { min: spec.min, max, value: Math.min(Math.max(wanted, spec.min), max) };
}

function setNumber(field, input, spec) {
  $(field).hidden = !spec;
  if (!spec) return;
  input.min = spec.min;
  input.max = spec.max;
  input.value = spec.value;
  delete input.dataset.touched;  // untouched: the server's default is what runs
}

export function applyModel(id, category = null) {
  const model = server.byId.get(id);
  if (!model) return;
  $("model").value = id;
  const caps = model.capabilities;
  const limits = server.limits, defaults = server.defaults;
  const select = $("category");
  const keep = category || select.value;
  select.replaceChildren(...caps.categories.map((c) => new Option(CATEGORY_WORDS[c] || c, c)));
  select.value = caps.categories.includes(keep) ? keep : caps.default_category;
  setNumber("steps-field", $("n-steps"), caps.steps &&
            range(caps.steps, limits.max_steps, defaults.num_inference_steps));
  setNumber("guidance-field", $("guidance"), caps.guidance &&
            range(caps.guidance, limits.max_guidance, defaults.guidance_scale));
  const samples = Math.min(caps.max_samples, limits.max_samples || caps.max_samples);
  $("samples-field").hidden = samples <= 1;
  $("n-samples").max = samples;
  if (Number($("n-samples").value) > samples) $("n-samples").value = samples;
  const licence = $("licence");
  const link = document.createElement("a");
  link.href = model.licence_url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = model.licence;
  const about = titleParts(model)[1];
  licence.replaceChildren(about ? `${about}. ` : "", "Licence of this model and its results: ",
                          link, model.loaded ? "" : " · loads on its first run");
  document.dispatchEvent(new CustomEvent("vto:model", { detail: model }));
}

// A model id for an id or alias ("hd" -> "ootd-hd"), or null.
export function modelId(name) {
  const model = server.models.find((m) => m.id === name || (m.aliases || []).includes(name));
  return model ? model.id : null;
}

// The first model that dresses `category`, preferring the current one, then `preferred` ids or
// aliases (e.g. a catalog garment's model types).
export function modelFor(category, preferred = []) {
  const order = [$("model").value, ...preferred.map(modelId), server.default,
                 ...server.byId.keys()];
  return order.find((id) => server.byId.has(id) &&
                    server.byId.get(id).capabilities.categories.includes(category)) || null;
}

// The request fields of the form; steps and guidance only when changed from the default.
export function requestFields() {
  const fields = { model: $("model").value, category: $("category").value,
                   seed: $("seed").value || "-1" };
  if (!$("samples-field").hidden) fields.num_images_per_prompt = $("n-samples").value;
  for (const [id, name] of [["n-steps", "num_inference_steps"], ["guidance", "guidance_scale"]]) {
    const input = $(id);
    if (!input.closest("label").hidden && input.dataset.touched) fields[name] = input.value;
  }
  return fields;
}

// Put a job's settings back into the form (history: "use these settings").
export function applyParams(params, seed) {
  if (!server.byId.has(params.model)) return;
  applyModel(params.model, params.category);
  for (const [id, name] of [["n-steps", "num_inference_steps"], ["guidance", "guidance_scale"]]) {
    if (params[name] !== null && params[name] !== undefined) {
      $(id).value = params[name];
      $(id).dataset.touched = "1";
    }
  }
  if (params.num_images_per_prompt) $("n-samples").value = params.num_images_per_prompt;
  if (seed !== null && seed !== undefined) $("seed").value = seed;
}

export function initSettingsForm() {
  $("model").addEventListener("change", () => applyModel($("model").value));
  for (const id of ["n-steps", "guidance"]) {
    $(id).addEventListener("input", () => { $(id).dataset.touched = "1"; });
  }
}
