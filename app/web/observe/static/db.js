// The phone's storage: IndexedDB, wrapped in promises.
// Stores: "observations", "sites", "visits" (keyed by client_id), "photos" (a photo's bytes,
// keyed by its own id, indexed by its observation's client_id), "meta" (tokens, the account,
// the time of the last sync) and "reference" (the species list and the zones).

const NAME = "sentinelles";
const VERSION = 1;
let opened = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function open() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    const req = indexedDB.open(NAME, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const store of ["observations", "sites", "visits"]) {
        db.createObjectStore(store, { keyPath: "client_id" });
      }
      const photos = db.createObjectStore("photos", { keyPath: "id" });
      photos.createIndex("observation", "observation_client_id");
      db.createObjectStore("meta");
      db.createObjectStore("reference");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opened;
}

async function store(name, mode) {
  const db = await open();
  return db.transaction(name, mode).objectStore(name);
}

export async function get(name, key) {
  return request((await store(name, "readonly")).get(key));
}

export async function all(name) {
  return request((await store(name, "readonly")).getAll());
}

export async function put(name, value, key) {
  const s = await store(name, "readwrite");
  await request(key === undefined ? s.put(value) : s.put(value, key));
  // Resolved once the transaction is durable, so that a closed page keeps what was saved.
  await new Promise((resolve, reject) => {
    s.transaction.oncomplete = resolve;
    s.transaction.onerror = () => reject(s.transaction.error);
    s.transaction.onabort = () => reject(s.transaction.error);
  });
}

export async function remove(name, key) {
  const s = await store(name, "readwrite");
  await request(s.delete(key));
}

export async function photosOf(observationClientId) {
  const s = await store("photos", "readonly");
  return request(s.index("observation").getAll(observationClientId));
}

export async function clear(names) {
  const db = await open();
  const tx = db.transaction(names, "readwrite");
  for (const name of names) tx.objectStore(name).clear();
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}
