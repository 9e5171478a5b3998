// A job's progress as a person reads it: the elapsed time and an estimate of the time left
// (from the rate of the denoising steps seen so far), and the SSE reader that feeds it.

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
let timing = null;
let ticker = null;

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function startTiming() {
  timing = { started: performance.now(), first: null, last: null, status: "queued" };
  clearInterval(ticker);
  ticker = setInterval(showTiming, 500);
  showTiming();
}

export function noteProgress(step, total, status) {
  if (!timing) return;
  timing.status = status || timing.status;
  if (!total || !step) return;
  const now = performance.now();
  if (!timing.first || step < timing.first.step) timing.first = { step, at: now };
  if (!timing.last || step > timing.last.step) timing.last = { step, at: now, total };
}

function showTiming() {
  if (!timing) return;
  const now = performance.now();
  const elapsed = `elapsed ${clock((now - timing.started) / 1000)}`;
  const { first, last } = timing;
  if (timing.status === "queued") {
    $("timing").textContent = `${elapsed} · waiting for the model`;
  } else if (first && last && last.step > first.step) {
    const perStep = (last.at - first.at) / (last.step - first.step);
    const left = Math.max(0, (last.total - last.step) * perStep - (now - last.at));
    $("timing").textContent = `${elapsed} · about ${clock(left / 1000)} left`;
  } else {
    $("timing").textContent = `${elapsed} · estimating the time left…`;
  }
}

// `final`: the job finished (say how long it took); else the line is cleared.
export function stopTiming(final) {
  clearInterval(ticker);
  const took = timing && (performance.now() - timing.started) / 1000;
  $("timing").textContent = final && took !== null ? `took ${clock(took)}` : "";
  timing = null;
}

// Read an SSE stream with fetch (EventSource cannot send the key), calling onJob with every
// event's job document. Resolves with the final one, or null if the stream ended first.
export async function streamEvents(url, headers, controller, onJob) {
  const response = await fetch(url, {
    headers: { Accept: "text/event-stream", ...headers }, signal: controller.signal,
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
        let parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch { continue; }
        if (parsed && parsed.status) onJob(parsed);
        if (name === "completed" || (parsed && TERMINAL.has(parsed.status))) return parsed;
      }
    }
  } finally {
    controller.abort();
  }
}
