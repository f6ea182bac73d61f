// French text: accent-blind matching, dates and numbers as a French reader writes them.

export function fold(text) {
  return (text || "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/œ/g, "oe")
    .replace(/æ/g, "ae")
    .toLowerCase()
    .trim();
}

// "hirondelle" finds "Hirondelle rustique", "pieride" finds "Piéride du Chou"; every word
// typed must start a word of the French or the scientific name (or appear in it).
export function searchSpecies(species, query, limit = 8) {
  const words = fold(query).split(/[\s'’-]+/).filter(Boolean);
  if (!words.length) return [];
  const scored = [];
  for (const sp of species) {
    const names = fold(`${sp.vernacular_name || ""} ${sp.scientific_name}`);
    if (!words.every((w) => names.includes(w))) continue;
    const starts = fold(sp.vernacular_name || sp.scientific_name).startsWith(words[0]) ? 0 : 1;
    scored.push([starts, speciesName(sp), sp]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1], "fr"));
  return scored.slice(0, limit).map((entry) => entry[2]);
}

export function speciesName(sp) {
  return sp ? sp.vernacular_name || sp.scientific_name : "Espèce inconnue";
}

const dateFormat = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric" });
const timeFormat = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit" });
const numberFormat = new Intl.NumberFormat("fr-FR");

export function frenchDate(iso) {
  const d = new Date(iso);
  return `${dateFormat.format(d)} à ${timeFormat.format(d)}`;
}

export function frenchNumber(n, digits) {
  if (digits === undefined) return numberFormat.format(n);
  return new Intl.NumberFormat("fr-FR", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(n);
}

// The value of an <input type="datetime-local"> for a time, in the phone's time zone.
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

// RFC 3339 with the phone's offset, from an <input type="datetime-local"> value.
export function fromLocalInput(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:00` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}
