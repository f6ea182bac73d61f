// The public dashboard: the year selector and the map of the year's validated observations.
// The map's data come from /dashboard/map.geojson, which holds ordinary species as points and
// sensitive ones only as the polygon of their Lambert-93 cell (never a precise position).

import { createMap } from "/static/js/map.js";

const dateFr = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const numberFr = new Intl.NumberFormat("fr-FR");
const POINT_STYLE = { className: "dash-point", color: "#ffffff", weight: 2, fillColor: "#0b4f8a", fillOpacity: 0.9 };
const CELL_STYLE = { className: "dash-cell", color: "#7a4b00", weight: 2, fillColor: "#f2b33d", fillOpacity: 0.18 };

function autosubmit() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
}

function line(parent, tag, text, className) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  parent.appendChild(el);
  return el;
}

function pointPopup(props) {
  const box = document.createElement("div");
  line(box, "strong", props.name);
  if (props.scientific_name && props.scientific_name !== props.name) line(box, "i", ` ${props.scientific_name}`);
  const when = dateFr.format(new Date(`${props.date}T00:00:00Z`));
  line(box, "div", `${numberFr.format(props.count)} · ${when}`);
  return box;
}

function cellPopup(props) {
  const box = document.createElement("div");
  const where = props.kind === "cell" ? `maille de ${numberFr.format(props.size_km)} km` : "commune";
  line(box, "strong", `Espèce sensible (${where})`);
  const list = document.createElement("ul");
  for (const s of props.species || []) {
    line(list, "li", `${s.name} : ${numberFr.format(s.observations)} observation${s.observations > 1 ? "s" : ""}`);
  }
  box.appendChild(list);
  line(box, "div", "Position exacte protégée.", "muted");
  return box;
}

async function observationsMap(element) {
  const L = window.L;
  const { map, zones } = await createMap(element, { zones: true, label: element.dataset.label || "Carte" });
  const answer = await fetch(element.dataset.geojson, { headers: { Accept: "application/geo+json" } });
  const collection = answer.ok ? await answer.json() : { type: "FeatureCollection", features: [] };
  const layer = L.geoJSON(collection, {
    style: (feature) => (feature.properties.kind === "point" ? POINT_STYLE : CELL_STYLE),
    pointToLayer: (feature, latlng) => {
      const p = feature.properties;
      if (p.kind === "commune") return L.circle(latlng, { ...CELL_STYLE, radius: p.radius_m || 1000 });
      return L.circleMarker(latlng, { ...POINT_STYLE, radius: 7 });
    },
    onEachFeature: (feature, item) => {
      const p = feature.properties;
      item.bindPopup(p.kind === "point" ? pointPopup(p) : cellPopup(p));
    },
  }).addTo(map);
  const bounds = layer.getBounds();
  if (zones) {
    const communes = zones.getLayers().filter((l) => l.feature?.properties?.kind === "commune");
    for (const c of communes) bounds.extend(c.getBounds());
  }
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12] });
  element.dataset.features = String(collection.features.length);
}

autosubmit();
for (const element of document.querySelectorAll("[data-geojson]")) {
  observationsMap(element).catch(() => {
    element.dataset.features = "error";
  });
}
