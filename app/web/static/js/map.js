// The pages' maps: Leaflet (vendored) with the communes and zones as vector layers, loaded
// from this host (/api/v1/zones). A raster tile layer only when the service is configured
// with one (SENTINELLES_MAP_TILE_URL): the <body> then carries data-tile-url and
// data-tile-attribution. Pages add their own layers to the map this returns.
//
//   import { createMap } from "/static/js/map.js";
//   const { map, zones } = await createMap(element, { zones: true });

const KIND_STYLES = {
  commune: { color: "#123d1c", weight: 2, fillOpacity: 0.04, dashArray: null },
  default: { color: "#0b4f8a", weight: 1.5, fillOpacity: 0.08, dashArray: "4 3" },
};

let zoneCache = null;

export async function loadZones() {
  if (zoneCache === null) {
    zoneCache = fetch("/api/v1/zones", { headers: { Accept: "application/geo+json" } })
      .then((r) => (r.ok ? r.json() : { type: "FeatureCollection", features: [] }))
      .catch(() => ({ type: "FeatureCollection", features: [] }));
  }
  return zoneCache;
}

export async function createMap(element, { zones = true, label = "Carte" } = {}) {
  const L = window.L;
  const map = L.map(element, { scrollWheelZoom: false, attributionControl: true });
  element.setAttribute("role", "region");
  element.setAttribute("aria-label", label);
  const tiles = document.body.dataset.tileUrl;
  if (tiles) {
    L.tileLayer(tiles, { attribution: document.body.dataset.tileAttribution || "", maxZoom: 19 }).addTo(map);
  }
  map.setView([50.457, 2.79], 13);
  let zoneLayer = null;
  if (zones) {
    const collection = await loadZones();
    zoneLayer = L.geoJSON(collection, {
      style: (feature) => KIND_STYLES[feature.properties?.kind] || KIND_STYLES.default,
      interactive: false,
    }).addTo(map);
    const communes = collection.features.filter((f) => f.properties?.kind === "commune");
    const bounds = L.geoJSON(communes.length ? communes : collection).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
  }
  return { map, zones: zoneLayer };
}
