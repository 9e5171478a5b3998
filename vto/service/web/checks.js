// Checks of a chosen file before anything is sent, against the server's limits (GET /v1/models),
// with messages in the words a person uses. The server checks again; this only saves a trip.

const SIGNATURES = [  // what the first bytes of each accepted format are
  ["image/jpeg", [0xff, 0xd8, 0xff]],
  ["image/png", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ["image/webp", [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50]],
];
const NAMES = { "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP" };

function sniff(bytes) {
  for (const [type, signature] of SIGNATURES) {
    if (signature.every((value, i) => value === null || bytes[i] === value)) return type;
  }
  return null;
}

export function megabytes(bytes) {
  const mb = bytes / (1024 * 1024);
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1)} MB`;
}

function formats(types) {
  const names = types.map((t) => NAMES[t] || t);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names[0];
}

// Resolves to {ok: true, width, height} or {ok: false, message}. `what` names the file's role
// ("photo of the person"); `limits` is GET /v1/models' `limits`.
export async function checkImage(file, limits, what) {
  const quoted = `“${file.name}”`;
  const types = limits.image_types || Object.keys(NAMES);
  const fail = (message) => ({ ok: false, message });
  const kind = sniff(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
  if (!kind || !types.includes(kind)) {
    return fail(`${quoted} is not a picture vto can use as the ${what}. ` +
                `Choose a ${formats(types)} photo.`);
  }
  if (limits.max_body_bytes && file.size > limits.max_body_bytes) {
    return fail(`${quoted} is ${megabytes(file.size)}; this server takes files up to ` +
                `${megabytes(limits.max_body_bytes)}. Choose a smaller photo, or save it at a ` +
                "lower quality.");
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return fail(`${quoted} looks like a ${NAMES[kind]} file but cannot be opened; it may be ` +
                "damaged or incomplete.");
  }
  const { width, height } = bitmap;
  bitmap.close();
  const short = Math.min(width, height), long = Math.max(width, height);
  if (limits.min_photo_side && short < limits.min_photo_side) {
    return fail(`${quoted} is only ${width} × ${height} pixels; the ${what} needs at least ` +
                `${limits.min_photo_side} pixels on each side.`);
  }
  if (limits.max_aspect && long / short > limits.max_aspect) {
    return fail(`${quoted} (${width} × ${height}) is too long and narrow; crop it so that ` +
                `one side is at most ${limits.max_aspect} times the other.`);
  }
  if (limits.max_pixels && width * height > limits.max_pixels) {
    return fail(`${quoted} has ${Math.round(width * height / 1e6)} million pixels; this server ` +
                `takes at most ${Math.round(limits.max_pixels / 1e6)} million. Make it smaller.`);
  }
  return { ok: true, width, height };
}
