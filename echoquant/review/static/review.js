// echoquant review page: talks only to the JSON API of echoquant.review.app.
"use strict";

const $ = (sel) => document.querySelector(sel);
const S = {
  reviewer: new URLSearchParams(location.search).get("reviewer") || "",
  clips: [], shown: [], index: -1, detail: null, sprite: null,
  frame: 0, playing: false, lastTick: 0, loadToken: 0,
  ed: [], es: [], contours: [], editedFrames: new Set(), beatsChanged: false, drag: null,
};
const VALUE_ROWS = [
  ["lvef_pct", "LVEF (%)", "lvef"], ["edv_ml", "EDV (mL)", "edv"], ["esv_ml", "ESV (mL)", "esv"],
  ["gls_pct", "GLS (%)", "gls"], ["fac_pct", "FAC (%)", "fac"], ["eda_mm2", "EDA (mm²)", null],
  ["esa_mm2", "ESA (mm²)", null], ["edv_ul", "EDV (µL)", null], ["esv_ul", "ESV (µL)", null],
  ["wmsi", "WMSI", null], ["akinetic_extent_pct", "akinetic extent (%)", null],
  ["fs_pct", "FS (%)", null], ["lvidd_mm", "LVIDd (mm)", null], ["lvids_mm", "LVIDs (mm)", null],
  ["lv_length_mm", "LV length (mm)", null], ["gcs_pct", "GCS (%)", null],
  ["lvef_teichholz_pct", "LVEF Teichholz (%)", null], ["lv_mass_mg", "LV mass (mg)", null], ["n_beats", "beats", null],
];

function fmt(v, digits = 3) {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v === "number") return Number(v.toPrecision(digits)).toString();
  return String(v);
}
function mainValue(c) {
  const v = c.values || {};
  if (v.lvef_pct !== null && v.lvef_pct !== undefined) return "LVEF " + fmt(v.lvef_pct);
  if (v.fac_pct !== null && v.fac_pct !== undefined) return "FAC " + fmt(v.fac_pct);
  return c.status === "ok" ? "not measured" : c.status;
}
async function api(path, options) {
  const r = await fetch(path, options);
  const body = await r.json().catch(() => ({ detail: r.statusText }));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}
function query() { return S.reviewer ? "?reviewer=" + encodeURIComponent(S.reviewer) : ""; }

// ------------------------------------------------------------------ list

async function loadList(keepId, reordered) {
  const data = await api("/api/clips" + query());
  S.reviewer = data.reviewer;
  $("#reviewer").value = data.reviewer;
  // Keep the order the reader started with: re-sorting after each decision (an edit
  // changes the interval width) would move clips under the reader's feet.
  if (S.clips.length && !reordered) {
    const rank = new Map(S.clips.map((c, i) => [c.clip_id, i]));
    data.clips.sort((a, b) => (rank.get(a.clip_id) ?? 1e9) - (rank.get(b.clip_id) ?? 1e9));
  }
  S.clips = data.clips;
  const reasons = $("#exclude-reason");
  if (!reasons.options.length) {
    reasons.innerHTML = '<option value="">reason…</option>' +
      data.exclude_reasons.map((r) => `<option>${r}</option>`).join("");
  }
  const views = [...new Set(S.clips.map((c) => c.view).filter(Boolean))].sort();
  const fv = $("#f-view");
  if (fv.options.length === 1) views.forEach((v) => fv.add(new Option(v, v)));
  renderList(keepId);
}

function passes(c) {
  const qc = $("#f-qc").value, st = $("#f-status").value, view = $("#f-view").value;
  if (qc === "pass" && !c.qc_pass) return false;
  if (qc === "flag" && c.qc_pass) return false;
  if (st === "none" && c.review_status) return false;
  if (st === "stale" && !c.stale) return false;
  if (st && st !== "none" && st !== "stale" && c.review_status !== st) return false;
  if (view && c.view !== view) return false;
  return true;
}

function renderList(keepId) {
  S.shown = S.clips.filter(passes);
  const rows = S.shown.map((c, i) => {
    const w = c.interval_width === null ? "–" : fmt(c.interval_width, 2);
    const review = (c.review_status || "") + (c.stale ? " (stale)" : "");
    return `<tr data-i="${i}" data-clip="${c.clip_id}"><td>${c.name}</td><td>${c.view || "–"}</td>` +
      `<td>${mainValue(c)}</td><td>${w}</td><td class="${c.qc_pass ? "" : "flag"}">${c.qc_pass ? "pass" : "flag"}</td>` +
      `<td class="${c.review_status || ""}">${review}</td></tr>`;
  });
  $("#clip-list tbody").innerHTML = rows.join("");
  const done = S.clips.filter((c) => c.review_status).length;
  $("#progress").textContent = `${done} / ${S.clips.length} reviewed`;
  const i = keepId ? S.shown.findIndex((c) => c.clip_id === keepId) : -1;
  S.index = i;
  markSelected();
}

function markSelected() {
  document.querySelectorAll("#clip-list tr.selected").forEach((tr) => tr.classList.remove("selected"));
  const tr = document.querySelector(`#clip-list tr[data-i="${S.index}"]`);
  if (tr) { tr.classList.add("selected"); tr.scrollIntoView({ block: "nearest" }); }
}

function go(delta) {
  if (!S.shown.length) return;
  const i = Math.min(S.shown.length - 1, Math.max(0, S.index + delta));
  openClip(i);
}

// ------------------------------------------------------------------ one clip

async function openClip(i) {
  S.index = i;
  markSelected();
  const c = S.shown[i];
  // Keys pressed quickly start several loads: only the last one may show its clip.
  const token = ++S.loadToken;
  S.sprite = null;
  const d = await api(`/api/clips/${encodeURIComponent(c.clip_id)}` + query());
  if (token !== S.loadToken) return;
  S.detail = d;
  S.playing = false;
  $("#play").textContent = "play";
  resetEdits();
  $("#clip-pane").hidden = false;
  $("#clip-title").textContent = `${d.name} · ${d.view || "view unknown"}${d.species ? " · " + d.species : ""}`;
  $("#stale-banner").hidden = !d.stale;
  $("#not-editable").hidden = d.editable;
  $("#not-editable").textContent = d.editable ? "" : "Not editable: " + (d.not_editable_reason || d.status);
  $("#decision-note").textContent = d.review_status ?
    `${d.review_status} by ${d.reviewer} at ${d.reviewed_at}${d.review_reason ? " (" + d.review_reason + ")" : ""}` : "";
  renderValues(d.original, d.values);
  $("#flags").textContent = d.qc_flags ? "flags: " + d.qc_flags : "";
  S.sprite = null;
  if (!d.frames && d.picture) {
    // An M-mode strip: its traced picture (written by analyze --overlays), no loop to play.
    const img = new Image();
    img.onload = () => {
      if (S.detail !== d) return;
      const cv = $("#loop"), k = Math.min(480 / img.width, 360 / img.height);
      cv.width = Math.round(img.width * k); cv.height = Math.round(img.height * k);
      cv.getContext("2d").drawImage(img, 0, 0, cv.width, cv.height);
    };
    img.src = d.picture;
  }
  if (d.frames) {
    const img = new Image();
    img.onload = () => { if (S.detail === d) { S.sprite = img; draw(); } };
    img.src = d.frames.url;
    const cv = $("#loop");
    const zoom = Math.min(480 / d.frames.tile_w, 360 / d.frames.tile_h);
    cv.width = Math.round(d.frames.tile_w * zoom);
    cv.height = Math.round(d.frames.tile_h * zoom);
    $("#frame-slider").max = d.frames.n_frames - 1;
  }
  S.frame = S.ed.length ? S.ed[0] : 0;
  draw();
}

function resetEdits() {
  const d = S.detail;
  S.ed = [...(d.ed_frames || [])];
  S.es = [...(d.es_frames || [])];
  S.contours = (d.contours || []).map((c) => (c ? c.map((p) => [...p]) : null));
  S.editedFrames = new Set(Object.keys((d.edits && d.edits.contours) || {}).map(Number));
  S.beatsChanged = false;
  S.dirtyContour = false;
  updateEditState();
}

function updateEditState() {
  const dirty = S.beatsChanged || S.dirtyContour;
  $("#save-edit").disabled = !(S.detail.editable && dirty);
  $("#edit-note").textContent = dirty ? "unsaved edit" : "";
}

function renderValues(original, now) {
  const rows = VALUE_ROWS.filter(([k]) => (original && original[k] !== null && original[k] !== undefined) ||
    (now && now[k] !== null && now[k] !== undefined));
  const cell = (v, k, ci) => {
    if (!v) return "–";
    let s = fmt(v[k]);
    if (ci && v[ci + "_ci_low"] !== null && v[ci + "_ci_low"] !== undefined) {
      s += ` [${fmt(v[ci + "_ci_low"])}, ${fmt(v[ci + "_ci_high"])}]`;
    }
    return s;
  };
  $("#values tbody").innerHTML = rows.map(([k, label, ci]) => {
    const a = cell(original, k, ci), b = cell(now, k, ci);
    return `<tr data-key="${k}"><th>${label}</th><td class="old">${a}</td><td class="new${a !== b ? " changed" : ""}">${b}</td></tr>`;
  }).join("");
}

// ------------------------------------------------------------------ drawing

function imageToCanvas(p) {
  const f = S.detail.frames, cv = $("#loop");
  return [p[0] * f.scale * cv.width / f.tile_w, p[1] * f.scale * cv.height / f.tile_h];
}
function canvasToImage(x, y) {
  const f = S.detail.frames, cv = $("#loop");
  return [x / (f.scale * cv.width / f.tile_w), y / (f.scale * cv.height / f.tile_h)];
}
function isKeyFrame(t) { return S.ed.includes(t) || S.es.includes(t); }

function draw() {
  const d = S.detail;
  if (!d || (!d.frames && d.picture)) return;
  const cv = $("#loop"), ctx = cv.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, cv.width, cv.height);
  const f = d.frames;
  if (f && S.sprite) {
    const col = S.frame % f.cols, row = Math.floor(S.frame / f.cols);
    ctx.drawImage(S.sprite, col * f.tile_w, row * f.tile_h, f.tile_w, f.tile_h, 0, 0, cv.width, cv.height);
  }
  const c = S.contours[S.frame];
  if (f && c && c.length > 2) {
    ctx.lineWidth = 2;
    ctx.strokeStyle = S.ed.includes(S.frame) ? "#ff4040" : S.es.includes(S.frame) ? "#40a0ff" : "#ffd000";
    ctx.beginPath();
    c.forEach((p, i) => { const [x, y] = imageToCanvas(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.closePath();
    ctx.stroke();
    if (!S.playing && isKeyFrame(S.frame) && d.editable) {
      ctx.fillStyle = "#fff";
      c.forEach((p) => { const [x, y] = imageToCanvas(p); ctx.fillRect(x - 3, y - 3, 6, 6); });
    }
  }
  const tag = S.ed.includes(S.frame) ? " ED" : S.es.includes(S.frame) ? " ES" : "";
  $("#frame-label").textContent = `frame ${S.frame}${tag}` + (f ? ` / ${f.n_frames - 1}` : "");
  $("#frame-slider").value = S.frame;
  drawCurve();
}

function drawCurve() {
  const cv = $("#curve"), ctx = cv.getContext("2d"), d = S.detail;
  ctx.clearRect(0, 0, cv.width, cv.height);
  const v = (d.curve && d.curve.values) || [];
  const n = d.frames ? d.frames.n_frames : v.length;
  if (!n) return;
  const finite = v.filter((x) => x !== null && Number.isFinite(x));
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const X = (t) => 6 + (cv.width - 12) * t / Math.max(1, n - 1);
  const Y = (y) => cv.height - 14 - (cv.height - 28) * (hi > lo ? (y - lo) / (hi - lo) : 0.5);
  const mark = (t, color) => { ctx.strokeStyle = color; ctx.beginPath(); ctx.moveTo(X(t), 0); ctx.lineTo(X(t), cv.height); ctx.stroke(); };
  ctx.lineWidth = 1;
  S.ed.forEach((t) => mark(t, "#e03030"));
  S.es.forEach((t) => mark(t, "#3080e0"));
  mark(S.frame, "#888");
  ctx.strokeStyle = "#222";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  v.forEach((y, t) => {
    if (y === null || !Number.isFinite(y)) { started = false; return; }
    if (started) ctx.lineTo(X(t), Y(y)); else { ctx.moveTo(X(t), Y(y)); started = true; }
  });
  ctx.stroke();
  ctx.fillStyle = "#555";
  ctx.fillText(d.curve.label || "", 8, 12);
}

function tick(now) {
  if (S.playing && S.detail && S.detail.frames) {
    const fps = Math.min(S.detail.frames.fps || 30, 30);
    if (now - S.lastTick >= 1000 / fps) {
      S.frame = (S.frame + 1) % S.detail.frames.n_frames;
      S.lastTick = now;
      draw();
    }
  }
  requestAnimationFrame(tick);
}

function step(delta) {
  if (!S.detail || !S.detail.frames) return;
  S.playing = false;
  $("#play").textContent = "play";
  const n = S.detail.frames.n_frames;
  S.frame = (S.frame + delta + n) % n;
  draw();
}

// ------------------------------------------------------------------ editing

function beatOf(t, kind) {
  // The beat whose cycle holds frame t (ED..next ED); for ED the nearest ED.
  if (!S.ed.length) return -1;
  if (kind === "ed") {
    let best = 0;
    S.ed.forEach((e, i) => { if (Math.abs(e - t) < Math.abs(S.ed[best] - t)) best = i; });
    return best;
  }
  let b = 0;
  S.ed.forEach((e, i) => { if (e <= t) b = i; });
  return b;
}

function setKey(kind) {
  if (!S.detail || !S.detail.editable) return;
  const t = S.frame;
  if (!S.ed.length) { if (kind === "ed") { S.ed = [t]; S.es = [Math.min(t + 1, S.detail.frames.n_frames - 1)]; } }
  else {
    const b = beatOf(t, kind);
    if (kind === "ed") S.ed[b] = t; else S.es[b] = t;
  }
  S.beatsChanged = true;
  updateEditState();
  draw();
}

function nearestHandle(x, y) {
  const c = S.contours[S.frame];
  if (!c) return -1;
  let best = -1, bestD = 10;
  c.forEach((p, i) => {
    const [px, py] = imageToCanvas(p);
    const dist = Math.hypot(px - x, py - y);
    if (dist < bestD) { bestD = dist; best = i; }
  });
  return best;
}

function canvasPoint(ev) {
  const r = $("#loop").getBoundingClientRect();
  return [(ev.clientX - r.left) * $("#loop").width / r.width, (ev.clientY - r.top) * $("#loop").height / r.height];
}

$("#loop").addEventListener("mousedown", (ev) => {
  if (!S.detail || !S.detail.editable || S.playing || !isKeyFrame(S.frame)) return;
  const [x, y] = canvasPoint(ev);
  const i = nearestHandle(x, y);
  if (i >= 0) {
    S.drag = { frame: S.frame, index: i, start: S.contours[S.frame].map((p) => [...p]) };
    ev.preventDefault();
  }
});
window.addEventListener("mousemove", (ev) => {
  if (!S.drag) return;
  // The grabbed point follows the mouse; its neighbours follow less (Gaussian falloff
  // over about two points each side), so a drag bends the border instead of spiking it.
  const [x, y] = canvasPoint(ev);
  const { frame, index, start } = S.drag;
  const target = canvasToImage(x, y);
  const dx = target[0] - start[index][0], dy = target[1] - start[index][1];
  const c = S.contours[frame];
  for (let j = Math.max(0, index - 3); j <= Math.min(c.length - 1, index + 3); j++) {
    const w = Math.exp(-(((j - index) / 1.5) ** 2));
    c[j] = [Math.round((start[j][0] + w * dx) * 100) / 100, Math.round((start[j][1] + w * dy) * 100) / 100];
  }
  draw();
});
window.addEventListener("mouseup", () => {
  if (!S.drag) return;
  S.editedFrames.add(S.drag.frame);
  S.dirtyContour = true;
  S.drag = null;
  updateEditState();
});

$("#curve").addEventListener("click", (ev) => {
  if (!S.detail || !S.detail.frames) return;
  const cv = $("#curve"), r = cv.getBoundingClientRect();
  const x = (ev.clientX - r.left) * cv.width / r.width;
  const n = S.detail.frames.n_frames;
  S.playing = false;
  $("#play").textContent = "play";
  S.frame = Math.max(0, Math.min(n - 1, Math.round((x - 6) / (cv.width - 12) * (n - 1))));
  draw();
});

// ------------------------------------------------------------------ decisions

async function decide(payload, advance) {
  const c = S.shown[S.index];
  if (!c) return;
  $("#decision-note").textContent = "saving…";
  try {
    const d = await api(`/api/clips/${encodeURIComponent(c.clip_id)}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...payload, reviewer: S.reviewer }),
    });
    const i = S.index;
    await loadList(c.clip_id);
    if (advance && S.index + 1 < S.shown.length) { await openClip(S.index + 1); }
    else {
      await openClip(S.index >= 0 ? S.index : Math.min(i, S.shown.length - 1));
      renderValues(d.before, d.after);
      $("#decision-note").textContent = `${d.action} recorded (${d.time_utc}); analysed/before → now shown`;
    }
  } catch (err) {
    $("#decision-note").textContent = "not saved: " + err.message;
  }
}

function accept() { decide({ action: "accept" }, true); }
function exclude() {
  const sel = $("#exclude-reason").value, text = $("#exclude-text").value.trim();
  const reason = [sel, text].filter(Boolean).join(": ");
  if (!reason) { $("#decision-note").textContent = "choose or type a reason to exclude"; $("#exclude-reason").focus(); return; }
  $("#exclude-text").value = "";
  $("#exclude-reason").value = "";
  decide({ action: "exclude", reason }, true);
}
function saveEdit() {
  if ($("#save-edit").disabled) return;
  const contours = {};
  S.editedFrames.forEach((t) => { if (S.contours[t]) contours[t] = S.contours[t]; });
  S.dirtyContour = false;
  decide({ action: "edit", ed_frames: S.ed, es_frames: S.es, contours }, false);
}

$("#accept").onclick = accept;
$("#exclude").onclick = exclude;
$("#save-edit").onclick = saveEdit;
$("#reset").onclick = () => { S.dirtyContour = false; resetEdits(); draw(); };
$("#set-ed").onclick = () => setKey("ed");
$("#set-es").onclick = () => setKey("es");
$("#play").onclick = () => { S.playing = !S.playing; $("#play").textContent = S.playing ? "pause" : "play"; draw(); };
$("#prev-frame").onclick = () => step(-1);
$("#next-frame").onclick = () => step(1);
$("#frame-slider").oninput = (ev) => { S.playing = false; S.frame = Number(ev.target.value); draw(); };
$("#clip-list tbody").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr");
  if (tr) openClip(Number(tr.dataset.i));
});
["#f-qc", "#f-status", "#f-view"].forEach((s) => $(s).addEventListener("change", () => renderList(S.detail && S.detail.clip_id)));
$("#reviewer").addEventListener("change", (ev) => {
  S.reviewer = ev.target.value.trim();
  const u = new URL(location.href);
  u.searchParams.set("reviewer", S.reviewer);
  history.replaceState(null, "", u);
  loadList(null, true);
});

document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (typing && ev.key !== "Enter") return;
  if (typing && ev.key === "Enter") {
    if (document.activeElement.id === "exclude-text" || document.activeElement.id === "exclude-reason") exclude();
    return;
  }
  const keys = {
    j: () => go(1), ArrowDown: () => go(1), k: () => go(-1), ArrowUp: () => go(-1),
    a: accept, x: () => { if ($("#exclude-reason").value || $("#exclude-text").value) exclude(); else $("#exclude-reason").focus(); },
    " ": () => $("#play").click(), ArrowLeft: () => step(-1), ArrowRight: () => step(1),
    d: () => setKey("ed"), s: () => setKey("es"), Enter: saveEdit, r: () => $("#reset").click(),
  };
  const f = keys[ev.key];
  if (f) { ev.preventDefault(); f(); }
});

requestAnimationFrame(tick);
loadList().then(() => { if (S.shown.length) openClip(0); });
