// The API as the page uses it: the key from sessionStorage as the Bearer header, problems as
// errors, PNGs as blob URLs, and Server-Sent Events over fetch (EventSource cannot send headers).

const KEY = "ganfoundry.key";

export const key = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail, fields = {}, retryAfter = null) {
    super(detail);
    this.status = status;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

export async function api(path, { method = "GET", body, accept = "application/json", headers = {}, signal } = {}) {
  const sent = { Accept: accept, Authorization: `Bearer ${key.get()}`, ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers: sent, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, "the gateway cannot be reached: is the stack up?");
  }
  if (!response.ok) throw await problem(response);
  return response;
}

async function problem(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not a problem body */ }
  const retry = Number(response.headers.get("Retry-After"));
  const detail = response.status === 401
    ? "the gateway refused this key: check it, then paste it again"
    : body.detail || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, detail, body.fields || {}, retry > 0 ? retry : null);
}

export const getJson = async (path, options) => (await api(path, options)).json();

export async function pngUrl(path) {
  const response = await api(path, { accept: "image/png" });
  return URL.createObjectURL(await response.blob());
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

// Retries a call that answered 503 (a model loading, Redis away) after its Retry-After.
export async function patiently(call, onWait, attempts = 10) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 503 || attempt >= attempts) throw error;
      const seconds = error.retryAfter || 2;
      onWait(error, seconds);
      await sleep(seconds * 1000);
    }
  }
}

function parse(block) {
  const event = { id: null, kind: "message", data: [], retry: null };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "event") event.kind = value;
    else if (field === "data") event.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
  }
  return event;
}

// Follows an event stream to its "end" event; a dropped stream is opened again after the
// server's retry delay with Last-Event-ID, so no event is lost or seen twice.
export async function follow(path, onEvent, { signal, onStatus = () => {} } = {}) {
  let lastId = "0-0";
  let retryMs = 2000;
  while (!signal?.aborted) {
    try {
      const response = await api(path, { accept: "text/event-stream", headers: { "Last-Event-ID": lastId }, signal });
      onStatus("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event.retry) retryMs = event.retry;
          if (!event.data.length) continue;
          if (event.id) lastId = event.id;
          onEvent(event.kind, JSON.parse(event.data.join("\n")));
          if (event.kind === "end") {
            onStatus("ended");
            reader.cancel().catch(() => {});
            return;
          }
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
    }
    onStatus("reconnecting");
    await sleep(retryMs, signal);
  }
}
