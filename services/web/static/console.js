// The console's views: the key, submitting and listing jobs, one job live, models and images.
import { ApiError, api, follow, getJson, key, patiently, pngUrl } from "./api.js";
import { lossChart } from "./chart.js";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (selector, root = document) => root.querySelector(selector);
const VIEWS = ["key-view", "train-view", "job-view", "models-view", "model-view"];
let leaving = new AbortController(); // aborted when the view changes: its streams and timers stop

function show(id) {
  for (const view of VIEWS) $(`#${view}`).hidden = view !== id;
  $("#forget-key").hidden = !key.get();
  $("#view").focus({ preventScroll: true });
}

function notice(message) {
  const box = $("#notice");
  box.textContent = message || "";
  box.hidden = !message;
}

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

function linkCell(label, href) {
  const link = text("a", label);
  link.href = href;
  const cell = document.createElement("td");
  cell.append(link);
  return cell;
}

function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "…";
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
    : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// A failed call: a refused key goes back to the key form; anything else is said in words.
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    key.clear();
    route();
    $("#key-error").textContent = error.message;
    return;
  }
  if (error?.name !== "AbortError") notice(error.message || String(error));
}

// ---- key -----------------------------------------------------------------------------------

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  key.set($("#key").value.trim());
  $("#key").value = "";
  $("#key-error").textContent = "";
  try {
    await getJson("/v1/models");
    route();
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) route(); // a key, of another scope
    else failed(error);
  }
});

$("#forget-key").addEventListener("click", () => { key.clear(); route(); });

// ---- train ---------------------------------------------------------------------------------

function fillForm() {
  const presets = $("#preset");
  presets.replaceChildren(new Option("custom", ""), ...Object.keys(config.presets).map((name) => new Option(name, name)));
  $("#model").replaceChildren(...config.families.map((name) => new Option(name, name)));
  $("#sources").replaceChildren(...config.sources.map((source) => new Option(source)));
  presets.value = "mnist-cgan";
  applyPreset();
}

function applyPreset() {
  const spec = config.presets[$("#preset").value];
  if (!spec) return;
  const form = $("#job-form");
  for (const input of form.elements) {
    if (!input.name || input.name === "preset") continue;
    const value = input.name.split(".").reduce((part, name) => part?.[name], spec);
    input.value = value ?? "";
  }
  clearErrors();
}

function clearErrors() {
  for (const slot of document.querySelectorAll("#job-form .field-error")) slot.textContent = "";
  for (const input of $("#job-form").elements) input.removeAttribute?.("aria-invalid");
}

function showErrors(fields) {
  const others = []; // fields the form does not show (a spec part it has no input for)
  for (const [name, message] of Object.entries(fields)) {
    const slot = $(`#job-form .field-error[data-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = message;
    else others.push(name === "body" ? message : `${name}: ${message}`);
    $(`#job-form [name="${CSS.escape(name)}"]`)?.setAttribute("aria-invalid", "true");
  }
  $('#job-form .field-error[data-for="body"]').textContent = others.join("; ");
  $('#job-form [aria-invalid="true"]')?.focus();
}

// The spec from the form: empty fields are left out (the API's defaults apply).
function specFromForm() {
  const spec = {};
  for (const input of $("#job-form").elements) {
    if (!input.name || input.name === "preset" || input.value === "") continue;
    const value = input.type === "number" ? Number(input.value) : input.value;
    const path = input.name.split(".");
    let place = spec;
    for (const part of path.slice(0, -1)) place = place[part] ??= {};
    place[path[path.length - 1]] = value;
  }
  return spec;
}

// The browser's own checks first (the limits come from the spec's schema), in the API's words.
function formErrors() {
  const fields = {};
  for (const input of $("#job-form").elements) {
    if (!input.name || input.validity.valid) continue;
    const v = input.validity;
    fields[input.name] = v.badInput || v.stepMismatch ? "a whole number, please"
      : v.rangeUnderflow ? `at least ${input.min}`
      : v.rangeOverflow ? `at most ${input.max}`
      : v.patternMismatch ? `lower-case letters, digits and '-', starting with a letter`
      : input.validationMessage;
  }
  return fields;
}

$("#preset").addEventListener("change", applyPreset);
$("#job-form").addEventListener("input", (event) => {
  if (event.target.name !== "preset") $("#preset").value = "";
});
$("#job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  notice("");
  const local = formErrors();
  if (Object.keys(local).length) return showErrors(local);
  try {
    const response = await api("/v1/jobs", { method: "POST", body: specFromForm() });
    const accepted = await response.json();
    location.hash = `#/jobs/${accepted.id}`;
  } catch (error) {
    if (error instanceof ApiError && Object.keys(error.fields).length) showErrors(error.fields);
    else failed(error);
  }
});

async function trainView() {
  show("train-view");
  const body = $("#jobs tbody");
  try {
    const { jobs } = await getJson("/v1/jobs?limit=10");
    body.replaceChildren(...jobs.map((job) => {
      const row = document.createElement("tr");
      row.append(linkCell(job.id.slice(0, 8), `#/jobs/${job.id}`), text("td", job.spec.model), text("td", job.state, `state ${job.state}`),
        text("td", new Date(job.created_at * 1000).toLocaleString()));
      return row;
    }));
    if (!jobs.length) body.replaceChildren(text("tr", "No jobs yet: submit one above.", "muted"));
  } catch (error) {
    failed(error);
  }
}

// ---- one job, live -------------------------------------------------------------------------

async function jobView(jobId) {
  show("job-view");
  const { signal } = leaving;
  $("#job-id").textContent = jobId;
  $("#job-error").hidden = true;
  $("#job-served").hidden = true;
  $("#job-figures").replaceChildren();
  $("#job-samples").hidden = true;
  $("#job-samples-caption").textContent = "The sample grid appears with the first step";
  $("#ideal").textContent = "?";
  const chartBox = $("#loss-chart");
  chartBox.replaceChildren();
  const chart = lossChart(chartBox);
  let job;
  try {
    job = await getJson(`/v1/jobs/${jobId}`);
  } catch (error) {
    return failed(error);
  }
  showJob(job);
  $("#cancel-job").onclick = async () => {
    try {
      await api(`/v1/jobs/${jobId}`, { method: "DELETE" });
    } catch (error) {
      failed(error);
    }
  };
  const onEvent = async (kind, data) => {
    if (kind === "progress") {
      showProgress(data);
      if (data.d_loss != null && data.g_loss != null) chart.add(data.step, data.d_loss, data.g_loss);
    } else if (kind === "samples") {
      await refreshPictures(jobId, data.step, chart, signal);
    } else if (kind === "state" || kind === "end") {
      $("#job-state").textContent = data.state;
      $("#job-state").className = `state ${data.state}`;
      if (kind === "end") showJob(await getJson(`/v1/jobs/${jobId}`), chart, signal);
    }
  };
  const onStatus = (status) => {
    $("#stream-state").textContent = status === "reconnecting" ? "· connection lost, reconnecting…"
      : status === "live" ? "· live" : "";
  };
  follow(`/v1/jobs/${jobId}/events`, (kind, data) => onEvent(kind, data).catch(failed), { signal, onStatus })
    .catch(failed);
}

function showJob(job, chart, signal) {
  $("#job-state").textContent = job.state;
  $("#job-state").className = `state ${job.state}`;
  $("#job-model").textContent = job.spec.model;
  $("#cancel-job").hidden = ["succeeded", "failed", "cancelled"].includes(job.state);
  if (job.progress) showProgress(job.progress);
  if (job.error) {
    $("#job-error").textContent = `The job ${job.state}: ${job.error.message}`;
    $("#job-error").hidden = false;
  }
  if (job.served) {
    const link = $("#job-served");
    link.href = `#/models/${job.served.name}`;
    link.textContent = `Served as ${job.served.name} (version ${job.served.version}): draw images`;
    link.hidden = false;
  }
  if (job.artifacts && chart) refreshPictures(job.id, job.progress?.step, chart, signal).catch(failed);
}

function showProgress(p) {
  const bar = $("#job-progress");
  bar.max = p.total_steps || 1;
  bar.value = p.step || 0;
  const percent = p.total_steps ? Math.floor((100 * p.step) / p.total_steps) : 0;
  const parts = [`step ${p.step} of ${p.total_steps} (${percent}%)`, `epoch ${p.epoch} of ${p.epochs}`];
  if (p.samples_per_s) parts.push(`${Math.round(p.samples_per_s)} samples/s`);
  if (p.step < p.total_steps) parts.push(`about ${duration(p.eta_s)} left`);
  else if ($("#job-state").textContent === "running") parts.push("trained: evaluating and exporting");
  $("#job-progress-text").textContent = parts.join(" · ");
}

async function refreshPictures(jobId, step, chart, signal) {
  const [url, metrics] = await Promise.all([pngUrl(`/v1/jobs/${jobId}/samples.png`), getJson(`/v1/jobs/${jobId}/metrics`)]);
  if (signal?.aborted) return URL.revokeObjectURL(url);
  const image = $("#job-samples");
  const old = image.src;
  image.src = url;
  image.hidden = false;
  image.dataset.step = step ?? "";
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  $("#job-samples-caption").textContent = `Samples at step ${step ?? metrics.step} (seeds 0-9 across)`;
  if (metrics.series?.ideal != null) {
    chart.setIdeal(metrics.series.ideal);
    $("#ideal").textContent = `${metrics.series.loss.toUpperCase()} ${metrics.series.ideal.toFixed(3)}`;
  }
  showFigures(metrics);
}

// The evaluation's figures (after success): numbers one level deep, named by their path.
function showFigures(metrics) {
  const rows = [];
  const walk = (value, name) => {
    if (typeof value === "number") rows.push([name, Number.isInteger(value) ? value : value.toFixed(3)]);
    else if (value && typeof value === "object" && !Array.isArray(value) && name.split(" ").length < 3) {
      for (const [part, inner] of Object.entries(value)) walk(inner, name ? `${name} ${part}` : part);
    }
  };
  for (const [name, value] of Object.entries(metrics)) {
    if (!["series", "step", "state"].includes(name)) walk(value, name);
  }
  $("#job-figures").replaceChildren(...rows.flatMap(([name, value]) => [text("dt", name), text("dd", String(value))]));
}

// ---- models --------------------------------------------------------------------------------

function versionsText(model) {
  return Object.keys(model.versions).map((version) => {
    const serving = model.serving?.[version];
    const state = serving ? serving.state + (serving.reason ? ` (${serving.reason})` : "") : "unknown";
    return `v${version}${version === model.default_version ? " (default)" : ""}: ${state}`;
  }).join(", ");
}

async function modelsView() {
  show("models-view");
  const body = $("#models tbody");
  try {
    const { models } = await getJson("/v1/models");
    body.replaceChildren(...models.map((model) => {
      const row = document.createElement("tr");
      row.append(linkCell(model.name, `#/models/${model.name}`), text("td", model.family), text("td", versionsText(model)));
      return row;
    }));
    if (!models.length) body.replaceChildren(text("tr", "No model is served yet: train one with 'Serve as'.", "muted"));
  } catch (error) {
    failed(error);
  }
}

let current = null; // the model on show

async function modelView(name) {
  show("model-view");
  $("#model-name").textContent = name;
  $("#grid").replaceChildren();
  $("#strip").replaceChildren();
  $("#cell-info").textContent = "";
  try {
    current = await getJson(`/v1/models/${encodeURIComponent(name)}`);
  } catch (error) {
    return failed(error);
  }
  const classes = current.num_classes;
  $("#model-about").textContent = `${current.family} · ${classes ? `${classes} classes` : "unconditional"} · ${versionsText(current)}`;
  const labels = $("#strip-label");
  labels.replaceChildren(...(classes ? current.class_names.map((label, i) => new Option(`${i}: ${label}`, i)) : [new Option("none", "")]));
  labels.disabled = !classes;
  drawGrid().catch(failed);
}

function imageOf(base64, alt) {
  const image = document.createElement("img");
  image.src = `data:image/png;base64,${base64}`;
  image.alt = alt;
  return image;
}

async function generate(body, status) {
  return patiently(
    async () => (await api(`/v1/models/${encodeURIComponent(current.name)}/generate`, { method: "POST", body })).json(),
    (error, seconds) => { status.textContent = `${error.message}: trying again in ${seconds} s`; },
  );
}

async function drawGrid() {
  const status = $("#grid-status");
  const seed = Number($("#grid-seed").value);
  const n = Number($("#grid-n").value);
  const labels = current.num_classes ? [...Array(current.num_classes).keys()] : [null];
  status.textContent = "drawing…";
  const rows = await Promise.all(labels.map((label) => generate(label === null ? { n, seed } : { n, seed, label }, status)));
  const grid = $("#grid");
  grid.style.setProperty("--columns", n);
  grid.replaceChildren(...rows.flatMap((answer, row) => [text("span", labels[row] === null ? "" : current.class_names[labels[row]], "row-label"), ...(answer.images || []).map((png, i) => {
    const cell = document.createElement("button");
    cell.type = "button";
    cell.className = "cell";
    const label = labels[row];
    const where = label === null ? `seed ${answer.seeds[i]}` : `class ${current.class_names[label]}, seed ${answer.seeds[i]}`;
    cell.append(imageOf(png, where));
    cell.dataset.seed = answer.seeds[i];
    cell.dataset.label = label ?? "";
    cell.addEventListener("click", () => { $("#cell-info").textContent = `This image: ${where}`; });
    return cell;
  })]));
  status.textContent = rows[0]?.values ? "this model draws four numbers, not images" : `${labels.length} × ${n}, seeds ${seed}-${seed + n - 1}`;
}

$("#grid-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!event.target.reportValidity()) return;
  drawGrid().catch((error) => { $("#grid-status").textContent = error.message; });
});

$("#strip-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!event.target.reportValidity()) return;
  const status = $("#strip-status");
  const body = { experiment: { kind: "interpolate", seeds: [Number($("#strip-a").value), Number($("#strip-b").value)], steps: Number($("#strip-steps").value) } };
  if (current.num_classes) body.label = Number($("#strip-label").value);
  try {
    status.textContent = "drawing…";
    const answer = await generate(body, status);
    $("#strip").replaceChildren(...(answer.images || []).map((png, i) => imageOf(png, `frame ${i + 1}`)));
    status.textContent = `seed ${answer.seeds[0]} to seed ${answer.seeds[1]}`;
  } catch (error) {
    status.textContent = error.message;
  }
});

// ---- routes --------------------------------------------------------------------------------

function route() {
  leaving.abort();
  leaving = new AbortController();
  notice("");
  if (!key.get()) return show("key-view");
  const [, page, id] = location.hash.replace(/^#/, "").split("/");
  if (page === "jobs" && /^[0-9a-f]{32}$/.test(id || "")) return jobView(id);
  if (page === "models" && id) return modelView(decodeURIComponent(id));
  if (page === "models") return modelsView();
  return trainView();
}

fillForm();
window.addEventListener("hashchange", route);
route();
