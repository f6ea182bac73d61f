// Sync: the queued records go up through the batch endpoints (sites first, so that their
// visits can name them; photos after their observation), then `updated_since` brings back what
// changed on the server: the ecologists' decisions, deletions (tombstones), records made on
// another device. A record keeps its client_id for ever: a sync cut at any point is simply
// run again, and the server answers "existing" for what it stored the first time.
import * as api from "./api.js";
import * as db from "./db.js";

const BATCH = 100;
const OBSERVATION_FIELDS = [
  "client_id", "species_id", "observed_at", "latitude", "longitude", "accuracy_m",
  "count", "count_unit", "notes",
];
const VISIT_FIELDS = [
  "client_id", "started_at", "duration_min", "observers", "complete", "notes", "counts",
];

let running = null;
const listeners = new Set();

export function onChange(listener) {
  listeners.add(listener);
}

function changed(detail) {
  for (const listener of listeners) listener(detail);
}

function pick(record, fields) {
  const out = {};
  for (const field of fields) {
    if (record[field] !== undefined && record[field] !== null && record[field] !== "") {
      out[field] = record[field];
    }
  }
  return out;
}

function lastComment(item) {
  const reviews = item.reviews || [];
  const last = reviews[reviews.length - 1];
  return last ? last.comment || "" : "";
}

let again = null;

// One sync at a time; one asked for while another runs follows it (it sends what was saved
// meanwhile), and every caller asking meanwhile shares that one.
export function sync() {
  if (!running) {
    running = run().finally(() => {
      running = null;
    });
    return running;
  }
  if (!again) {
    again = running.then(() => {
      again = null;
      return sync();
    });
  }
  return again;
}

async function run() {
  const report = { sent: 0, rejected: 0, photos: 0, error: null };
  changed({ running: true });
  try {
    await sendSites(report);
    await sendObservations(report);
    await sendVisits(report);
    await sendPhotos(report);
    await pull();
    await db.put("meta", new Date().toISOString(), "synced_at");
  } catch (error) {
    report.error = error;
  }
  changed({ running: false, report });
  return report;
}

async function sendSites(report) {
  const sites = (await db.all("sites")).filter((s) => s.state === "queued");
  for (const site of sites) {
    const payload = pick(site, ["client_id", "kind", "name", "latitude", "longitude"]);
    try {
      const { data } = await api.call("/sites", { method: "POST", json: payload });
      await db.put("sites", { ...site, state: "sent", errors: [], server_id: data.id });
      report.sent += 1;
    } catch (error) {
      if (!(error instanceof api.Problem) || error.status !== 422) throw error;
      await db.put("sites", { ...site, state: "invalid", errors: error.body.errors || [] });
      report.rejected += 1;
    }
  }
}

async function applyResults(store, records, results, report) {
  for (let i = 0; i < results.length; i += 1) {
    const result = results[i];
    const record = records.find((r) => r.client_id === result.client_id) || records[i];
    if (result.status === "rejected") {
      await db.put(store, { ...record, state: "invalid", errors: result.errors || [] });
      report.rejected += 1;
    } else {
      await db.put(store, {
        ...record,
        state: "sent",
        errors: [],
        server_id: result.id,
        status: record.status || "pending",
      });
      report.sent += 1;
    }
  }
}

async function sendObservations(report) {
  const queued = (await db.all("observations")).filter((o) => o.state === "queued");
  for (let start = 0; start < queued.length; start += BATCH) {
    const chunk = queued.slice(start, start + BATCH);
    const { data } = await api.call("/observations/batch", {
      method: "POST",
      json: { observations: chunk.map((o) => pick(o, OBSERVATION_FIELDS)) },
    });
    await applyResults("observations", chunk, data.results, report);
  }
}

async function sendVisits(report) {
  const sites = new Map((await db.all("sites")).map((s) => [s.client_id, s]));
  const queued = (await db.all("visits")).filter((v) => {
    const site = sites.get(v.site_client_id);
    return v.state === "queued" && site && site.state === "sent";
  });
  for (let start = 0; start < queued.length; start += BATCH) {
    const chunk = queued.slice(start, start + BATCH);
    const items = chunk.map((v) => {
      const site = sites.get(v.site_client_id);
      const item = pick(v, VISIT_FIELDS);
      if (site.server_id) item.site_id = site.server_id;
      else item.site_client_id = site.client_id;
      return item;
    });
    const { data } = await api.call("/visits/batch", { method: "POST", json: { visits: items } });
    await applyResults("visits", chunk, data.results, report);
  }
}

async function sendPhotos(report) {
  const observations = new Map((await db.all("observations")).map((o) => [o.client_id, o]));
  for (const photo of await db.all("photos")) {
    const observation = observations.get(photo.observation_client_id);
    if (photo.uploaded || photo.error || !observation || !observation.server_id) continue;
    const form = new FormData();
    form.append("file", photo.blob, photo.name || "photo.jpg");
    try {
      const { data } = await api.call(`/observations/${observation.server_id}/photos`, {
        method: "POST",
        form,
      });
      await db.put("photos", { ...photo, uploaded: true, server_id: data.id });
      report.photos += 1;
    } catch (error) {
      // A refusal of this file (too large, not an image...) is shown; anything else is
      // retried at the next sync (the same bytes again answer the photo stored first).
      if (error instanceof api.Problem && [409, 413, 415, 422].includes(error.status)) {
        await db.put("photos", { ...photo, error: error.code });
      } else {
        throw error;
      }
    }
  }
}

async function pages(path, since) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "500", updated_since: since });
    if (cursor) query.set("cursor", cursor);
    const { data } = await api.call(`${path}${path.includes("?") ? "&" : "?"}${query}`);
    items.push(...data.items);
    cursor = data.next_cursor;
  } while (cursor);
  return items;
}

async function pullStore(store, path, since, adopt) {
  let latest = since;
  for (const item of await pages(path, since)) {
    if (item.updated_at > latest) latest = item.updated_at;
    const local = await db.get(store, item.client_id);
    if (item.deleted) {
      if (local) await db.remove(store, item.client_id);
      if (local && store === "observations") {
        for (const photo of await db.photosOf(item.client_id)) await db.remove("photos", photo.id);
      }
      continue;
    }
    // A record that the server holds is sent, even when its answer was lost on the way.
    const base = local || adopt(item);
    await db.put(store, {
      ...base,
      state: local && local.state === "queued" && local.server_id ? "queued" : "sent",
      errors: [],
      server_id: item.id,
      status: item.status || base.status,
      comment: lastComment(item),
      updated_at: item.updated_at,
    });
  }
  return latest;
}

async function pull() {
  const since = (await db.get("meta", "last_sync")) || {};
  const epoch = "1970-01-01T00:00:00Z";
  const next = { ...since };
  next.sites = await pullStore("sites", "/sites?mine=true", since.sites || epoch, (item) => ({
    ...pick(item, ["client_id", "kind", "name", "latitude", "longitude"]),
  }));
  next.observations = await pullStore(
    "observations",
    "/observations?mine=true",
    since.observations || epoch,
    (item) => ({ ...pick(item, OBSERVATION_FIELDS) }),
  );
  const sites = await db.all("sites");
  next.visits = await pullStore("visits", "/visits", since.visits || epoch, (item) => {
    const site = sites.find((s) => s.server_id === item.site_id);
    return { ...pick(item, VISIT_FIELDS), site_client_id: site ? site.client_id : null };
  });
  await db.put("meta", next, "last_sync");
}
