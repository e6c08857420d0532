// CoMix search page: vanilla JS over the JSON API (see /docs). DOM is built with textContent
// only, because panel text comes from OCR and VLMs and must never be parsed as HTML.
"use strict";

const INFO = JSON.parse(document.getElementById("app-info").textContent);
const SVG = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));

const state = { last: null, tab: "text", file: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// A page image with its panels drawn over it in page pixels (viewBox = page size), so the
// overlay fits whatever size the thumbnail is shown at.
function pageFigure(width, height, src, panels, hitSlot) {
  const box = el("div", { class: "page", "data-testid": "page-figure" });
  box.style.aspectRatio = `${width || 2} / ${height || 3}`;
  if (src) box.append(el("img", { src, alt: "", loading: "lazy", decoding: "async" }));
  const overlay = svg("svg", { viewBox: `0 0 ${width || 1} ${height || 1}`,
                               preserveAspectRatio: "none", "data-testid": "overlay" });
  const radius = Math.max(width || 1, height || 1) * 0.022;
  panels.forEach((panel, i) => {
    const [x, y, w, h] = panel.box;
    const hit = hitSlot !== undefined && hitSlot !== null && panel.slot === hitSlot;
    overlay.append(svg("rect", { x, y, width: w, height: h, class: hit ? "hit" : "" }));
    const badge = svg("g", { class: hit ? "badge hit" : "badge" });
    const cx = x + radius * 1.3, cy = y + radius * 1.3;
    badge.append(svg("circle", { cx, cy, r: radius }));
    const label = svg("text", { x: cx, y: cy, "font-size": radius * 1.2 });
    label.textContent = String((panel.order ?? i) + 1);
    badge.append(label);
    overlay.append(badge);
  });
  box.append(overlay);
  return box;
}

function filters() {
  const out = {};
  for (const input of $$("[data-filter]")) {
    const value = input.value.trim();
    if (value !== "") out[input.dataset.filter] = value;
  }
  return out;
}

function mode() { return $('input[name="mode"]:checked').value; }

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function call(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: reported below */ }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

// Runs a query: {kind: text|keyword|page_id|panel_id|image, value, file?}.
async function run(query) {
  state.last = query;
  const k = $("#k").value;
  setStatus("Searching…");
  $("#results").setAttribute("aria-busy", "true");
  try {
    let data;
    if (query.kind === "image") {
      const form = new FormData();
      form.append("file", query.file, query.file.name);
      form.append("mode", mode());
      form.append("k", k);
      for (const [key, value] of Object.entries(filters())) form.append(key, value);
      data = await call("/api/search/image", { method: "POST", body: form });
    } else {
      const params = new URLSearchParams({ [query.kind]: query.value, mode: mode(), k, ...filters() });
      history.replaceState(null, "", `?${params}`);
      data = await call(`/api/search?${params}`);
    }
    render(data);
  } catch (error) {
    setStatus(error.message, true);
    $("#results").replaceChildren();
  } finally {
    $("#results").removeAttribute("aria-busy");
  }
}

function describeQuery(q) {
  if (q.kind === "image") return `image “${q.value}”`;
  if (q.kind === "keyword") return `words “${q.value}”`;
  if (q.kind === "text") return `meaning of “${q.value}”`;
  return `more like ${q.kind === "panel_id" ? "panel" : "page"} ${q.value}`;
}

function render(data) {
  const count = data.results.length;
  const unit = data.mode === "panel" ? "panel" : "page";
  setStatus(`${count} ${unit}${count === 1 ? "" : "s"} for ${describeQuery(data.query)} · ` +
            `${data.candidates.toLocaleString()} searched · ${data.took_ms} ms`);
  renderPreview(data.query);
  const grid = $("#results");
  grid.replaceChildren();
  if (!count) {
    grid.append(el("div", { class: "empty", text: "Nothing matches. Try fewer filters or other words." }));
    return;
  }
  for (const item of data.results) grid.append(card(item, data.mode));
}

function renderPreview(query) {
  const preview = $("#query-preview");
  if (query.kind !== "image" || !state.file) { preview.hidden = true; return; }
  const url = URL.createObjectURL(state.file);
  const panels = (query.panels || []).map((box, i) => ({ box, order: i, slot: i }));
  preview.replaceChildren(
    pageFigure(query.width, query.height, url, panels),
    el("div", {}, el("strong", { text: "Your image" }),
       el("div", { class: "where", text: `${query.width}×${query.height} px · ${panels.length} panel(s) detected` })));
  preview.hidden = false;
}

function card(item, resultMode) {
  const hitSlot = resultMode === "panel" ? item.slot : null;
  const hitPanel = item.panels.find((p) => p.slot === hitSlot);
  const snippet = hitPanel ? hitPanel.text : item.text;
  const figure = pageFigure(item.width, item.height, item.thumbnail_url, item.panels, hitSlot);
  figure.addEventListener("click", () => showDetails(item, hitSlot));
  const tags = el("div", { class: "tags" },
    item.page_type ? el("span", { class: "tag", text: item.page_type }) : null,
    item.is_comic === false ? el("span", { class: "tag warn", text: "non-comic" }) : null,
    item.cluster !== null && item.cluster !== undefined ? el("span", { class: "tag", text: `cluster ${item.cluster}` }) : null);
  const more = el("button", { type: "button", class: "small more", "data-testid": "more-like-this",
    text: "More like this",
    onclick: () => likeThis(item, hitSlot) });
  const details = el("button", { type: "button", class: "small", text: "Details",
    onclick: () => showDetails(item, hitSlot) });
  return el("article", { class: "card", "data-testid": "result", "data-page-id": item.page_id,
                         "data-panel-id": item.panel_id || "" },
    figure,
    el("div", { class: "meta" },
      el("div", { class: "top" },
        el("span", { class: "score", title: "similarity", text: item.score === null ? "" : item.score.toFixed(3) }),
        el("span", { class: "pid", title: item.page_id, text: item.panel_id || item.page_id })),
      el("div", { class: "where", text: `${item.source} / ${item.collection} · p.${item.page_index + 1}` }),
      tags,
      snippet ? el("div", { class: "snippet", text: snippet }) : null,
      el("div", { class: "actions" }, more, details)));
}

function likeThis(item, hitSlot) {
  const query = hitSlot !== null && hitSlot !== undefined
    ? { kind: "panel_id", value: `${item.page_id}:${hitSlot}` }
    : { kind: "page_id", value: item.page_id };
  $("#q-page").value = item.page_id;
  selectTab("page");
  run(query);
  window.scrollTo({ top: 0, behavior: "smooth" });
}

function showDetails(item, hitSlot) {
  const panels = el("ol", {}, item.panels.map((p) =>
    el("li", { class: p.slot === hitSlot ? "hit" : "" },
       p.text ? p.text : el("span", { class: "where", text: "(no text)" }))));
  const links = el("div", { class: "links" },
    el("a", { href: item.links.dagster_pages, target: "_blank", rel: "noopener", "data-testid": "dagster-link",
              text: "Pages asset in Dagster" }),
    el("a", { href: item.links.dagster_embeddings, target: "_blank", rel: "noopener", text: "Embeddings asset" }),
    item.links.mlflow_model ? el("a", { href: item.links.mlflow_model, target: "_blank", rel: "noopener",
                                        "data-testid": "mlflow-link", text: "Model in MLflow" }) : null);
  const facts = [["source", item.source], ["collection", item.collection], ["book", item.book_id],
    ["page", String(item.page_index + 1)], ["size", `${item.width}×${item.height}`],
    ["type", item.page_type || "unknown"], ["comic", item.is_comic ? "yes" : "no"],
    ["cluster", item.cluster ?? "—"], ["score", item.score === null ? "—" : item.score.toFixed(4)]];
  const filterBook = el("button", { type: "button", class: "small", text: "Only this book",
    onclick: () => { $("#f-book").value = item.book_id; closeDetails(); rerun(); } });
  $("#details-body").replaceChildren(
    el("h3", { text: item.page_id }),
    links,
    pageFigure(item.width, item.height, item.image_url, item.panels, hitSlot),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "small", text: "More like this page",
        onclick: () => { closeDetails(); likeThis(item, null); } }),
      filterBook),
    el("dl", {}, facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })])),
    el("h4", { text: "Panels in reading order" }), panels);
  $("#details").hidden = false;
}

function closeDetails() { $("#details").hidden = true; }

function rerun() { if (state.last) run(state.last); }

function selectTab(name) {
  state.tab = name;
  for (const tab of $$(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const pane of $$(".pane")) pane.hidden = pane.dataset.pane !== name;
}

function submit(event) {
  if (event) event.preventDefault();
  if (state.tab === "text") {
    const value = $("#q-text").value.trim();
    if (!value) { setStatus("Type something to search for.", true); return; }
    run({ kind: $('input[name="textkind"]:checked').value, value });
  } else if (state.tab === "image") {
    if (!state.file) { setStatus("Choose an image first.", true); return; }
    if (state.file.size > INFO.max_upload_bytes) {
      setStatus(`The image is larger than ${Math.round(INFO.max_upload_bytes / 1048576)} MB.`, true);
      return;
    }
    run({ kind: "image", value: state.file.name, file: state.file });
  } else {
    const value = $("#q-page").value.trim();
    if (!value) { setStatus("Enter or pick a page id.", true); return; }
    run({ kind: value.includes(":") ? "panel_id" : "page_id", value });
  }
}

function option(value, label) { return el("option", { value, text: label }); }

async function loadFacets() {
  const facets = await call("/api/facets");
  const fill = (select, items, label) => {
    const keep = select.value;
    select.replaceChildren(option("", "any"), ...items.map((i) => option(String(i.value), label(i))));
    select.value = keep;
  };
  fill($("#f-source"), facets.source, (i) => `${i.value} (${i.count})`);
  const collections = () => {
    const source = $("#f-source").value;
    fill($("#f-collection"), facets.collection.filter((c) => !source || c.source === source),
         (i) => `${i.value} (${i.count})`);
  };
  collections();
  $("#f-source").addEventListener("change", collections);
  fill($("#f-page-type"), facets.page_type, (i) => `${i.value} (${i.count})`);
  fill($("#f-cluster"), facets.cluster, (i) => `cluster ${i.value} (${i.count})`);
}

async function loadBooks() {
  const collection = $("#f-collection").value;
  const data = await call(`/api/books?${new URLSearchParams(collection ? { collection } : {})}`);
  $("#book-list").replaceChildren(...data.books.map((b) => option(b.book_id, `${b.collection} · ${b.pages} pages`)));
}

let pageTimer = null;
function suggestPages() {
  clearTimeout(pageTimer);
  pageTimer = setTimeout(async () => {
    const prefix = $("#q-page").value.trim();
    const data = await call(`/api/pages?${new URLSearchParams({ prefix, limit: 20 })}`);
    $("#page-list").replaceChildren(...data.page_ids.map((id) => option(id, id)));
  }, 150);
}

function setFile(file) {
  state.file = file || null;
  $("#drop-label").textContent = file ? `${file.name} · ${(file.size / 1024).toFixed(0)} KB` :
    "Drop a page or panel image here, or click to choose";
  if (file) submit();
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const input of $$("[data-filter]")) {
    if (params.has(input.dataset.filter)) input.value = params.get(input.dataset.filter);
  }
  if (params.get("mode") === "panel") $('input[name="mode"][value="panel"]').checked = true;
  if (params.get("k")) $("#k").value = params.get("k");
  for (const kind of ["text", "keyword", "page_id", "panel_id"]) {
    const value = params.get(kind);
    if (!value) continue;
    if (kind === "text" || kind === "keyword") {
      $("#q-text").value = value;
      $(`input[name="textkind"][value="${kind}"]`).checked = true;
      selectTab("text");
    } else {
      $("#q-page").value = value;
      selectTab("page");
    }
    run({ kind, value });
    return;
  }
}

function init() {
  $("#search-form").addEventListener("submit", submit);
  for (const tab of $$(".tab")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  for (const input of $$("[data-filter]")) input.addEventListener("change", rerun);
  for (const input of $$('input[name="mode"]')) input.addEventListener("change", rerun);
  $("#k").addEventListener("change", rerun);
  $("#f-collection").addEventListener("change", loadBooks);
  $("#clear-filters").addEventListener("click", () => {
    for (const input of $$("[data-filter]")) input.value = "";
    rerun();
  });
  $("#show-panels").addEventListener("change", (e) => document.body.classList.toggle("hide-panels", !e.target.checked));
  $("#q-page").addEventListener("input", suggestPages);
  $("#random-page").addEventListener("click", async () => {
    const data = await call("/api/pages/random");
    $("#q-page").value = data.page_id;
    run({ kind: "page_id", value: data.page_id });
  });
  $("#q-file").addEventListener("change", (e) => setFile(e.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]);
  });
  $("#close-details").addEventListener("click", closeDetails);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetails(); });
  loadFacets().then(loadBooks).then(restoreFromUrl).catch((e) => setStatus(e.message, true));
}

init();
