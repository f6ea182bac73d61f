// The residents' app: views, forms and the wiring of storage, sync and the network.
import messages from "/observe/messages.js";
import * as api from "./api.js";
import * as db from "./db.js";
import { field, h, uid } from "./dom.js";
import { shrink } from "./photos.js";
import { onChange, sync } from "./sync.js";
import {
  fold, frenchDate, frenchNumber, fromLocalInput, searchSpecies, speciesName, toLocalInput,
} from "./text.js";
import { zoneAt } from "./zones.js";
import { pickOnMap } from "./map.js";

const main = document.getElementById("contenu");
const network = document.getElementById("reseau");
const tabs = document.querySelector(".tabs");

let species = [];
let zones = null;
let notice = null; // { text, kind } shown once at the top of the next view
let syncing = false;

// --- messages --------------------------------------------------------------------------------

const FIELD_FALLBACK = {
  missing: "Ce champ est obligatoire.",
  greater_than_equal: "Cette valeur est trop petite.",
  less_than_equal: "Cette valeur est trop grande.",
  greater_than: "Cette valeur est trop petite.",
  less_than: "Cette valeur est trop grande.",
  string_too_long: "Ce texte est trop long.",
  int_type: "Indiquez un nombre entier.",
  int_from_float: "Indiquez un nombre entier.",
};

export function message(code) {
  return messages[code] || FIELD_FALLBACK[code] || "Cette valeur n'est pas valable.";
}

// Errors of a record by field: the server's names (relative to the item) as the form's fields.
function errorsByField(errors, aliases = {}) {
  const out = {};
  for (const error of errors || []) {
    const name = String(error.field || "").replace(/^(body\.)?/, "");
    const key = aliases[name] || name.split(".")[0] || "_";
    (out[key] = out[key] || []).push(message(error.code));
  }
  return out;
}

// --- status ----------------------------------------------------------------------------------

const STATUS = {
  queued: ["en attente d'envoi", "waiting"],
  invalid: ["à corriger", "fix"],
  pending: ["envoyé", "sent"],
  validated: ["validé", "validated"],
  rejected: ["refusé", "rejected"],
  needs_info: ["information demandée", "info"],
};

function statusOf(record) {
  if (record.state === "queued" || record.state === "invalid") return STATUS[record.state];
  return STATUS[record.status] || STATUS.pending;
}

function badge(record) {
  const [label, kind] = statusOf(record);
  return h("span", { class: `badge ${kind}` }, label);
}

// --- network and sync ------------------------------------------------------------------------

async function pendingCount() {
  const stores = await Promise.all(["observations", "visits", "sites"].map((s) => db.all(s)));
  return stores.flat().filter((r) => r.state === "queued" || r.state === "invalid").length;
}

async function showNetwork() {
  const waiting = await pendingCount();
  const state = navigator.onLine ? "En ligne" : "Hors ligne";
  const what = waiting
    ? ` · ${frenchNumber(waiting)} en attente d'envoi`
    : "";
  network.textContent = syncing ? `${state} · envoi en cours…` : state + what;
  network.dataset.online = navigator.onLine ? "oui" : "non";
}

function plural(n, one, many) {
  return `${frenchNumber(n)} ${n > 1 ? many : one}`;
}

function reportText(report) {
  if (report.error instanceof api.Offline) {
    return ["Pas de réseau : vos données restent sur le téléphone et partiront plus tard.", "warn"];
  }
  if (report.error instanceof api.SignedOut) {
    return [message(report.error.code), "warn"];
  }
  if (report.error instanceof api.Problem) {
    return [message(report.error.code), "warn"];
  }
  if (report.error) return [message("internal"), "warn"];
  const parts = [];
  if (report.sent) parts.push(`${plural(report.sent, "envoi réussi", "envois réussis")}`);
  if (report.photos) parts.push(plural(report.photos, "photo envoyée", "photos envoyées"));
  if (report.rejected) parts.push(plural(report.rejected, "élément à corriger", "éléments à corriger"));
  if (!parts.length) return ["Tout est à jour.", "ok"];
  return [`Synchronisation terminée : ${parts.join(", ")}.`, report.rejected ? "warn" : "ok"];
}

async function syncNow() {
  if (!(await api.session())) {
    notice = { text: "Connectez-vous pour envoyer vos observations.", kind: "warn" };
    await go("#/compte");
    return;
  }
  const report = await sync();
  const [text, kind] = reportText(report);
  notice = { text, kind };
  await route();
}

onChange(async (detail) => {
  syncing = detail.running;
  await showNetwork();
});

api.onSignOut((code) => {
  notice = { text: message(code), kind: "warn" };
  go("#/compte");
});

async function autoSync() {
  if (navigator.onLine && (await api.session())) {
    const report = await sync();
    if (!report.error || report.error instanceof api.Offline) {
      await route({ keepFocus: true, passiveOnly: true });
    }
  }
}

// --- reference data ----------------------------------------------------------------------------

async function loadReference() {
  species = (await db.get("reference", "species")) || [];
  zones = (await db.get("reference", "zones")) || null;
  try {
    const fresh = [];
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: "500" });
      if (cursor) query.set("cursor", cursor);
      const { data } = await api.call(`/species?${query}`, { auth: false });
      fresh.push(...data.items);
      cursor = data.next_cursor;
    } while (cursor);
    species = fresh;
    await db.put("reference", fresh, "species");
    const { data } = await api.call("/zones", { auth: false });
    zones = data;
    await db.put("reference", data, "zones");
  } catch {
    // Offline: the copy kept on the phone serves.
  }
}

function speciesById(id) {
  return species.find((s) => s.id === id) || null;
}

// --- views -------------------------------------------------------------------------------------

function page(title, ...content) {
  const heading = h("h1", { tabindex: "-1" }, title);
  // A notice stays on the view it was first shown on (redrawn by a sync), until another view.
  if (notice && notice.view !== undefined && notice.view !== location.hash) notice = null;
  if (notice && notice.view === undefined) notice.view = location.hash;
  const shown = notice
    ? h("p", { class: `notice ${notice.kind}`, role: notice.kind === "warn" ? "alert" : "status" }, notice.text)
    : null;
  main.replaceChildren(...[heading, shown, ...content].filter((x) => x !== null && x !== undefined));
  return heading;
}

function currentTab(name) {
  for (const link of tabs.querySelectorAll("a")) {
    if (link.dataset.tab === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function viewList() {
  currentTab("observations");
  const records = (await db.all("observations")).sort((a, b) =>
    String(b.observed_at).localeCompare(String(a.observed_at)),
  );
  const signedIn = await api.session();
  const button = h(
    "button",
    { type: "button", class: "primary", onclick: syncNow, disabled: syncing },
    "Envoyer et mettre à jour",
  );
  const items = [];
  for (const r of records) {
    const photos = await db.photosOf(r.client_id);
    const waitingPhotos = photos.filter((p) => !p.uploaded && !p.error).length;
    items.push(
      h(
        "li",
        { class: "card" },
        h(
          "a",
          { href: `#/observation/${r.client_id}`, class: "card-link" },
          h("span", { class: "card-title" }, speciesName(speciesById(r.species_id))),
          h("span", { class: "card-meta" }, `${frenchDate(r.observed_at)} · ${countText(r)}`),
        ),
        badge(r),
        photos.length
          ? h("p", { class: "card-meta" }, plural(photos.length, "photo", "photos"),
              waitingPhotos ? ` (${frenchNumber(waitingPhotos)} en attente d'envoi)` : "")
          : null,
        r.state === "invalid"
          ? h("p", { class: "card-error" }, Object.values(errorsByField(r.errors)).flat().join(" "))
          : null,
        r.comment ? h("p", { class: "comment" }, `Commentaire du CPIE : ${r.comment}`) : null,
      ),
    );
  }
  return page(
    "Mes observations",
    signedIn ? null : h("p", { class: "notice warn" }, "Vous n'êtes pas connecté·e : vos observations restent sur le téléphone. ",
      h("a", { href: "#/compte" }, "Se connecter")),
    h("div", { class: "actions" }, h("a", { href: "#/nouvelle", class: "button primary" }, "Noter une observation"), button),
    records.length
      ? h("ul", { class: "cards", "aria-label": "Observations" }, items)
      : h("p", { class: "empty" }, "Aucune observation pour l'instant."),
  );
}

function countText(r) {
  const unit = r.count_unit === "nests" ? ["nid", "nids"] : ["individu", "individus"];
  return plural(r.count, unit[0], unit[1]);
}

// --- the sighting form -------------------------------------------------------------------------

function positionText(lat, lon, accuracy) {
  const where = `${frenchNumber(lat, 5)}, ${frenchNumber(lon, 5)}`;
  const acc = accuracy ? ` (précision ± ${frenchNumber(Math.round(accuracy))} m)` : "";
  const zone = zoneAt(zones, lat, lon);
  return `${where}${acc}${zone ? ` · ${zone.name}` : ""}`;
}

function locate(onFix, status) {
  if (!navigator.geolocation) {
    status.textContent = "Ce téléphone ne donne pas sa position : saisissez-la.";
    return;
  }
  status.textContent = "Recherche de la position…";
  navigator.geolocation.getCurrentPosition(
    (pos) => onFix(pos.coords),
    (err) => {
      status.textContent =
        err.code === 1
          ? "La position n'est pas autorisée : autorisez-la dans le navigateur, ou saisissez-la."
          : "Position introuvable pour l'instant : réessayez à découvert, ou saisissez-la.";
    },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 },
  );
}

function positionFields(values, errors) {
  const lat = h("input", { type: "text", inputmode: "decimal", autocomplete: "off", value: values.latitude ?? "" });
  const lon = h("input", { type: "text", inputmode: "decimal", autocomplete: "off", value: values.longitude ?? "" });
  const acc = { value: values.accuracy_m ?? null };
  const status = h("p", { class: "position", role: "status", "aria-live": "polite" });
  const show = () => {
    const la = parseNumber(lat.value);
    const lo = parseNumber(lon.value);
    status.textContent = la !== null && lo !== null ? `Position : ${positionText(la, lo, acc.value)}` : "";
  };
  const button = h("button", {
    type: "button",
    class: "secondary",
    onclick: () =>
      locate((coords) => {
        lat.value = coords.latitude.toFixed(6);
        lon.value = coords.longitude.toFixed(6);
        acc.value = Math.round(coords.accuracy * 10) / 10;
        show();
      }, status),
  }, "Utiliser ma position");
  const mapBox = h("div", { class: "map", hidden: true, role: "application", "aria-label": "Carte : touchez l'endroit de l'observation" });
  let map = null;
  const mapButton = h("button", {
    type: "button",
    class: "secondary",
    "aria-expanded": "false",
    onclick: async () => {
      mapBox.hidden = !mapBox.hidden;
      mapButton.setAttribute("aria-expanded", String(!mapBox.hidden));
      if (!mapBox.hidden && !map) {
        const la = parseNumber(lat.value);
        const lo = parseNumber(lon.value);
        map = await pickOnMap(mapBox, zones, la !== null && lo !== null ? { latitude: la, longitude: lo } : null, (la2, lo2) => {
          lat.value = la2.toFixed(6);
          lon.value = lo2.toFixed(6);
          acc.value = null;
          show();
        });
      }
    },
  }, "Choisir sur la carte");
  lat.addEventListener("input", () => { acc.value = null; show(); });
  lon.addEventListener("input", () => { acc.value = null; show(); });
  show();
  const fieldset = h(
    "fieldset",
    {},
    h("legend", {}, "Lieu"),
    h("div", { class: "pair" }, button, mapButton),
    mapBox,
    status,
    h("div", { class: "pair" },
      field({ id: uid("latitude"), label: "Latitude", input: lat, error: (errors.latitude || []).join(" ") }),
      field({ id: uid("longitude"), label: "Longitude", input: lon, error: (errors.longitude || []).join(" ") })),
  );
  return {
    fieldset,
    read: () => ({ latitude: parseNumber(lat.value), longitude: parseNumber(lon.value), accuracy_m: acc.value }),
    locateIfAllowed: async () => {
      if (lat.value || !navigator.permissions) return;
      try {
        const state = await navigator.permissions.query({ name: "geolocation" });
        if (state.state === "granted") button.click();
      } catch { /* no permissions API: the button is there */ }
    },
  };
}

function parseNumber(text) {
  const value = String(text ?? "").trim().replace(",", ".");
  if (value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function speciesPicker(selectedId, error, { label = "Espèce", groups = null } = {}) {
  const id = uid("espece");
  const pool = () => (groups ? species.filter((s) => groups.includes(s.group)) : species);
  let selected = speciesById(selectedId);
  const input = h("input", {
    type: "search",
    autocomplete: "off",
    placeholder: "ex. hirondelle",
    "aria-controls": `${id}-choix`,
    value: selected ? speciesName(selected) : "",
  });
  const list = h("ul", { id: `${id}-choix`, class: "choices", "aria-label": "Espèces trouvées" });
  const found = h("p", { class: "visually-hidden", role: "status" });
  const chosen = h("p", { class: "chosen", role: "status" }, selected ? `Espèce choisie : ${speciesName(selected)}` : "");
  const choose = (sp) => {
    selected = sp;
    input.value = speciesName(sp);
    chosen.textContent = `Espèce choisie : ${speciesName(sp)} (${sp.scientific_name})`;
    list.replaceChildren();
    found.textContent = "";
  };
  input.addEventListener("input", () => {
    selected = null;
    chosen.textContent = "";
    const matches = searchSpecies(pool(), input.value);
    found.textContent = input.value ? plural(matches.length, "espèce trouvée", "espèces trouvées") : "";
    list.replaceChildren(
      ...matches.map((sp) =>
        h("li", {},
          h("button", { type: "button", onclick: () => choose(sp) },
            speciesName(sp), h("span", { class: "latin" }, ` ${sp.scientific_name}`))),
      ),
    );
    if (input.value && !matches.length) {
      list.replaceChildren(h("li", { class: "none" }, species.length ? "Aucune espèce trouvée." : "La liste des espèces n'est pas encore chargée : connectez-vous au réseau une fois."));
    }
  });
  const wrapper = field({
    id,
    label,
    input,
    hint: "Tapez le début du nom, sans souci des accents, puis choisissez dans la liste.",
    error,
  });
  wrapper.append(found, list, chosen);
  return { element: wrapper, read: () => (selected ? selected.id : null) };
}

async function viewObservationForm(clientId) {
  currentTab("nouvelle");
  const record = clientId ? await db.get("observations", clientId) : null;
  if (clientId && !record) return page("Observation introuvable", h("p", {}, "Elle a peut-être été supprimée."));
  if (record && record.state !== "queued" && record.state !== "invalid") return viewObservation(record);
  const values = record || { count: 1, count_unit: "individuals" };
  const errors = errorsByField(record && record.errors, { cd_nom: "species_id" });
  const picker = speciesPicker(values.species_id, (errors.species_id || []).join(" "));
  const count = h("input", { type: "number", min: "0", max: "100000", step: "1", inputmode: "numeric", value: values.count ?? 1 });
  const unit = h("select", {},
    h("option", { value: "individuals", selected: values.count_unit !== "nests" }, "individus"),
    h("option", { value: "nests", selected: values.count_unit === "nests" }, "nids"));
  const when = h("input", {
    type: "datetime-local",
    value: toLocalInput(values.observed_at ? new Date(values.observed_at) : new Date()),
  });
  const notes = h("textarea", { rows: "3", maxlength: "2000" }, values.notes || "");
  const position = positionFields(values, errors);
  const existing = record ? await db.photosOf(record.client_id) : [];
  const added = [];
  const thumbs = h("ul", { class: "thumbs", "aria-label": "Photos" });
  const photoStatus = h("p", { role: "status", class: "hint" });
  const showThumbs = () => {
    thumbs.replaceChildren(
      ...[...existing, ...added].map((p, i) =>
        h("li", {}, h("img", { src: URL.createObjectURL(p.blob), alt: `Photo ${i + 1}`, width: "96", height: "96" }))),
    );
  };
  const onFiles = async (event) => {
    const files = [...event.target.files];
    photoStatus.textContent = "Préparation des photos…";
    for (const file of files) {
      if (existing.length + added.length >= 5) break;
      added.push(await shrink(file));
    }
    event.target.value = "";
    photoStatus.textContent = `${plural(existing.length + added.length, "photo jointe", "photos jointes")} (5 au plus).`;
    showThumbs();
  };
  const camera = h("input", { type: "file", accept: "image/*", capture: "environment", onchange: onFiles });
  const gallery = h("input", { type: "file", accept: "image/*", multiple: true, onchange: onFiles });
  showThumbs();
  const general = errors._ || [];
  const known = new Set(["species_id", "observed_at", "latitude", "longitude", "count", "count_unit", "notes", "_"]);
  for (const [name, list] of Object.entries(errors)) if (!known.has(name)) general.push(...list);

  const form = h(
    "form",
    { novalidate: true, class: "record" },
    general.length ? h("p", { class: "notice warn", role: "alert" }, general.join(" ")) : null,
    picker.element,
    h("div", { class: "pair" },
      field({ id: uid("nombre"), label: "Nombre", input: count, error: (errors.count || []).join(" ") }),
      field({ id: uid("unite"), label: "Unité", input: unit, error: (errors.count_unit || []).join(" ") })),
    field({ id: uid("date"), label: "Date et heure", input: when, hint: "Maintenant, ou modifiez-les.", error: (errors.observed_at || []).join(" ") }),
    position.fieldset,
    h("fieldset", {},
      h("legend", {}, "Photos"),
      h("div", { class: "files" }, fileButton(camera, "Prendre une photo"), fileButton(gallery, "Choisir dans la galerie")),
      photoStatus,
      thumbs),
    field({ id: uid("notes"), label: "Remarques", input: notes, hint: "Facultatif : le lieu précis, le comportement…", error: (errors.notes || []).join(" ") }),
    h("div", { class: "actions sticky" },
      h("button", { type: "submit", class: "primary" }, "Enregistrer"),
      record ? h("button", { type: "button", class: "danger", onclick: () => discard(record) }, "Supprimer") : null),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const where = position.read();
    const problems = [];
    const speciesId = picker.read();
    const n = parseNumber(count.value);
    const observedAt = fromLocalInput(when.value);
    if (!speciesId) problems.push(["species_id", "observation.species_required"]);
    if (n === null || !Number.isInteger(n) || n < 0 || n > 100000) problems.push(["count", "int_type"]);
    if (!observedAt) problems.push(["observed_at", "datetime_type"]);
    if (where.latitude === null || where.latitude < -90 || where.latitude > 90) problems.push(["latitude", "missing"]);
    if (where.longitude === null || where.longitude < -180 || where.longitude > 180) problems.push(["longitude", "missing"]);
    const saved = {
      client_id: record ? record.client_id : crypto.randomUUID(),
      species_id: speciesId,
      observed_at: observedAt,
      latitude: where.latitude,
      longitude: where.longitude,
      accuracy_m: where.accuracy_m,
      count: n,
      count_unit: unit.value,
      notes: notes.value.trim() || null,
      state: problems.length ? "invalid" : "queued",
      errors: problems.map(([f, code]) => ({ field: f, code })),
      recorded_at: record ? record.recorded_at : new Date().toISOString(),
    };
    if (problems.length) {
      // Nothing is lost: what was typed is kept, to be completed.
      if (saved.observed_at === null) saved.observed_at = new Date().toISOString();
      notice = { text: "Il manque des informations : voyez les champs signalés.", kind: "warn" };
    } else {
      notice = { text: "Observation enregistrée sur le téléphone.", kind: "ok" };
    }
    await db.put("observations", saved);
    for (const photo of added) {
      await db.put("photos", {
        id: crypto.randomUUID(),
        observation_client_id: saved.client_id,
        blob: photo.blob,
        name: photo.name,
        width: photo.width,
        height: photo.height,
        uploaded: false,
      });
    }
    added.length = 0;
    if (problems.length) {
      await go(`#/observation/${saved.client_id}`);
      return;
    }
    await go("#/");
    autoSync();
  });
  const heading = page(record ? "Corriger l'observation" : "Noter une observation", form);
  position.locateIfAllowed();
  return heading;
}

// A file input that looks like the app's buttons, in French whatever the browser's language.
function fileButton(input, label) {
  const id = uid("fichier");
  input.id = id;
  input.className = "file-input";
  return h("div", { class: "file" }, input, h("label", { for: id, class: "button secondary" }, label));
}

async function discard(record) {
  if (!confirm("Supprimer cette observation du téléphone ?")) return;
  await db.remove("observations", record.client_id);
  for (const photo of await db.photosOf(record.client_id)) await db.remove("photos", photo.id);
  notice = { text: "Observation supprimée.", kind: "ok" };
  go("#/");
}

async function viewObservation(record) {
  const photos = await db.photosOf(record.client_id);
  // While the CPIE has not decided (or asks for more), a photo can still be added: it goes
  // at the next sync, after its observation.
  let addPhoto = null;
  if ((record.status === "pending" || record.status === "needs_info") && photos.length < 5) {
    const onFiles = async (event) => {
      for (const file of [...event.target.files].slice(0, 5 - photos.length)) {
        const photo = await shrink(file);
        await db.put("photos", {
          id: crypto.randomUUID(),
          observation_client_id: record.client_id,
          blob: photo.blob,
          name: photo.name,
          width: photo.width,
          height: photo.height,
          uploaded: false,
        });
      }
      notice = { text: "Photo enregistrée sur le téléphone.", kind: "ok" };
      await route();
      autoSync();
    };
    addPhoto = h("div", { class: "files" },
      fileButton(h("input", { type: "file", accept: "image/*", capture: "environment", onchange: onFiles }), "Prendre une photo"),
      fileButton(h("input", { type: "file", accept: "image/*", multiple: true, onchange: onFiles }), "Ajouter depuis la galerie"));
  }
  return page(
    speciesName(speciesById(record.species_id)),
    h("p", {}, badge(record)),
    record.comment ? h("p", { class: "comment" }, `Commentaire du CPIE : ${record.comment}`) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Date"), h("dd", {}, frenchDate(record.observed_at)),
      h("dt", {}, "Nombre"), h("dd", {}, countText(record)),
      h("dt", {}, "Lieu"), h("dd", {}, positionText(record.latitude, record.longitude, record.accuracy_m)),
      record.notes ? [h("dt", {}, "Remarques"), h("dd", {}, record.notes)] : null,
      photos.length ? [h("dt", {}, "Photos"), h("dd", {},
        plural(photos.length, "photo", "photos"),
        photos.some((p) => !p.uploaded && !p.error) ? " (en attente d'envoi)" : "",
        photos.filter((p) => p.error).map((p) => h("span", { class: "error" }, ` ${message(p.error)}`)))] : null),
    addPhoto,
    h("p", {}, h("a", { href: "#/" }, "Retour à mes observations")),
  );
}

// --- sites and visits ------------------------------------------------------------------------

const KINDS = { nest_site: "Site de nidification", garden: "Jardin", transect: "Transect" };

async function viewSites() {
  currentTab("sites");
  const sites = (await db.all("sites")).sort((a, b) => a.name.localeCompare(b.name, "fr"));
  const visits = await db.all("visits");
  return page(
    "Mes sites de suivi",
    h("p", {}, "Les lieux que vous suivez d'une année à l'autre : façades à nids, jardin."),
    h("div", { class: "actions" }, h("a", { href: "#/site-nouveau", class: "button primary" }, "Ajouter un site")),
    sites.length
      ? h("ul", { class: "cards", "aria-label": "Sites" },
          sites.map((s) => {
            const n = visits.filter((v) => v.site_client_id === s.client_id).length;
            return h("li", { class: "card" },
              h("a", { href: `#/site/${s.client_id}`, class: "card-link" },
                h("span", { class: "card-title" }, s.name),
                h("span", { class: "card-meta" }, `${KINDS[s.kind] || s.kind} · ${plural(n, "visite", "visites")}`)),
              s.state === "queued" || s.state === "invalid" ? badge(s) : null,
              s.state === "invalid" ? h("p", { class: "card-error" }, Object.values(errorsByField(s.errors)).flat().join(" ")) : null);
          }))
      : h("p", { class: "empty" }, "Aucun site pour l'instant."),
  );
}

async function viewSiteForm() {
  currentTab("sites");
  const kind = h("select", {},
    h("option", { value: "nest_site" }, KINDS.nest_site),
    h("option", { value: "garden" }, KINDS.garden));
  const name = h("input", { type: "text", maxlength: "200", autocomplete: "off" });
  const position = positionFields({}, {});
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { novalidate: true, class: "record" },
    field({ id: uid("type"), label: "Type de site", input: kind }),
    field({ id: uid("nom"), label: "Nom du site", input: name, hint: "ex. Façades de la rue Jean Jaurès" }),
    position.fieldset,
    error,
    h("div", { class: "actions sticky" }, h("button", { type: "submit", class: "primary" }, "Enregistrer le site")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const where = position.read();
    if (!name.value.trim() || where.latitude === null || where.longitude === null) {
      error.textContent = "Donnez un nom au site et sa position.";
      return;
    }
    const site = {
      client_id: crypto.randomUUID(),
      kind: kind.value,
      name: name.value.trim(),
      latitude: where.latitude,
      longitude: where.longitude,
      state: "queued",
      errors: [],
    };
    await db.put("sites", site);
    notice = { text: "Site enregistré sur le téléphone.", kind: "ok" };
    go(`#/site/${site.client_id}`);
    autoSync();
  });
  const heading = page("Ajouter un site", form);
  position.locateIfAllowed();
  return heading;
}

function visitSummary(site, v) {
  const counts = (v.counts || []).map((c) => {
    const sp = speciesName(speciesById(c.species_id) || species.find((s) => s.cd_nom === c.cd_nom));
    return site.kind === "nest_site"
      ? `${sp} : ${plural(c.occupied || 0, "nid occupé", "nids occupés")}`
      : `${sp} : ${frenchNumber(c.count || 0)}`;
  });
  return counts.join(" ; ") || "aucun comptage";
}

async function viewSite(clientId) {
  currentTab("sites");
  const site = await db.get("sites", clientId);
  if (!site) return page("Site introuvable", h("p", {}, h("a", { href: "#/sites" }, "Retour aux sites")));
  const visits = (await db.all("visits"))
    .filter((v) => v.site_client_id === clientId)
    .sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
  return page(
    site.name,
    h("p", {}, `${KINDS[site.kind]} · ${positionText(site.latitude, site.longitude)}`),
    h("div", { class: "actions" }, h("a", { href: `#/visite/${clientId}`, class: "button primary" }, "Noter une visite")),
    h("h2", {}, "Visites"),
    visits.length
      ? h("ul", { class: "cards", "aria-label": "Visites" }, visits.map((v) =>
          h("li", { class: "card" },
            h("a", { href: `#/visite/${clientId}/${v.client_id}`, class: "card-link" },
              h("span", { class: "card-title" }, frenchDate(v.started_at)),
              h("span", { class: "card-meta" }, visitSummary(site, v))),
            badge(v),
            v.state === "invalid" ? h("p", { class: "card-error" }, Object.values(errorsByField(v.errors)).flat().join(" ")) : null,
            v.comment ? h("p", { class: "comment" }, `Commentaire du CPIE : ${v.comment}`) : null)))
      : h("p", { class: "empty" }, "Aucune visite pour l'instant."),
  );
}

function countRow(site, row, index, errors, onRemove) {
  const groups = site.kind === "nest_site" ? ["bird"] : null;
  const picker = speciesPicker(row.species_id, (errors[`counts.${index}.species_id`] || []).join(" "), { label: "Espèce", groups });
  const number = (value, label, key) => {
    const input = h("input", { type: "number", min: "0", step: "1", inputmode: "numeric", value: value ?? "" });
    return { input, element: field({ id: uid(key), label, input, error: (errors[`counts.${index}.${key}`] || []).join(" ") }) };
  };
  const fs = h("fieldset", { class: "count" }, h("legend", {}, `Espèce ${index + 1}`), picker.element);
  let read;
  if (site.kind === "nest_site") {
    const occupied = number(row.occupied, "Nids occupés", "occupied");
    const unoccupied = number(row.unoccupied, "Nids vides", "unoccupied");
    const destroyed = number(row.destroyed, "Nids détruits", "destroyed");
    const artificial = h("input", { type: "checkbox", checked: !!row.artificial });
    const artId = uid("nichoir");
    artificial.id = artId;
    fs.append(h("div", { class: "triple" }, occupied.element, unoccupied.element, destroyed.element),
      h("div", { class: "check" }, artificial, h("label", { for: artId }, "Nids artificiels (nichoirs)")));
    read = () => ({
      species_id: picker.read(),
      occupied: parseNumber(occupied.input.value) ?? 0,
      unoccupied: parseNumber(unoccupied.input.value) ?? 0,
      destroyed: parseNumber(destroyed.input.value) ?? 0,
      artificial: artificial.checked,
    });
  } else {
    const count = number(row.count, "Nombre vu en même temps (au plus)", "count");
    fs.append(count.element);
    read = () => ({ species_id: picker.read(), count: parseNumber(count.input.value) ?? 0 });
  }
  fs.append(h("button", { type: "button", class: "link", onclick: onRemove }, `Retirer l'espèce ${index + 1}`));
  return { element: fs, read };
}

// Errors of a visit keyed "counts.0.occupied" and by top-level field.
function visitErrors(errors) {
  const out = {};
  for (const error of errors || []) {
    const name = String(error.field || "_");
    (out[name] = out[name] || []).push(message(error.code));
    const top = name.split(".")[0];
    if (top !== name && !/^counts\.\d+\./.test(name)) (out[top] = out[top] || []).push(message(error.code));
  }
  return out;
}

async function viewVisitForm(siteClientId, visitClientId) {
  currentTab("sites");
  const site = await db.get("sites", siteClientId);
  if (!site) return page("Site introuvable");
  const visit = visitClientId ? await db.get("visits", visitClientId) : null;
  if (visit && visit.state !== "queued" && visit.state !== "invalid") {
    return page(`Visite du ${frenchDate(visit.started_at)}`,
      h("p", {}, badge(visit)),
      visit.comment ? h("p", { class: "comment" }, `Commentaire du CPIE : ${visit.comment}`) : null,
      h("p", {}, visitSummary(site, visit)),
      h("p", {}, h("a", { href: `#/site/${siteClientId}` }, "Retour au site")));
  }
  const errors = visitErrors(visit && visit.errors);
  const values = visit || {
    duration_min: 30,
    observers: 1,
    complete: true,
    counts: site.kind === "nest_site"
      ? [{ species_id: (species.find((s) => s.cd_nom === 459478) || {}).id }]
      : [{}],
  };
  let rows = values.counts.map((c) => ({ ...c }));
  const when = h("input", { type: "datetime-local", value: toLocalInput(values.started_at ? new Date(values.started_at) : new Date()) });
  const duration = h("input", { type: "number", min: "1", max: "1440", step: "1", inputmode: "numeric", value: values.duration_min });
  const observers = h("input", { type: "number", min: "1", max: "100", step: "1", inputmode: "numeric", value: values.observers });
  const complete = h("input", { type: "checkbox", checked: !!values.complete });
  const completeId = uid("complet");
  complete.id = completeId;
  const notes = h("textarea", { rows: "3", maxlength: "2000" }, values.notes || "");
  const countsBox = h("div", {});
  let readers = [];
  const drawRows = () => {
    readers = rows.map((row, i) =>
      countRow(site, row, i, errors, () => {
        rows = readers.map((r) => r.read());
        rows.splice(i, 1);
        drawRows();
      }));
    countsBox.replaceChildren(...readers.map((r) => r.element));
  };
  drawRows();
  const general = [...(errors._ || []), ...(errors.site_id || []), ...(errors.site_client_id || []), ...(errors.counts || [])];
  const form = h("form", { novalidate: true, class: "record" },
    general.length ? h("p", { class: "notice warn", role: "alert" }, general.join(" ")) : null,
    field({ id: uid("debut"), label: "Début de la visite", input: when, error: (errors.started_at || []).join(" ") }),
    h("div", { class: "pair" },
      field({ id: uid("duree"), label: "Durée (minutes)", input: duration, error: (errors.duration_min || []).join(" ") }),
      field({ id: uid("observateurs"), label: "Observateurs", input: observers, error: (errors.observers || []).join(" ") })),
    h("h2", {}, site.kind === "nest_site" ? "Nids comptés" : "Espèces comptées"),
    countsBox,
    h("button", { type: "button", class: "secondary", onclick: () => {
      rows = readers.map((r) => r.read());
      rows.push({});
      drawRows();
    } }, "Ajouter une espèce"),
    h("div", { class: "check" }, complete, h("label", { for: completeId }, "Toutes les espèces suivies ont été comptées (une espèce absente de la liste n'a pas été vue)")),
    field({ id: uid("notes"), label: "Remarques", input: notes, error: (errors.notes || []).join(" ") }),
    h("div", { class: "actions sticky" }, h("button", { type: "submit", class: "primary" }, "Enregistrer la visite")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const counts = readers.map((r) => r.read()).filter((c) => c.species_id);
    const saved = {
      client_id: visit ? visit.client_id : crypto.randomUUID(),
      site_client_id: siteClientId,
      started_at: fromLocalInput(when.value) || new Date().toISOString(),
      duration_min: parseNumber(duration.value) ?? 30,
      observers: parseNumber(observers.value) ?? 1,
      complete: complete.checked,
      notes: notes.value.trim() || null,
      counts,
      state: "queued",
      errors: [],
    };
    await db.put("visits", saved);
    notice = { text: "Visite enregistrée sur le téléphone.", kind: "ok" };
    go(`#/site/${siteClientId}`);
    autoSync();
  });
  return page(`Visite : ${site.name}`, form);
}

// --- account -----------------------------------------------------------------------------------

function problemText(error) {
  if (error instanceof api.Offline) return "Pas de réseau : la connexion demande le réseau.";
  if (error instanceof api.OtherAccountPending) {
    return "Ce téléphone garde des observations d'un autre compte, pas encore envoyées : " +
      "connectez-vous d'abord avec ce compte pour les envoyer.";
  }
  if (error instanceof api.Problem) {
    const fields = (error.body.errors || []).map((e) => message(e.code));
    return [message(error.code), ...fields].join(" ");
  }
  return message("internal");
}

async function viewAccount(mode) {
  currentTab("compte");
  const current = await api.session();
  if (current && current.user && current.user.pupil) {
    return page("Ma classe",
      h("p", {}, `Tu observes avec ta classe, sous le pseudonyme « ${current.user.display_name} ».`),
      h("p", {}, "Tes observations partent à la classe dès que le réseau revient ; ton enseignant·e les vérifie avant les écologues du CPIE."),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: async () => {
          await db.remove("meta", "session");
          notice = { text: "Tu as quitté la classe sur ce téléphone. Tes observations déjà envoyées restent à la classe.", kind: "ok" };
          route();
        } }, "Quitter la classe")));
  }
  if (current) {
    const user = current.user || {};
    return page("Mon compte",
      h("p", {}, `Connecté·e : ${user.display_name || ""} (${user.email || ""}).`),
      h("p", {}, "Vous restez connecté·e sans réseau ; vos observations partent dès que le réseau revient."),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: async () => {
          await db.remove("meta", "session");
          notice = { text: "Vous êtes déconnecté·e. Vos données restent sur le téléphone.", kind: "ok" };
          route();
        } }, "Se déconnecter")));
  }
  const register = mode === "inscription";
  const email = h("input", { type: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", autocomplete: register ? "new-password" : "current-password", required: true, minlength: register ? "10" : null });
  const name = h("input", { type: "text", autocomplete: "nickname", required: true, maxlength: "100" });
  // Unchecked unless the person ticks it: the open data names nobody without their consent.
  const credit = h("input", { type: "checkbox" });
  const creditId = uid("citation");
  credit.id = creditId;
  credit.setAttribute("aria-describedby", `${creditId}-aide`);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "record" },
    register ? field({ id: uid("pseudo"), label: "Nom affiché", input: name, hint: "Un prénom ou un pseudonyme." }) : null,
    field({ id: uid("email"), label: "Adresse e-mail", input: email }),
    field({ id: uid("motdepasse"), label: "Mot de passe", input: password, hint: register ? "10 caractères au moins." : null }),
    register
      ? h("div", { class: "check" }, credit,
        h("div", {},
          h("label", { for: creditId }, "Me citer par mon nom dans les données ouvertes publiées (sinon un pseudonyme anonyme)"),
          h("p", { class: "hint", id: `${creditId}-aide` }, "Votre nom affiché, jamais votre adresse e-mail ; modifiable ensuite dans « Mon compte » sur le site.")))
      : null,
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, register ? "Créer mon compte" : "Se connecter")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      if (register) await api.register(email.value.trim(), password.value, name.value.trim(), credit.checked);
      else await api.signIn(email.value.trim(), password.value);
      notice = { text: "Vous êtes connecté·e.", kind: "ok" };
      go("#/");
      autoSync();
    } catch (e) {
      error.textContent = problemText(e);
    }
  });
  return page(register ? "Créer un compte" : "Se connecter",
    form,
    register
      ? h("p", {}, "Déjà inscrit·e ? ", h("a", { href: "#/compte" }, "Se connecter"))
      : h("p", {}, "Pas encore de compte ? ", h("a", { href: "#/inscription" }, "Créer un compte")),
    h("p", {}, "En classe ? ", h("a", { href: "#/classe" }, "Rejoindre ma classe avec son code")));
}

// A pupil joins the class with the code on the board (or the QR code, which opens this view
// with the code filled in) and a pseudonym: no account, no e-mail, nothing personal.
async function viewJoin(code) {
  currentTab("compte");
  const current = await api.session();
  if (current && current.user && current.user.pupil) return viewAccount();
  const codeInput = h("input", {
    type: "text", required: true, autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", maxlength: "20", value: code ? decodeURIComponent(code) : "",
  });
  const pseudonym = h("input", { type: "text", required: true, autocomplete: "off", maxlength: "40" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "record" },
    current ? h("p", { class: "notice warn" }, "Ce téléphone est connecté à un compte : rejoindre la classe l'en déconnecte.") : null,
    field({ id: uid("code"), label: "Code de la classe", input: codeInput, hint: "Le code affiché au tableau, avec ou sans tirets." }),
    field({ id: uid("pseudonyme"), label: "Ton pseudonyme", input: pseudonym, hint: "Un surnom, jamais ton nom de famille ni ton adresse." }),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Rejoindre la classe")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const pupil = await api.joinClass(codeInput.value.trim(), pseudonym.value.trim());
      notice = { text: `Bienvenue, ${pupil.display_name} : tu observes avec ta classe.`, kind: "ok" };
      go("#/");
      autoSync();
    } catch (e) {
      error.textContent = e instanceof api.Offline
        ? "Pas de réseau : rejoindre la classe demande le réseau."
        : problemText(e);
    }
  });
  return page("Rejoindre ma classe", form,
    h("p", {}, "Tu as un compte ? ", h("a", { href: "#/compte" }, "Se connecter")));
}

// --- routing -----------------------------------------------------------------------------------

// Shows the view of `hash`: through the hashchange event when it changes, at once otherwise.
function go(hash) {
  if (location.hash === hash || (hash === "#/" && location.hash === "")) return route();
  location.hash = hash;
  return Promise.resolve();
}

// Views are drawn one after the other, each for the address of its own time, so that a
// slow redraw never covers the view the resident went to meanwhile.
let drawing = Promise.resolve();
function route(options = {}) {
  drawing = drawing.then(() => draw(options)).catch((error) => console.error(error));
  return drawing;
}

async function draw({ keepFocus = false, passiveOnly = false } = {}) {
  const view = location.hash.replace(/^#\/?/, "").split("/")[0];
  // A sync redraws the views that show statuses only: a form being filled stays as it is.
  if (passiveOnly && !["", "sites", "site", "compte"].includes(view)) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const active = document.activeElement;
  let heading;
  switch (parts[0]) {
    case undefined: heading = await viewList(); break;
    case "nouvelle": heading = await viewObservationForm(null); break;
    case "observation": heading = await viewObservationForm(parts[1]); break;
    case "sites": heading = await viewSites(); break;
    case "site-nouveau": heading = await viewSiteForm(); break;
    case "site": heading = await viewSite(parts[1]); break;
    case "visite": heading = await viewVisitForm(parts[1], parts[2]); break;
    case "compte": heading = await viewAccount(); break;
    case "inscription": heading = await viewAccount("inscription"); break;
    case "classe": heading = await viewJoin(parts[1]); break;
    default: heading = await viewList();
  }
  await showNetwork();
  if (keepFocus && active && document.contains(active)) return;
  if (heading) heading.focus();
}

async function start() {
  tabs.hidden = false;
  window.addEventListener("hashchange", () => route());
  window.addEventListener("online", () => { showNetwork(); autoSync(); });
  window.addEventListener("offline", () => showNetwork());
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/observe/sw.js", { scope: "/observe/" }).catch(() => {});
  }
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  await db.open();
  species = (await db.get("reference", "species")) || [];
  await route();
  await loadReference();
  document.body.dataset.ready = "oui";
  autoSync();
  setInterval(() => { if (document.visibilityState === "visible") autoSync(); }, 120_000);
}

start();

// For a test or a curious developer's console: what the search finds.
export { fold };
