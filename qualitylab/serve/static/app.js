// The pages of `qualitylab serve`: each fills itself from the JSON API (/api/...).
// Hand-written, no dependencies; charts are plain SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "on") Object.entries(value).forEach(([event, fn]) => node.addEventListener(event, fn));
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function num(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toPrecision(digits);
}

function signed(value) {
  if (value === null || value === undefined) return "–";
  return (value >= 0 ? "+" : "") + num(value);
}

function interval(low, high) {
  return `[${num(low)}, ${num(high)}]`;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9 }, "none yet"))]));
}

function showError(where, error) {
  where.replaceChildren(el("p", { class: "error" }, String(error.message || error)));
}

// A <video> for formats browsers play, an <img> for GIF, a link otherwise.
function media(url, name, attrs = {}) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".gif")) return el("img", { src: url, alt: name, class: "media" });
  if (/\.(mp4|webm|m4v|ogv|mov)$/.test(lower)) {
    return el("video", { src: url, class: "media", controls: "", muted: "", playsinline: "", ...attrs });
  }
  return el("p", {}, "this format does not play in a browser: ", el("a", { href: url }, "download"));
}

function videoUrl(run, id) {
  return `/api/runs/${run}/videos/${encodeURIComponent(id)}/file`;
}

// ---- runs ----------------------------------------------------------------------------

async function runsPage() {
  const tbody = document.querySelector("#runs tbody");
  const button = document.getElementById("compare-button");
  const runs = await api("/api/runs");
  fill(tbody, runs.map((run) => el("tr", {},
    el("td", {}, el("input", { type: "radio", name: "a", value: run.id, title: "A" }),
      el("input", { type: "radio", name: "b", value: run.id, title: "B" })),
    el("td", {}, el("a", { href: `/runs/${run.id}` }, run.label)),
    el("td", {}, run.predictor ? el("a", { href: `/predictors/${run.predictor}` }, run.predictor) : "unknown"),
    el("td", { class: "num" }, run.rows),
    el("td", {}, run.created.replace("T", " ").replace("+00:00", " UTC")),
    el("td", {}, run.benchmark ? `${run.benchmark.prompt_set} v${run.benchmark.version}: ${run.benchmark.label}` : ""))));
  const chosen = () => ["a", "b"].map((n) => document.querySelector(`input[name=${n}]:checked`)?.value);
  document.addEventListener("change", () => {
    const [a, b] = chosen();
    button.disabled = !(a && b && a !== b);
  });
  button.addEventListener("click", () => {
    const [a, b] = chosen();
    location.href = `/compare?a=${a}&b=${b}`;
  });
}

// ---- a run: ranking, player, signals under it ---------------------------------------

async function runPage() {
  const runId = document.getElementById("run-meta").dataset.run;
  const run = await api(`/api/runs/${runId}`);
  const tbody = document.querySelector("#scores tbody");
  const rows = run.scores.map((row) => {
    const ood = row.ood === undefined || row.ood === null ? "" : (row.ood === true || row.ood === "True" || row.ood === 1 ? "outside" : "");
    const tr = el("tr", { class: row.error ? "failed clickable" : "clickable", "data-id": row.id },
      el("td", { class: "num" }, row.rank ?? ""),
      el("td", {}, row.id),
      el("td", { class: "num" }, row.error ? "–" : num(row.predicted_score)),
      el("td", { class: "num" }, num(row.uncertainty)),
      el("td", {}, ood),
      el("td", { class: "num" }, num(row.quality_index)),
      el("td", { class: "prompt" }, row.error ? `not scored: ${row.error}` : row.prompt));
    tr.addEventListener("click", () => selectVideo(run, row));
    return tr;
  });
  fill(tbody, rows);
  const first = run.scores.find((row) => !row.error);
  if (first) selectVideo(run, first);
}

let stopCursor = null;

async function selectVideo(run, row) {
  document.querySelectorAll("#scores tr.selected").forEach((tr) => tr.classList.remove("selected"));
  document.querySelector(`#scores tr[data-id="${CSS.escape(row.id)}"]`)?.classList.add("selected");
  document.getElementById("player-title").textContent = `${row.id} (rank ${row.rank ?? "–"}, predicted ${num(row.predicted_score)})`;
  document.getElementById("player-prompt").textContent = row.prompt;
  const holder = document.getElementById("media");
  const player = media(videoUrl(run.id, row.id), String(row.video || ""), { loop: "" });
  holder.replaceChildren(player);
  const timeline = document.getElementById("timeline");
  const note = document.getElementById("timeline-note");
  timeline.replaceChildren(el("p", { class: "hint" }, "loading signals…"));
  if (stopCursor) stopCursor();
  try {
    const data = await api(`/api/runs/${run.id}/videos/${encodeURIComponent(row.id)}/signals`);
    if (!data.signals.length && !data.intervals.length) {
      timeline.replaceChildren();
      note.textContent = data.note || "no signals stored for this video";
      return;
    }
    const chart = drawTimeline(data);
    timeline.replaceChildren(chart.node);
    note.textContent = [
      data.note,
      "Frames are placed evenly over the clip (the sampled frames); pair signals sit between their two frames.",
      player instanceof HTMLVideoElement ? "" : "A GIF has no playhead to follow: the cursor stays at the start.",
    ].filter(Boolean).join(" ");
    document.getElementById("top-shap").replaceChildren(
      el("tr", {}, el("th", {}, "largest SHAP contributions"), el("th", {}, "SHAP")),
      ...data.top_shap.map((item) => el("tr", {}, el("td", {}, item.feature), el("td", { class: "num" }, signed(item.shap)))));
    stopCursor = followPlayhead(player, chart);
  } catch (error) {
    showError(timeline, error);
  }
}

// The signals (one row each, min-max scaled) and the SHAP timeline (bars per frame),
// sharing one x axis: frame 0 at the left, the last sampled frame at the right.
function drawTimeline(data) {
  const width = 640, left = 170, right = 10, rowHeight = 34, gap = 6;
  const plotWidth = width - left - right;
  const last = Math.max(data.frames - 1, 1);
  const x = (frame) => left + (frame / last) * plotWidth;
  const rows = data.signals.length + (data.shap_timeline.length ? 1 : 0) + (data.intervals.length ? 1 : 0);
  const height = Math.max(rows, 1) * (rowHeight + gap) + 10;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "timeline", role: "img" });
  let top = 4;
  // Detected defect intervals: spans over the clip (from/to are fractions of it).
  if (data.intervals.length) {
    root.append(label("defects", top + rowHeight / 2));
    root.append(svg("rect", { x: left, y: top, width: plotWidth, height: rowHeight, class: "band" }));
    const names = [...new Set(data.intervals.map((d) => d.defect))];
    const lane = rowHeight / names.length;
    for (const found of data.intervals) {
      const span = svg("rect", {
        x: left + found.from * plotWidth, width: Math.max((found.to - found.from) * plotWidth, 1),
        y: top + names.indexOf(found.defect) * lane + 1, height: Math.max(lane - 2, 1), class: "defect",
      });
      const tip = svg("title");
      tip.textContent = `${found.defect}: ${num(found.start_s)}–${num(found.end_s)} s`;
      span.append(tip);
      root.append(span);
    }
    top += rowHeight + gap;
  }
  if (data.shap_timeline.length) {
    const largest = Math.max(...data.shap_timeline.map((p) => Math.abs(p.shap)), 1e-12);
    const middle = top + rowHeight / 2;
    root.append(label("SHAP over frames", middle), svg("line", { x1: left, x2: width - right, y1: middle, y2: middle, class: "axis" }));
    const barWidth = Math.max(plotWidth / (last + 1) * 0.6, 2);
    for (const point of data.shap_timeline) {
      const size = (Math.abs(point.shap) / largest) * (rowHeight / 2 - 1);
      root.append(svg("rect", {
        x: x(point.frame) - barWidth / 2, width: barWidth,
        y: point.shap >= 0 ? middle - size : middle, height: Math.max(size, 0.5),
        class: point.shap >= 0 ? "shap-up" : "shap-down",
      }));
    }
    top += rowHeight + gap;
  }
  for (const signal of data.signals) {
    const values = signal.values;
    const finite = values.filter((v) => v !== null);
    const low = Math.min(...finite), high = Math.max(...finite);
    const scale = high > low ? high - low : 1;
    const offset = signal.pair ? 0.5 : 0;
    const points = values
      .map((v, i) => (v === null ? null : `${x(i + offset).toFixed(1)},${(top + rowHeight - 2 - ((v - low) / scale) * (rowHeight - 4)).toFixed(1)}`))
      .filter(Boolean).join(" ");
    root.append(label(signal.name, top + rowHeight / 2, `${num(low)} – ${num(high)}`));
    root.append(svg("rect", { x: left, y: top, width: plotWidth, height: rowHeight, class: "band" }));
    root.append(svg("polyline", { points, class: "signal" }));
    top += rowHeight + gap;
  }
  const cursor = svg("line", { x1: left, x2: left, y1: 0, y2: height, class: "cursor", id: "cursor" });
  root.append(cursor);
  return { node: root, move: (fraction) => {
    const at = left + Math.min(Math.max(fraction, 0), 1) * plotWidth;
    cursor.setAttribute("x1", at.toFixed(2));
    cursor.setAttribute("x2", at.toFixed(2));
  } };

  function label(text, y, title) {
    const node = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "label" });
    node.textContent = text.length > 26 ? text.slice(0, 25) + "…" : text;
    if (title) {
      const tip = svg("title");
      tip.textContent = `${text}: ${title}`;
      node.append(tip);
    }
    return node;
  }
}

// Move the timeline's cursor with the video's playhead (GIFs have none: no cursor).
function followPlayhead(player, chart) {
  if (!(player instanceof HTMLVideoElement)) return () => {};
  let frame = null;
  const update = () => {
    if (player.duration > 0) chart.move(player.currentTime / player.duration);
  };
  const loop = () => { update(); frame = requestAnimationFrame(loop); };
  player.addEventListener("play", () => { cancelAnimationFrame(frame); loop(); });
  player.addEventListener("pause", () => cancelAnimationFrame(frame));
  player.addEventListener("seeked", update);
  player.addEventListener("timeupdate", update);
  return () => cancelAnimationFrame(frame);
}

// ---- A/B ----------------------------------------------------------------------------

async function comparePage() {
  const runs = await api("/api/runs");
  const selects = [document.getElementById("select-a"), document.getElementById("select-b")];
  selects.forEach((select, i) => {
    select.replaceChildren(...runs.map((run) => el("option", { value: run.id }, `${run.label} (${run.predictor || "?"}, ${run.rows})`)));
    select.value = select.dataset.value || (runs[i] ? runs[i].id : "");
  });
  const [a, b] = selects.map((s) => s.dataset.value);
  if (!a || !b) return;
  const out = document.getElementById("compare-result");
  out.replaceChildren(el("p", { class: "hint" }, "comparing…"));
  try {
    const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    out.replaceChildren(...compareView(data));
  } catch (error) {
    showError(out, error);
  }
}

function compareView(data) {
  const level = `${Math.round(data.confidence * 100)}%`;
  const main = data.metrics.find((m) => m.metric === "predicted_score") || data.metrics[0];
  const headline = el("div", { class: "headline", id: "ab-headline" },
    el("p", {}, `B (${data.b.label}) − A (${data.a.label}) on ${main.metric}, over ${main.n_prompts} prompts: `,
      el("strong", { id: "ab-delta" }, `mean Δ ${signed(main.mean_delta)}`), " ",
      el("strong", { id: "ab-ci" }, `${level} CI ${interval(main.ci_low, main.ci_high)}`), ", ",
      el("strong", { id: "ab-winrate" }, `B wins ${main.wins} of ${main.n_prompts} (${num(100 * main.win_rate, 3)}%)`)),
    el("p", { class: main.ci_low > 0 || main.ci_high < 0 ? "verdict clear" : "verdict" }, main.verdict),
    ciBar(main));
  const notes = [];
  if (data.only_a.length) notes.push(`${data.only_a.length} prompts only in A, left out`);
  if (data.only_b.length) notes.push(`${data.only_b.length} prompts only in B, left out`);
  const metrics = el("table", { class: "data" },
    el("tr", {}, ["metric", "mean A", "mean B", "mean Δ", `${level} CI`, "B wins", "ties", "B loses"].map((h) => el("th", {}, h))),
    data.metrics.map((m) => el("tr", { class: m.ci_low > 0 || m.ci_high < 0 ? "clear" : "" },
      el("td", {}, m.metric), el("td", { class: "num" }, num(m.mean_a)), el("td", { class: "num" }, num(m.mean_b)),
      el("td", { class: "num" }, signed(m.mean_delta)), el("td", {}, interval(m.ci_low, m.ci_high)),
      el("td", { class: "num" }, m.wins), el("td", { class: "num" }, m.ties), el("td", { class: "num" }, m.losses))));
  const prompts = el("table", { class: "data", id: "ab-prompts" },
    el("tr", {}, ["prompt", "A", "B", "Δ", "videos (A | B)"].map((h) => el("th", {}, h))),
    data.prompts.map((p) => {
      const va = p.video_a ? media(videoUrl(data.a.id, p.video_a), p.file_a || "", { preload: "metadata", loop: "" }) : el("span", {}, "–");
      const vb = p.video_b ? media(videoUrl(data.b.id, p.video_b), p.file_b || "", { preload: "metadata", loop: "" }) : el("span", {}, "–");
      const both = el("button", { type: "button", on: { click: () => [va, vb].forEach((v) => v.play && v.play()) } }, "▶ both");
      return el("tr", {},
        el("td", { class: "prompt" }, p.prompt), el("td", { class: "num" }, num(p.a)), el("td", { class: "num" }, num(p.b)),
        el("td", { class: "num " + (p.delta > 0 ? "up" : p.delta < 0 ? "down" : "") }, signed(p.delta)),
        el("td", { class: "pair" }, va, vb, both));
    }));
  return [headline, el("p", { class: "hint" }, notes.join("; ")), el("h2", {}, "Metrics"), metrics,
    el("h2", {}, "Per prompt (predicted score)"), prompts];
}

// The interval of the mean delta against zero, as a small horizontal bar.
function ciBar(metric) {
  const width = 420, height = 40, pad = 24;
  const values = [metric.ci_low, metric.ci_high, metric.mean_delta, 0].filter((v) => v !== null);
  const span = Math.max(...values.map(Math.abs), 1e-9) * 1.2;
  const x = (v) => pad + ((v + span) / (2 * span)) * (width - 2 * pad);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "cibar", id: "ab-cibar" });
  root.append(svg("line", { x1: x(0), x2: x(0), y1: 13, y2: height - 2, class: "axis" }));
  if (metric.ci_low !== null) {
    root.append(svg("rect", { x: x(metric.ci_low), width: Math.max(x(metric.ci_high) - x(metric.ci_low), 1), y: 16, height: 12, class: "ci" }));
  }
  root.append(svg("circle", { cx: x(metric.mean_delta), cy: 22, r: 5, class: "mean" }));
  const ticks = [[0, "0"], [metric.ci_low, num(metric.ci_low)], [metric.ci_high, num(metric.ci_high)]];
  for (const [value, text] of ticks) {
    if (value === null) continue;
    const tick = svg("text", { x: x(value), y: 10, "text-anchor": "middle", class: "label" });
    tick.textContent = text;
    root.append(tick);
  }
  return root;
}

// ---- predictors ---------------------------------------------------------------------

async function predictorsPage() {
  const list = await api("/api/predictors");
  fill(document.querySelector("#predictors tbody"), list.map((p) => el("tr", {},
    el("td", {}, el("a", { href: `/predictors/${p.id}` }, p.id)), el("td", {}, p.target), el("td", {}, p.task),
    el("td", { class: "num" }, p.features), el("td", { class: "num" }, p.rows), el("td", { class: "num" }, num(p.spearman_oof)),
    el("td", {}, p.created || ""))));
}

async function predictorPage() {
  const id = document.getElementById("predictor-title").dataset.predictor;
  const data = await api(`/api/predictors/${encodeURIComponent(id)}`);
  document.querySelector("#cv tbody").replaceChildren(
    el("tr", {}, ["metric", "mean ± std over folds", "out-of-fold", "95% CI (bootstrap)"].map((h) => el("th", {}, h))),
    ...Object.entries(data.cv).map(([name, m]) => el("tr", {}, el("td", {}, name),
      el("td", { class: "num" }, m.mean === null ? "–" : `${num(m.mean)} ± ${num(m.std)}`),
      el("td", { class: "num" }, num(m.oof)), el("td", {}, m.ci ? interval(m.ci[0], m.ci[1]) : "–"))));
  const importance = document.getElementById("importance");
  if (data.importance) {
    importance.replaceChildren(bars(data.importance.slice(0, 20)),
      el("p", { class: "hint" }, "Green: the feature raises the prediction on average; red: it lowers it."));
  }
  else importance.replaceChildren(el("p", { class: "hint" }, data.importance_note));
  const evaluation = document.getElementById("evaluation");
  if (!data.evaluations.length) {
    evaluation.replaceChildren(el("p", { class: "hint" }, "No evaluation yet: submit an evaluate job (kind evaluate, a rated manifest and its target) on the jobs page or with POST /api/jobs."));
  } else {
    evaluation.replaceChildren(...data.evaluations.map((found) => el("div", {},
      el("h3", {}, `against ${found.target} on ${found.rows} videos`), table(found.table))));
  }
}

function bars(rows) {
  const width = 640, left = 260, rowHeight = 18;
  const largest = Math.max(...rows.map((r) => r.mean_abs_shap), 1e-12);
  const root = svg("svg", { viewBox: `0 0 ${width} ${rows.length * rowHeight + 4}`, class: "bars", id: "importance-bars" });
  rows.forEach((row, i) => {
    const y = i * rowHeight + 2;
    const text = svg("text", { x: left - 6, y: y + 12, "text-anchor": "end", class: "label" });
    text.textContent = row.feature;
    const value = svg("text", { x: left + 4 + (row.mean_abs_shap / largest) * (width - left - 70), y: y + 12, class: "label" });
    value.textContent = num(row.mean_abs_shap);
    root.append(text, svg("rect", { x: left, y, height: rowHeight - 4, width: Math.max((row.mean_abs_shap / largest) * (width - left - 70), 1), class: row.mean_shap >= 0 ? "shap-up" : "shap-down" }), value);
  });
  return root;
}

function table(rows) {
  if (!rows.length) return el("p", {}, "empty");
  const columns = Object.keys(rows[0]);
  return el("table", { class: "data" }, el("tr", {}, columns.map((c) => el("th", {}, c))),
    rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, typeof row[c] === "number" ? num(row[c], 4) : row[c] ?? "")))));
}

// ---- benchmark history --------------------------------------------------------------

async function historyPage() {
  const groups = await api("/api/history");
  const out = document.getElementById("history");
  if (!groups.length) {
    out.replaceChildren(el("p", { class: "hint" }, "No benchmark runs scored yet: score a `qualitylab benchmark` directory (a job on OUT/VERSION)."));
    return;
  }
  out.replaceChildren(...groups.map((group) => {
    const metrics = ["predicted_score", "quality_index", "uncertainty"].filter((m) => group.runs.some((r) => r[m]));
    return el("section", { class: "history-group" },
      el("h2", {}, `${group.prompt_set} v${group.version} · predictor ${group.predictor}`),
      el("div", { class: "charts" }, metrics.map((m) => lineChart(m, group.runs))),
      el("table", { class: "data" },
        el("tr", {}, el("th", {}, "version"), el("th", {}, "videos"), el("th", {}, "date"), metrics.map((m) => el("th", {}, `${m} (95% CI)`))),
        group.runs.map((r) => el("tr", {}, el("td", {}, el("a", { href: `/runs/${r.run}` }, r.label)), el("td", { class: "num" }, r.videos),
          el("td", {}, r.created.slice(0, 10)),
          metrics.map((m) => el("td", {}, r[m] ? `${num(r[m].mean)} ${interval(r[m].low, r[m].high)}` : "–"))))));
  }));
}

function lineChart(metric, runs) {
  const width = 320, height = 170, left = 44, bottom = 34, top = 22, right = 10;
  const points = runs.map((r, i) => ({ i, label: r.label, ...(r[metric] || {}) })).filter((p) => p.mean !== undefined && p.mean !== null);
  const lows = points.map((p) => p.low ?? p.mean), highs = points.map((p) => p.high ?? p.mean);
  let low = Math.min(...lows), high = Math.max(...highs);
  if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
  const x = (i) => left + (runs.length > 1 ? (i / (runs.length - 1)) * (width - left - right) : (width - left - right) / 2);
  const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart" });
  const title = svg("text", { x: left, y: 14, class: "title" });
  title.textContent = metric;
  root.append(title);
  for (const v of [low, high]) {
    const tick = svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", class: "label" });
    tick.textContent = num(v);
    root.append(tick);
  }
  for (const p of points) {
    if (p.low !== null && p.low !== undefined) root.append(svg("line", { x1: x(p.i), x2: x(p.i), y1: y(p.low), y2: y(p.high), class: "ci-line" }));
    root.append(svg("circle", { cx: x(p.i), cy: y(p.mean), r: 3.5, class: "mean" }));
    const name = svg("text", { x: x(p.i), y: height - 12, "text-anchor": "middle", class: "label" });
    name.textContent = p.label;
    root.append(name);
  }
  root.append(svg("polyline", { points: points.map((p) => `${x(p.i)},${y(p.mean)}`).join(" "), class: "signal" }));
  return root;
}

// ---- jobs ---------------------------------------------------------------------------

async function jobsPage() {
  const predictors = await api("/api/predictors");
  document.querySelectorAll("select.models").forEach((select) =>
    select.replaceChildren(...predictors.map((p) => el("option", { value: p.id }, p.id))));
  const message = document.getElementById("job-message");
  document.getElementById("job-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { kind: form.get("kind"), input: form.get("input") };
    for (const key of ["prompts", "label"]) if (form.get(key)) body[key] = form.get(key);
    if (body.kind !== "extract") body.model = form.get("model");
    if (body.kind === "evaluate") {
      body.target = form.get("target");
      if (form.get("group_by")) body.group_by = form.get("group_by");
    }
    await submitJob(message, () => api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
  });
  document.getElementById("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const data = new FormData();
    for (const file of form.files.files) data.append("files", file);
    form.prompts.value.split("\n").map((line) => line.trim()).filter(Boolean).forEach((p) => data.append("prompts", p));
    data.append("model", form.model.value);
    await submitJob(message, () => api("/api/jobs/upload", { method: "POST", body: data }));
  });
  await refreshJobs();
  setInterval(refreshJobs, 700);
}

async function submitJob(message, send) {
  message.className = "message";
  message.textContent = "submitting…";
  try {
    const job = await send();
    message.textContent = `job ${job.id} queued`;
    await refreshJobs();
  } catch (error) {
    message.className = "message error";
    message.textContent = error.message;
  }
}

async function refreshJobs() {
  const jobs = await api("/api/jobs?limit=30");
  fill(document.querySelector("#jobs tbody"), jobs.map((job) => {
    const share = job.total ? job.done / job.total : 0;
    const result = job.status === "done" && job.run
      ? el("a", { href: `/runs/${job.run}`, class: "run-link" }, `run (${job.result.scored} scored, ${job.result.failed} failed)`)
      : job.status === "done" ? `${job.result.rows} rows` : job.error || "";
    const cancel = ["queued", "running"].includes(job.status)
      ? el("button", { type: "button", on: { click: () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).then(refreshJobs) } }, "cancel")
      : "";
    return el("tr", { "data-job": job.id, "data-status": job.status },
      el("td", {}, job.id, job.params.label ? el("div", { class: "hint" }, job.params.label) : null),
      el("td", {}, job.kind), el("td", { class: `status ${job.status}` }, job.status),
      el("td", {}, el("progress", { max: 1, value: job.status === "done" ? 1 : share }), ` ${job.done}/${job.total ?? "?"}`),
      el("td", {}, job.stage), el("td", {}, job.eta_seconds === null ? "" : `${Math.round(job.eta_seconds)} s`),
      el("td", {}, result), el("td", {}, cancel));
  }));
}

const PAGES = {
  "runs.html": runsPage,
  "run.html": runPage,
  "compare.html": comparePage,
  "predictors.html": predictorsPage,
  "predictor.html": predictorPage,
  "history.html": historyPage,
  "jobs.html": jobsPage,
};

document.addEventListener("DOMContentLoaded", () => {
  const start = PAGES[document.body.dataset.page];
  if (start) start().catch((error) => showError(document.querySelector("main"), error));
});
