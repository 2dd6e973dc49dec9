// The demo page: loads the served models, tags the text with each chosen model and shows
// the entities highlighted by type. Everything is built with DOM nodes and textContent,
// so text from the user or the model is never interpreted as HTML.
"use strict";

// Light colours with dark text (contrast above 7:1) for MultiNERD's 15 types; other types
// take colours from the spare list in the order they are first seen.
const TYPE_COLOURS = {
  PER: "#ffd6a5", ORG: "#a0c4ff", LOC: "#b9fbc0", ANIM: "#fdffb6", BIO: "#d0f4de",
  CEL: "#e4c1f9", DIS: "#ffadad", EVE: "#ffc6ff", FOOD: "#fde4cf", INST: "#cfe1ff",
  MEDIA: "#bde0fe", MYTH: "#e2ece9", PLANT: "#caffbf", TIME: "#f1c0e8", VEHI: "#dee2e6",
};
const SPARE_COLOURS = ["#ffe5ec", "#e9f5db", "#fff1b8", "#d7e3fc", "#f0d9ff", "#ddfff7", "#fbe0c3"];
const TYPE_NAMES = {
  PER: "person", ORG: "organisation", LOC: "location", ANIM: "animal", BIO: "biological entity",
  CEL: "celestial body", DIS: "disease", EVE: "event", FOOD: "food", INST: "instrument",
  MEDIA: "media", MYTH: "mythological entity", PLANT: "plant", TIME: "time", VEHI: "vehicle",
};
const spareAssigned = {};

function colourOf(type) {
  if (TYPE_COLOURS[type]) return TYPE_COLOURS[type];
  if (!spareAssigned[type]) {
    const used = Object.keys(spareAssigned).length;
    spareAssigned[type] = SPARE_COLOURS[used % SPARE_COLOURS.length];
  }
  return spareAssigned[type];
}

const el = (tag, attrs = {}, text) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
};

let models = [];

function setStatus(message, isError = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

// The API key, when the server wants one: asked for on the page, kept for this tab only.
const KEY_STORE = "multinerd-api-key";

function withKey(options = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return options;
  return { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${key}` } };
}

async function fetchJson(url, options) {
  const response = await fetch(url, withKey(options));
  if (response.status === 401) askForKey("The server needs a valid API key.");
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
      : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function selectedModels() {
  return Array.from(document.querySelectorAll("#model-options input:checked")).map((input) => input.value);
}

function renderModelOptions() {
  const box = document.getElementById("model-options");
  box.replaceChildren();
  models.forEach((model, index) => {
    const label = el("label", { class: "model-option" });
    const input = el("input", { type: "checkbox", name: "model", value: model.name, id: `model-${index}` });
    // Two or three models are meant to be compared: all start selected. More: only the default.
    input.checked = models.length <= 3 || model.default;
    const text = el("span", {}, model.name);
    text.append(" ", el("small", {}, `(${model.types.length} types)`));
    label.append(input, text);
    box.append(label);
  });
}

function renderLegend(types) {
  const card = document.getElementById("legend-card");
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  for (const type of types) {
    const item = el("li", { "data-type": type });
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = colourOf(type);
    const name = TYPE_NAMES[type] ? `${type} (${TYPE_NAMES[type]})` : type;
    item.append(swatch, el("span", {}, name));
    legend.append(item);
  }
  card.hidden = types.length === 0;
}

function annotatedText(text, entities) {
  const container = el("p", { class: "annotated" });
  let cursor = 0;
  for (const entity of [...entities].sort((a, b) => a.start - b.start)) {
    if (entity.start < cursor) continue;
    container.append(document.createTextNode(text.slice(cursor, entity.start)));
    const mark = el("mark", {
      class: "entity", "data-type": entity.type,
      title: `${entity.type}${TYPE_NAMES[entity.type] ? " (" + TYPE_NAMES[entity.type] + ")" : ""}, score ${entity.score.toFixed(2)}`,
    });
    mark.style.background = colourOf(entity.type);
    mark.append(el("span", { class: "entity-text" }, text.slice(entity.start, entity.end)));
    mark.append(el("span", { class: "entity-type", "aria-label": `type ${entity.type}` }, entity.type));
    container.append(mark);
    cursor = entity.end;
  }
  container.append(document.createTextNode(text.slice(cursor)));
  return container;
}

function entityTable(entities) {
  const table = el("table", { class: "entity-table" });
  const head = el("tr");
  for (const name of ["Entity", "Type", "Characters", "Score"]) head.append(el("th", { scope: "col" }, name));
  const thead = el("thead");
  thead.append(head);
  table.append(thead);
  const body = el("tbody");
  for (const entity of entities) {
    const row = el("tr");
    row.append(el("td", {}, entity.text), el("td", {}, entity.type),
      el("td", { class: "num" }, `${entity.start}–${entity.end}`),
      el("td", { class: "num" }, entity.score.toFixed(2)));
    body.append(row);
  }
  table.append(body);
  return table;
}

function renderResult(name, text, response) {
  const card = el("article", { class: "card result", "data-model": name });
  card.append(el("h2", {}, `Model ${name}`));
  const n = response.entities.length;
  card.append(el("p", { class: "meta" }, `${n} ${n === 1 ? "entity" : "entities"} · ${response.types.length} types`));
  card.append(annotatedText(text, response.entities));
  if (n) card.append(entityTable(response.entities));
  else card.append(el("p", { class: "empty" }, "No entities found."));
  return card;
}

async function tag(event) {
  event.preventDefault();
  const text = document.getElementById("input-text").value;
  const chosen = selectedModels();
  const results = document.getElementById("results");
  if (!text.trim()) { setStatus("Type or paste some text first.", true); return; }
  if (!chosen.length) { setStatus("Choose at least one model.", true); return; }
  const button = document.getElementById("tag-button");
  button.disabled = true;
  setStatus(`Tagging with ${chosen.join(" and ")}…`);
  try {
    const responses = await Promise.all(chosen.map((model) => fetchJson("/predict", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text, model }),
    })));
    results.replaceChildren(...responses.map((response, i) => renderResult(chosen[i], text, response)));
    const types = [];
    for (const response of responses) for (const type of response.types) if (!types.includes(type)) types.push(type);
    renderLegend(types);
    const total = responses.map((r, i) => `${chosen[i]}: ${r.entities.length}`).join(", ");
    setStatus(`Done. Entities found by model ${total}.`);
  } catch (error) {
    setStatus(`Could not tag the text: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function askForKey(message) {
  document.getElementById("key-form").hidden = false;
  document.getElementById("api-key").focus();
  setStatus(message, true);
}

async function loadModels() {
  try {
    models = (await fetchJson("/models")).models;
    renderModelOptions();
    setStatus(`${models.length} ${models.length === 1 ? "model" : "models"} loaded.`);
    return true;
  } catch (error) {
    setStatus(`Could not load the models: ${error.message}`, true);
    return false;
  }
}

async function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORE, document.getElementById("api-key").value.trim());
  if (await loadModels()) document.getElementById("key-form").hidden = true;
}

async function start() {
  document.getElementById("key-form").addEventListener("submit", useKey);
  const form = document.getElementById("predict-form");
  form.addEventListener("submit", tag);
  document.getElementById("input-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  const health = await fetchJson("/health");
  if (health.auth && !sessionStorage.getItem(KEY_STORE)) {
    askForKey("This server needs an API key: enter it above.");
    return;
  }
  await loadModels();
}

start();
