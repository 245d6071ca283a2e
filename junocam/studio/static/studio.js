// junocam studio: the page. Plain JavaScript, no build step.
// The server knows every stage's parameters (type, range, doc); this page turns them
// into controls, keeps the recipe being edited, and asks for previews as it changes.
"use strict";

const S = {
  config: null,        // /api/config
  specs: {},           // stage name -> registry entry
  frame: null,         // selected frame id
  recipe: null,        // the recipe being edited {name, description, stages: [...]}
  loaded: null,        // the recipe as it was loaded (Reset)
  before: null,        // the recipe shown on the "before" side
  beforeKey: null,     // frame + recipe + scale of the before image shown
  busy: false,         // a preview request is in flight
  dirty: false,        // something changed while it was
  scale: 0.4,
  collapsed: {},       // stage index -> collapsed
  previews: 0,         // previews received (tests wait on it)
  seen: new Set(),     // frames previewed once (their spin fit is cached)
};

const $ = (id) => document.getElementById(id);
const clone = (x) => JSON.parse(JSON.stringify(x));

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = {error: `${res.status} ${res.statusText}`}; }
  if (!res.ok) throw new Error(data && data.error ? data.error : `${res.status}`);
  return data;
}

function setStatus(text, busy) {
  $("status").textContent = text;
  $("status").classList.toggle("busy", !!busy);
}

function showError(text) {
  const box = $("recipe-error");
  box.textContent = text || "";
  box.classList.toggle("hidden", !text);
}

// ---- start ---------------------------------------------------------------------------
async function init() {
  S.config = await api("/api/config");
  for (const st of S.config.stages) S.specs[st.name] = st;
  S.scale = S.config.preview_scale;
  const scaleSel = $("preview-scale");
  if (![...scaleSel.options].some((o) => Number(o.value) === S.scale)) {
    scaleSel.add(new Option(String(S.scale), String(S.scale)), 0);
  }
  scaleSel.value = String(S.scale);
  $("out-dir").textContent = "output: " + S.config.out_dir;
  $("out-dir").title = "Full-resolution results, exported recipes and batches go here";
  for (const f of S.config.formats) $("format").add(new Option(f, f));
  $("format").value = "png8";
  fillRecipePicker(S.config.default_recipe);
  fillFrames();
  wire();
  await loadRecipe($("recipe-picker").value);
  if (S.config.frames.length) selectFrame(S.config.frames[0].id);
}

function fillRecipePicker(selected) {
  const sel = $("recipe-picker");
  sel.innerHTML = "";
  const groups = {"built-in": "Built-in", user: "Your recipe folder", folder: "Served folders"};
  for (const [origin, label] of Object.entries(groups)) {
    const items = S.config.recipes.filter((r) => r.origin === origin);
    if (!items.length) continue;
    const g = document.createElement("optgroup");
    g.label = label;
    for (const r of items) g.appendChild(new Option(r.name, r.id));
    sel.appendChild(g);
  }
  if (selected) sel.value = selected;
}

function fillFrames() {
  const ul = $("frames");
  ul.innerHTML = "";
  for (const f of S.config.frames) {
    const li = document.createElement("li");
    li.dataset.id = f.id;
    li.title = f.name;
    const img = document.createElement("img");
    img.alt = f.name;
    img.loading = "lazy";
    if (!f.error) img.src = `/api/frames/${f.id}/thumb`;
    const name = document.createElement("div");
    name.className = "fname";
    name.textContent = f.product_id || f.name;
    const meta = document.createElement("div");
    meta.className = "fmeta";
    meta.textContent = f.error ? f.error : `${f.filters.join(" ")} \u00b7 ${f.exposures} exp`;
    li.append(img, name, meta);
    li.addEventListener("click", () => selectFrame(f.id));
    ul.appendChild(li);
  }
  if (!S.config.frames.length) $("empty-hint").textContent = "No frames were given to the studio.";
}

function wire() {
  $("recipe-picker").addEventListener("change", (e) => loadRecipe(e.target.value));
  $("recipe-file").addEventListener("change", openRecipeFile);
  $("preview-scale").addEventListener("change", (e) => {
    S.scale = Number(e.target.value);
    S.beforeKey = null;
    requestPreview();
  });
  $("recipe-name").addEventListener("change", (e) => { S.recipe.name = e.target.value.trim(); });
  $("reset-recipe").addEventListener("click", () => {
    S.recipe = clone(S.loaded);
    renderEditor();
    requestPreview();
  });
  $("pin-before").addEventListener("click", () => {
    S.before = clone(S.recipe);
    S.beforeKey = null;
    requestPreview();
  });
  $("split-toggle").addEventListener("change", (e) => {
    $("compare").classList.toggle("nosplit", !e.target.checked);
    $("split").classList.toggle("hidden", !e.target.checked);
  });
  $("split").addEventListener("input", applySplit);
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("export").addEventListener("click", exportRecipe);
  $("process").addEventListener("click", processFrame);
  $("batch").addEventListener("click", processAll);
  applySplit();
}

function applySplit() {
  const v = Number($("split").value);
  $("before-img").style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $("split-line").style.left = `${v}%`;
}

function showTab(tab) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  $("pane-preview").classList.toggle("hidden", tab !== "preview");
  $("pane-stages").classList.toggle("hidden", tab !== "stages");
  if (tab === "stages") loadSnapshots();
}

// ---- recipes -------------------------------------------------------------------------
async function loadRecipe(id) {
  try {
    const recipe = await api(`/api/recipes/${encodeURIComponent(id)}`);
    useRecipe(recipe);
  } catch (e) {
    showError(e.message);
  }
}

async function openRecipeFile(e) {
  const file = e.target.files[0];
  if (!file) return;
  const text = await file.text();
  try {
    useRecipe(await api("/api/recipes/parse", {text, filename: file.name}));
  } catch (err) {
    showError(err.message);
  }
  e.target.value = "";
}

function useRecipe(recipe) {
  for (const st of recipe.stages) st.kind = S.specs[st.name].kind;
  S.recipe = recipe;
  S.loaded = clone(recipe);
  S.before = clone(recipe);
  S.beforeKey = null;
  S.collapsed = {};
  showError("");
  renderEditor();
  requestPreview();
}

// ---- the editor ----------------------------------------------------------------------
function renderEditor() {
  $("recipe-name").value = S.recipe.name;
  $("recipe-desc").textContent = S.recipe.description || "";
  const box = $("stages");
  box.innerHTML = "";
  for (const kind of S.config.kinds) {
    const idx = S.recipe.stages.map((s, i) => [s, i]).filter(([s]) => s.kind === kind);
    const addable = Object.values(S.specs).filter((sp) => sp.kind === kind);
    const single = kind === "geometry" || kind === "compose";
    if (!idx.length && kind === "photometric") continue;
    const title = document.createElement("div");
    title.className = "kind-title";
    title.textContent = kind;
    if (!single) {
      const add = document.createElement("select");
      add.title = `Add a ${kind} stage`;
      add.add(new Option("+ add", ""));
      for (const sp of addable) add.add(new Option(sp.name, sp.name));
      add.addEventListener("change", () => { if (add.value) addStage(kind, add.value); });
      title.appendChild(add);
    }
    box.appendChild(title);
    for (const [st, i] of idx) box.appendChild(renderStage(st, i));
  }
}

function sameKindNeighbour(i, dir) {
  const j = i + dir;
  return j >= 0 && j < S.recipe.stages.length && S.recipe.stages[j].kind === S.recipe.stages[i].kind;
}

function renderStage(st, i) {
  const spec = S.specs[st.name];
  const card = document.createElement("div");
  card.className = "stage" + (st.enabled ? "" : " off") + (S.collapsed[i] ? " collapsed" : "");
  card.dataset.stage = st.name;
  card.dataset.index = String(i);
  const head = document.createElement("div");
  head.className = "stage-head";
  const sw = switchControl(st.enabled, (v) => { st.enabled = v; card.classList.toggle("off", !v); changed(); });
  sw.title = "Switch this stage on or off";
  sw.querySelector("input").dataset.role = "enable";
  if (st.kind === "geometry" || st.kind === "compose") sw.querySelector("input").disabled = true;
  const name = document.createElement("span");
  name.className = "sname";
  name.textContent = st.name;
  name.title = spec.doc;
  const up = document.createElement("button");
  up.textContent = "\u2191";
  up.title = "Move up (within its kind)";
  up.disabled = !sameKindNeighbour(i, -1);
  up.addEventListener("click", (e) => { e.stopPropagation(); move(i, -1); });
  const down = document.createElement("button");
  down.textContent = "\u2193";
  down.title = "Move down (within its kind)";
  down.disabled = !sameKindNeighbour(i, 1);
  down.addEventListener("click", (e) => { e.stopPropagation(); move(i, 1); });
  head.append(sw, name, up, down);
  head.addEventListener("click", (e) => {
    if (e.target.closest(".switch") || e.target.tagName === "BUTTON") return;
    S.collapsed[i] = !S.collapsed[i];
    card.classList.toggle("collapsed", S.collapsed[i]);
  });
  const body = document.createElement("div");
  body.className = "stage-body";
  for (const p of spec.params) body.appendChild(renderParam(st, i, p));
  card.append(head, body);
  return card;
}

function switchControl(checked, onChange) {
  const label = document.createElement("label");
  label.className = "switch";
  const input = document.createElement("input");
  input.type = "checkbox";
  input.checked = !!checked;
  input.addEventListener("change", () => onChange(input.checked));
  const knob = document.createElement("span");
  label.append(input, knob);
  return label;
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

function stepOf(p) {
  if (p.type === "int") return p.odd ? 2 : 1;
  const span = p.high - p.low;
  const raw = span / 500;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return Number((Math.round(raw / mag) * mag).toPrecision(2)) || raw;
}

function renderParam(st, i, p) {
  const row = document.createElement("div");
  row.className = "param";
  const key = `${st.name}.${p.name}`;
  row.dataset.param = key;
  const tip = [p.doc, p.low !== null && p.high !== null ? `range ${fmt(p.low)} to ${fmt(p.high)}` : "",
    `default ${JSON.stringify(p.default)}`].filter(Boolean).join(" \u00b7 ");
  row.title = tip;
  const label = document.createElement("span");
  label.className = "pname";
  label.textContent = p.name;
  label.title = tip;
  row.appendChild(label);
  const value = st.params[p.name];
  const set = (v) => { st.params[p.name] = v; changed(); };
  if (p.type === "bool") {
    const sw = switchControl(value, set);
    sw.title = tip;
    row.appendChild(sw);
  } else if (p.type === "str") {
    const sel = document.createElement("select");
    for (const c of p.choices || []) sel.add(new Option(c, c));
    sel.value = value;
    sel.title = tip;
    sel.addEventListener("change", () => set(sel.value));
    row.appendChild(sel);
  } else if (p.type === "gains") {
    row.appendChild(gainsControl(value, p, set, tip));
  } else {
    const range = document.createElement("input");
    range.type = "range";
    range.min = p.low; range.max = p.high; range.step = stepOf(p);
    range.value = value;
    range.title = tip;
    range.dataset.param = key;
    const num = document.createElement("input");
    num.type = "number";
    num.min = p.low; num.max = p.high; num.step = "any";
    num.value = fmt(value);
    num.title = tip;
    const parse = (text) => {
      let v = Number(text);
      if (!Number.isFinite(v)) return null;
      v = Math.min(p.high, Math.max(p.low, v));
      if (p.type === "int") {
        v = Math.round(v);
        if (p.odd && v % 2 === 0) v = v + 1 <= p.high ? v + 1 : v - 1;
      }
      return v;
    };
    range.addEventListener("input", () => {
      const v = parse(range.value);
      if (v === null) return;
      num.value = fmt(v);
      set(v);
    });
    num.addEventListener("change", () => {
      const v = parse(num.value);
      if (v === null) { num.value = fmt(st.params[p.name]); return; }
      num.value = fmt(v);
      range.value = v;
      set(v);
    });
    row.append(range, num);
  }
  return row;
}

function gainsControl(value, p, set, tip) {
  const box = document.createElement("div");
  box.className = "gains";
  const sel = document.createElement("select");
  for (const c of p.choices || []) sel.add(new Option(c, c));
  sel.add(new Option("custom r, g, b", "custom"));
  const nums = [0, 1, 2].map(() => {
    const n = document.createElement("input");
    n.type = "number"; n.min = 0.01; n.max = 20; n.step = "any";
    n.title = tip;
    return n;
  });
  const custom = Array.isArray(value);
  sel.value = custom ? "custom" : value;
  nums.forEach((n, k) => { n.value = custom ? value[k] : 1; n.classList.toggle("hidden", !custom); });
  const emit = () => {
    if (sel.value === "custom") set(nums.map((n) => Math.min(20, Math.max(0.01, Number(n.value) || 1))));
    else set(sel.value);
  };
  sel.addEventListener("change", () => {
    nums.forEach((n) => n.classList.toggle("hidden", sel.value !== "custom"));
    emit();
  });
  nums.forEach((n) => n.addEventListener("change", emit));
  sel.title = tip;
  box.append(sel, ...nums);
  return box;
}

function move(i, dir) {
  if (!sameKindNeighbour(i, dir)) return;
  const st = S.recipe.stages;
  [st[i], st[i + dir]] = [st[i + dir], st[i]];
  [S.collapsed[i], S.collapsed[i + dir]] = [S.collapsed[i + dir], S.collapsed[i]];
  renderEditor();
  changed();
}

function addStage(kind, name) {
  const spec = S.specs[name];
  const params = {};
  for (const p of spec.params) params[p.name] = clone(p.default);
  let at = -1;
  S.recipe.stages.forEach((s, i) => { if (s.kind === kind) at = i; });
  if (at < 0) {
    const order = S.config.kinds.indexOf(kind);
    at = S.recipe.stages.findIndex((s) => S.config.kinds.indexOf(s.kind) > order) - 1;
    if (at < -1) at = S.recipe.stages.length - 1;
  }
  S.recipe.stages.splice(at + 1, 0, {name, kind, enabled: true, params});
  S.collapsed = {};
  renderEditor();
  changed();
}

function changed() {
  requestPreview();
}

// ---- previews ------------------------------------------------------------------------
function selectFrame(id) {
  S.frame = id;
  S.beforeKey = null;
  for (const li of $("frames").children) li.classList.toggle("selected", li.dataset.id === id);
  $("empty-hint").classList.add("hidden");
  requestPreview();
}

function requestPreview() {
  if (!S.frame || !S.recipe) return;
  if (S.busy) { S.dirty = true; return; }
  runPreview();
}

async function runPreview() {
  S.busy = true;
  S.dirty = false;
  const frame = S.frame;
  const recipe = clone(S.recipe);
  setStatus(S.seen.has(frame) ? "rendering preview\u2026"
    : "first preview of this frame: clean-up, spin fit and stitch (several seconds)\u2026", true);
  const t0 = performance.now();
  try {
    const res = await api("/api/preview", {frame, recipe, scale: S.scale});
    const img = $("preview-img");
    img.src = res.image;
    img.dataset.digest = res.digest;
    img.dataset.frame = frame;
    const ran = res.stages.length - res.rerun_from;
    const from = res.rerun_from < res.stages.length ? res.stages[res.rerun_from] : "cache";
    const ms = (performance.now() - t0) / 1000;
    $("latency").textContent =
      `preview ${res.width}\u00d7${res.height} in ${ms.toFixed(2)} s (stages ${res.seconds.toFixed(2)} s; ` +
      `re-ran ${ran} of ${res.stages.length} from ${from})`;
    $("latency").dataset.seconds = String(ms);
    $("notes").textContent = [res.fit ? `spin: ${res.fit}` : "", ...res.notes].filter(Boolean).join("\n");
    showError("");
    setStatus("ready", false);
    S.previews += 1;
    S.seen.add(frame);
    document.body.dataset.previews = String(S.previews);
    if (!$("pane-stages").classList.contains("hidden")) loadSnapshots();
    await updateBefore(frame);
  } catch (e) {
    showError(e.message);
    setStatus("preview failed", false);
  } finally {
    S.busy = false;
    if (S.dirty) requestPreview();
  }
}

async function updateBefore(frame) {
  const key = JSON.stringify([frame, S.before, S.scale]);
  if (key === S.beforeKey) return;
  try {
    const res = await api("/api/preview", {frame, recipe: S.before, scale: S.scale});
    $("before-img").src = res.image;
    S.beforeKey = key;
  } catch (e) {
    $("before-img").removeAttribute("src");
  }
}

async function loadSnapshots() {
  if (!S.frame || !S.recipe) return;
  const box = $("snapshots");
  try {
    const res = await api("/api/snapshots", {frame: S.frame, recipe: clone(S.recipe), scale: S.scale});
    box.innerHTML = "";
    for (const s of res.snapshots) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = s.image;
      img.alt = s.label;
      const cap = document.createElement("figcaption");
      cap.textContent = s.label;
      fig.append(img, cap);
      box.appendChild(fig);
    }
  } catch (e) {
    showError(e.message);
  }
}

// ---- export, process, batch ----------------------------------------------------------
async function exportRecipe() {
  try {
    const res = await api("/api/export", {recipe: clone(S.recipe), save: true});
    $("export-toml").textContent = res.toml;
    const a = $("export-download");
    if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob([res.toml], {type: "application/toml"}));
    a.download = `${res.name}.toml`;
    $("export-saved").textContent = res.saved ? `saved as ${res.saved} in the output folder` : "";
    $("export-box").classList.remove("hidden");
    $("export-box").scrollIntoView({block: "nearest"});
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

async function processFrame() {
  if (!S.frame) return;
  await startJob("/api/process", {frame: S.frame, recipe: clone(S.recipe), format: $("format").value},
    "Full resolution");
}

async function processAll() {
  await startJob("/api/batch", {recipe: clone(S.recipe), format: $("format").value}, "Batch");
}

async function startJob(path, body, title) {
  try {
    const job = await api(path, body);
    showError("");
    pollJob(job.id, title);
  } catch (e) {
    showError(e.message);
  }
}

async function pollJob(id, title) {
  $("job").classList.remove("hidden");
  $("job").dataset.status = "running";
  $("job").scrollIntoView({block: "nearest"});
  $("job-title").textContent = `${title}: running`;
  for (;;) {
    let job;
    try { job = await api(`/api/jobs/${id}`); } catch (e) { showError(e.message); return; }
    $("job-progress").max = Math.max(job.total, 1);
    $("job-progress").value = job.done;
    $("job-title").textContent = `${title}: ${job.status} \u2014 ${job.done}/${job.total} frame(s)` +
      (job.failed ? `, ${job.failed} failed` : "") + ` \u00b7 ${job.elapsed_s.toFixed(1)} s`;
    $("job-text").textContent = job.error || job.messages.slice(-3).join("\n");
    const ul = $("job-outputs");
    ul.innerHTML = "";
    for (const name of job.outputs) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/api/outputs/${encodeURIComponent(name)}`;
      a.textContent = name;
      a.target = "_blank";
      li.appendChild(a);
      ul.appendChild(li);
    }
    if (job.status !== "running") {
      $("job").dataset.status = job.status;
      if (job.error) showError(job.error);
      return;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

init().catch((e) => showError(`cannot start: ${e.message}`));
