// The garment catalog: GET /v1/garments as a list to pick from. Picking a garment picks a model
// that dresses its category (and that category).

import { api, setImage } from "./api.js";
import { applyModel, modelFor } from "./models.js";

const $ = (id) => document.getElementById(id);
export const catalog = { selected: null };  // the chosen garment's id

// Select `garment` (null: none, e.g. a garment photo was uploaded instead).
export function selectGarment(garment, element) {
  catalog.selected = garment ? garment.id : null;
  for (const item of document.querySelectorAll("[data-testid=garment-item]")) {
    item.setAttribute("aria-selected", String(item === element));
  }
  if (!garment) return;
  $("garment-input").value = "";
  $("garment-preview").hidden = true;
  $("garment-check").hidden = true;
  const model = modelFor(garment.category, garment.model_types || []);
  if (model) applyModel(model, garment.category);
}

export async function loadGarments() {
  const list = $("garment-list");
  const body = await api("/v1/garments");
  const garments = body.garments || [];
  list.replaceChildren();
  $("garment-empty").hidden = garments.length > 0;
  if (!garments.some((g) => g.id === catalog.selected)) catalog.selected = null;
  for (const garment of garments) {
    const item = document.createElement("button");
    item.type = "button";
    item.className = "garment";
    item.dataset.testid = "garment-item";
    item.dataset.id = garment.id;
    item.setAttribute("role", "option");
    item.setAttribute("aria-selected", String(garment.id === catalog.selected));
    item.title = `${garment.name} · ${garment.category}`;
    const img = document.createElement("img");
    img.alt = garment.name;
    img.loading = "lazy";
    const caption = document.createElement("small");
    caption.textContent = garment.name;
    item.append(img, caption);
    item.addEventListener("click", () => selectGarment(garment, item));
    list.append(item);
    setImage(img, garment.thumbnail_url).catch(() => {});
  }
}
