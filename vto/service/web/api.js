// HTTP for the page: the API key, JSON calls, authenticated images, and problems in plain words.

const $ = (id) => document.getElementById(id);

export function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

export function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
}

export async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, headers: { Accept: "application/json", ...authHeaders(), ...(options.headers || {}) },
  });
  if (response.status === 204) return null;
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

const blobUrls = new Map();  // API URL -> blob: URL (images fetched with the key)

// Show an API image in <img>: directly when no key is needed (or for a presigned URL on another
// origin), otherwise fetched with the key and shown as a blob: URL. Returns the shown URL.
export async function setImage(img, url) {
  if (!Object.keys(authHeaders()).length || !sameOrigin(url)) {
    img.src = url;
    return url;
  }
  let shown = blobUrls.get(url);
  if (!shown) {
    const response = await fetch(url, { headers: authHeaders() });
    if (!response.ok) throw new ApiError({ status: response.status, title: `cannot load ${url}` });
    shown = URL.createObjectURL(await response.blob());
    blobUrls.set(url, shown);
  }
  img.src = shown;
  return shown;
}

// The API's names for things, as a person calls them.
const WORDS = [
  [/\bperson_image\b/g, "the person photo"], [/\bgarment_image\b/g, "the garment photo"],
  [/\bgarment_mask\b/g, "the garment's outline"], [/\bgarment_id\b/g, "the catalog garment"],
  [/\bnum_inference_steps\b/g, "steps"], [/\bguidance_scale\b/g, "guidance"],
  [/\bnum_images_per_prompt\b/g, "the number of images"], [/\bperson_select\b/g, "person choice"],
  [/\bdensepose\b/g, "the DensePose image"], [/\bcategory\b/g, "garment type"],
  [/\bupper_body\b/g, "top"], [/\blower_body\b/g, "bottom"],
];

export function inWords(text) {
  let out = String(text || "");
  for (const [pattern, words] of WORDS) out = out.replace(pattern, words);
  return out.replace(/\bthe the\b/g, "the").replace(/^./, (c) => c.toUpperCase());
}

// A problem document (or any error) as {title, detail} a person can act on.
export function describe(error) {
  const problem = error && error.problem;
  if (!problem) {
    const offline = error instanceof TypeError;
    return { title: offline ? "The server cannot be reached" : "Something went wrong",
             detail: offline ? "Check the connection and that vto is running, then try again."
                             : String((error && error.message) || error) };
  }
  const status = problem.status;
  if (status === 401) return { title: "API key needed", detail:
    "This server needs an API key. Enter it under “API key” at the top of the page." };
  if (status === 413) return { title: "Too large", detail: inWords(problem.detail ||
    "The photos are larger than the server accepts; choose smaller ones.") };
  if (status === 429) return { title: "Too many runs", detail:
    "This key started many runs in a short time; wait a minute and try again." };
  if (status === 503) return { title: "The server is busy", detail: inWords(problem.detail ||
    "Try again in a moment.") };
  if (isPersonProblem(problem)) {
    return { title: "No usable person in the photo", detail: inWords(problem.detail)
      .replace(/pass your own mask/, "paint the area to replace with “Preview mask”") };
  }
  return { title: problem.title || `Error ${status}`, detail: inWords(problem.detail || "") };
}

// vto.errors.PersonCheckFailed and its kinds (no person, several, body parts not visible).
export function isPersonProblem(problem) {
  return /:(person-check-failed|no-person-detected|several-persons-detected|body-parts-not-visible)$/
    .test((problem && problem.type) || "");
}
