// The mask editor: the photo with the mask painted over it, a brush to add to the region the
// model re-generates and an eraser to take from it. Both canvases have the photo's own size (as
// the server decodes it, EXIF rotation applied), so the exported mask is at the photo's size:
// white = re-generate, black = keep.

const $ = (id) => document.getElementById(id);
const PAINT = [230, 30, 90];  // the overlay's colour (shown half transparent)

const editor = { photo: null, automatic: null, drawing: false, last: null };

function paintCanvas() { return $("mask-paint"); }

// Open the editor on `photoFile` (a File/Blob) with `mask` (an <img>/ImageBitmap, white =
// re-generate) or an empty mask; `note` says where the mask came from.
export async function openEditor(photoFile, mask, note) {
  const photo = await createImageBitmap(photoFile);
  editor.photo = photo;
  editor.automatic = mask || null;
  for (const canvas of [$("mask-photo"), paintCanvas()]) {
    canvas.width = photo.width;
    canvas.height = photo.height;
  }
  $("mask-photo").getContext("2d").drawImage(photo, 0, 0);
  loadMask(mask);
  $("mask-note").textContent = note;
  $("mask-editor").hidden = false;
}

export function closeEditor() {
  $("mask-editor").hidden = true;
}

function loadMask(mask) {
  const canvas = paintCanvas();
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!mask) return;
  context.drawImage(mask, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {  // white -> paint, black -> transparent
    const on = data[i] >= 128;
    data[i] = PAINT[0]; data[i + 1] = PAINT[1]; data[i + 2] = PAINT[2];
    data[i + 3] = on ? 255 : 0;
  }
  context.putImageData(pixels, 0, 0);
}

// The painted region as a PNG Blob at the photo's size (white = re-generate); null if empty.
export async function exportMask() {
  const canvas = paintCanvas();
  const painted = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const out = new ImageData(canvas.width, canvas.height);
  let any = false;
  for (let i = 0; i < painted.data.length; i += 4) {
    const value = painted.data[i + 3] >= 128 ? 255 : 0;
    any ||= value === 255;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = value;
    out.data[i + 3] = 255;
  }
  if (!any) return null;
  const scratch = document.createElement("canvas");
  scratch.width = canvas.width;
  scratch.height = canvas.height;
  scratch.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => scratch.toBlob(resolve, "image/png"));
}

function brushRadius() {
  const canvas = paintCanvas();
  // the slider is in hundredths of the photo's longer side (1–20 %)
  return Math.max(1, Math.max(canvas.width, canvas.height) * Number($("brush-size").value) / 200);
}

function at(event) {
  const canvas = paintCanvas();
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width,
          (event.clientY - box.top) * canvas.height / box.height];
}

function stroke(from, to) {
  const context = paintCanvas().getContext("2d");
  const erase = document.querySelector("input[name=tool]:checked").value === "eraser";
  context.globalCompositeOperation = erase ? "destination-out" : "source-over";
  context.strokeStyle = context.fillStyle = `rgb(${PAINT.join(",")})`;
  context.lineWidth = 2 * brushRadius();
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
  context.globalCompositeOperation = "source-over";
}

export function initEditor() {
  const canvas = paintCanvas();
  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    editor.drawing = true;
    editor.last = at(event);
    stroke(editor.last, editor.last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!editor.drawing) return;
    const point = at(event);
    stroke(editor.last, point);
    editor.last = point;
  });
  for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
    canvas.addEventListener(name, () => { editor.drawing = false; });
  }
  $("mask-reset").addEventListener("click", () => loadMask(editor.automatic));
}
