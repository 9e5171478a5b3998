// The history panel: this key's jobs from GET /v1/jobs (newest first, so it survives reloads),
// with a thumbnail, the status and settings of each, and show / re-run / delete.

import { api, describe, setImage } from "./api.js";
import { CATEGORY_WORDS, server, titleParts } from "./models.js";

const $ = (id) => document.getElementById(id);
const PAGE = 8;
const history = { cursor: null, actions: null };

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function summary(job) {
  const p = job.params || {};
  const model = server.byId.get(p.model);
  const parts = [model ? titleParts(model)[0] : p.model, CATEGORY_WORDS[p.category] || p.category];
  if (p.num_inference_steps) parts.push(`${p.num_inference_steps} steps`);
  if (p.guidance_scale !== null && p.guidance_scale !== undefined) {
    parts.push(`guidance ${p.guidance_scale}`);
  }
  if ((p.num_images_per_prompt || 1) > 1) parts.push(`${p.num_images_per_prompt} images`);
  if (job.seed !== null && job.seed !== undefined) parts.push(`seed ${job.seed}`);
  return parts.filter(Boolean).join(" · ");
}

function statusText(job) {
  if (job.status === "failed") return `failed: ${describe({ problem: job.error || {} }).title}`;
  if (job.status === "running" && job.progress && job.progress.total) {
    return `running ${Math.round(100 * job.progress.fraction)} %`;
  }
  return job.status;
}

function button(label, testid, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.testid = testid;
  element.addEventListener("click", onClick);
  return element;
}

function item(job) {
  const li = document.createElement("li");
  li.className = `job ${job.status}`;
  li.dataset.testid = "history-item";
  li.dataset.id = job.id;
  li.dataset.status = job.status;
  const thumb = document.createElement("img");
  thumb.alt = "";
  thumb.dataset.testid = "history-thumb";
  if (job.outputs && job.outputs.length) setImage(thumb, job.outputs[0].url).catch(() => {});
  else thumb.className = "empty";
  const text = document.createElement("div");
  const status = document.createElement("strong");
  status.dataset.testid = "history-status";
  status.textContent = statusText(job);
  const when = document.createElement("span");
  when.className = "muted";
  when.textContent = job.created_at ? ` · ${ago(job.created_at)}` : "";
  const settings = document.createElement("small");
  settings.dataset.testid = "history-settings";
  settings.textContent = summary(job);
  const actions = document.createElement("div");
  actions.className = "job-actions";
  actions.append(button("Show", "history-show", () => history.actions.show(job)));
  if (job.status === "succeeded" || job.status === "failed" || job.status === "canceled") {
    actions.append(button("Re-run", "history-rerun", () => history.actions.rerun(job)));
    const remove = button("Delete", "history-delete", async () => {
      if (remove.dataset.armed !== "1") {  // two clicks: no dialog, no accident
        remove.dataset.armed = "1";
        remove.textContent = "Delete for good?";
        return;
      }
      remove.disabled = true;
      try {
        await api(`/v1/jobs/${job.id}`, { method: "DELETE" });
        li.remove();
        $("history-empty").hidden = $("history-list").children.length > 0;
      } catch (error) {
        history.actions.error(error);
        remove.disabled = false;
      }
    });
    actions.append(remove);
  }
  text.append(status, when, document.createElement("br"), settings, actions);
  li.append(thumb, text);
  return li;
}

// Keep a listed job's status current while the page follows it.
export function updateItem(job) {
  const li = document.querySelector(`[data-testid=history-item][data-id="${job.id}"]`);
  if (!li || !job.status) return;
  if (li.dataset.status !== job.status && job.params) {
    li.replaceWith(item(job));  // a new status: new thumbnail and actions
  } else {
    li.querySelector("[data-testid=history-status]").textContent = statusText(job);
  }
}

// (Re)load the first page; `actions` = {show(job), rerun(job), error(e)} from the page.
export async function loadHistory(actions) {
  if (actions) history.actions = actions;
  const body = await api(`/v1/jobs?limit=${PAGE}`);
  $("history-list").replaceChildren(...body.jobs.map(item));
  history.cursor = body.next_cursor;
  $("history-more").hidden = !history.cursor;
  $("history-empty").hidden = body.jobs.length > 0;
  return body.jobs;
}

async function loadMore() {
  if (!history.cursor) return;
  const body = await api(`/v1/jobs?limit=${PAGE}&cursor=${encodeURIComponent(history.cursor)}`);
  $("history-list").append(...body.jobs.map(item));
  history.cursor = body.next_cursor;
  $("history-more").hidden = !history.cursor;
}

export function initHistory() {
  $("history-more").addEventListener("click", () => loadMore().catch(history.actions.error));
}
