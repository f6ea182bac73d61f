// Which survey zone a point falls in, on the phone, from the cached GeoJSON of the zones
// (the server places each record itself; this only tells the resident where they are).

function inRing(lon, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(lon, lat, rings) {
  return inRing(lon, lat, rings[0]) && !rings.slice(1).some((hole) => inRing(lon, lat, hole));
}

export function zoneAt(zones, lat, lon) {
  if (!zones || !zones.features) return null;
  for (const feature of zones.features) {
    const g = feature.geometry;
    if (!g) continue;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    if (polygons.some((rings) => inPolygon(lon, lat, rings))) return feature.properties;
  }
  return null;
}
