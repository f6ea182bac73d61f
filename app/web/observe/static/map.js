// A small map to set a position by touch, offline: the survey zones drawn from the cached
// GeoJSON, no background tiles (they would come from another host and need the network).
// Leaflet is loaded the first time a map is asked for, so that it costs nothing otherwise.

let loading = null;

function loadLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  if (!loading) {
    const css = new Promise((resolve, reject) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = "/observe/static/vendor/leaflet/leaflet.css";
      link.onload = resolve;
      link.onerror = reject;
      document.head.append(link);
    });
    const js = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/observe/static/vendor/leaflet/leaflet.js";
      script.onload = resolve;
      script.onerror = reject;
      document.head.append(script);
    });
    loading = Promise.all([css, js]).then(() => window.L);
  }
  return loading;
}

// Draws a map in `element`; `onPick(lat, lon)` is called where the resident touches it.
export async function pickOnMap(element, zones, start, onPick) {
  const L = await loadLeaflet();
  const map = L.map(element, { attributionControl: false, zoomSnap: 0.5 });
  let bounds = null;
  if (zones && zones.features && zones.features.length) {
    // Not interactive: a touch anywhere is a position (the commune is said under the map).
    const layer = L.geoJSON(zones, {
      interactive: false,
      style: { color: "#1f5e3b", weight: 2, fillColor: "#e7f4ec", fillOpacity: 0.6 },
    }).addTo(map);
    bounds = layer.getBounds();
  }
  let marker = null;
  const place = (lat, lon) => {
    if (marker) marker.setLatLng([lat, lon]);
    else marker = L.circleMarker([lat, lon], { radius: 9, color: "#a4001d", weight: 3, fillOpacity: 0.5, interactive: false }).addTo(map);
  };
  if (start) {
    map.setView([start.latitude, start.longitude], 14);
    place(start.latitude, start.longitude);
  } else if (bounds) {
    map.fitBounds(bounds);
  } else {
    map.setView([50.457, 2.785], 13);
  }
  // Drawn once the container has its size (it has just been shown).
  requestAnimationFrame(() => {
    map.invalidateSize();
    if (!start && bounds) map.fitBounds(bounds);
  });
  map.on("click", (event) => {
    place(event.latlng.lat, event.latlng.lng);
    onPick(event.latlng.lat, event.latlng.lng);
  });
  return map;
}
