// The review workbench: keyboard shortcuts on the queues and on a record, the selection for a
// bulk validation, and the record's map (the point, its accuracy circle, its zone). Without
// this module every page still works: links, checkboxes and plain form buttons.
import { createMap } from "/static/js/map.js";

const TEXT_TYPES = new Set(["text", "search", "email", "number", "date", "password", "url", "tel"]);

function typingIn(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && TEXT_TYPES.has(target.type);
}

function say(message) {
  const status = document.getElementById("shortcut-status");
  if (status) status.textContent = message;
}

// --- a queue -------------------------------------------------------------------------------

function setUpQueue(queue) {
  const rows = Array.from(queue.querySelectorAll("tr[data-row]"));
  const form = document.getElementById("bulk-form");
  const all = document.getElementById("select-all");
  const counter = document.getElementById("selection-count");
  const boxes = rows.map((row) => row.querySelector('input[type="checkbox"]'));

  function count() {
    const n = boxes.filter((b) => b && b.checked).length;
    if (counter) counter.textContent = n ? `${n} sélectionnée${n > 1 ? "s" : ""}` : "";
    if (all) all.checked = n > 0 && n === boxes.length;
  }
  boxes.forEach((b) => b && b.addEventListener("change", count));
  if (all) {
    all.hidden = false;
    all.addEventListener("change", () => {
      boxes.forEach((b) => { if (b) b.checked = all.checked; });
      count();
    });
  }
  count();

  function current() {
    return rows.findIndex((row) => row.contains(document.activeElement));
  }
  function focusRow(i) {
    if (!rows.length) return;
    const index = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((row, j) => row.classList.toggle("current", j === index));
    rows[index].querySelector("a.record-link")?.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (typingIn(event.target)) return;
    const key = event.key.toLowerCase();
    if (key === "j") {
      event.preventDefault();
      focusRow(current() + 1);
    } else if (key === "k") {
      event.preventDefault();
      focusRow(current() < 0 ? 0 : current() - 1);
    } else if (key === "x") {
      const i = current();
      if (i >= 0 && boxes[i]) {
        event.preventDefault();
        boxes[i].checked = !boxes[i].checked;
        count();
      }
    } else if (key === "v" && event.shiftKey && form) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

// --- one record ----------------------------------------------------------------------------

const NEEDS_COMMENT = {
  r: "Écrivez pourquoi l'observation est refusée, puis Ctrl + Entrée pour refuser.",
  i: "Écrivez quelle information il manque, puis Ctrl + Entrée pour la demander.",
};

function setUpRecord() {
  const form = document.getElementById("decision-form");
  if (!form) return;
  const comment = form.querySelector("#comment");
  const button = (key) => form.querySelector(`button[data-key="${key}"]`);
  let armed = null;

  function decide(key) {
    const chosen = button(key);
    if (!chosen) return;
    if (NEEDS_COMMENT[key] && comment && !comment.value.trim()) {
      armed = key;
      comment.focus();
      say(NEEDS_COMMENT[key]);
      return;
    }
    form.requestSubmit(chosen);
  }

  comment?.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      comment.blur();
      say("");
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (armed) {
        decide(armed);
      } else {
        say("Choisissez la décision : R pour refuser, I pour demander une information (après Échap), ou le bouton.");
      }
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (typingIn(event.target)) return;
    const key = event.key.toLowerCase();
    if (key === "v" || key === "r" || key === "i") {
      event.preventDefault();
      decide(key);
    } else if (key === "c" && comment) {
      event.preventDefault();
      comment.focus();
    } else if (key === "n" || key === "j") {
      const next = document.getElementById("next-record");
      if (next) {
        event.preventDefault();
        window.location.assign(next.href);
      }
    } else if (key === "q") {
      const back = document.getElementById("back-to-queue");
      if (back) {
        event.preventDefault();
        window.location.assign(back.href);
      }
    }
  });
}

// --- the record's map ----------------------------------------------------------------------

async function setUpMap(element) {
  if (!window.L) {
    await new Promise((resolve) => window.addEventListener("load", resolve, { once: true }));
  }
  const L = window.L;
  const { map, zones } = await createMap(element, { zones: true, label: element.dataset.label });
  const lat = Number(element.dataset.lat);
  const lon = Number(element.dataset.lon);
  const accuracy = Number(element.dataset.accuracy || 0);
  const zoneId = element.dataset.zone;
  if (zones && zoneId) {
    zones.eachLayer((layer) => {
      const feature = layer.feature || {};
      if (feature.id === zoneId || feature.properties?.id === zoneId) {
        layer.setStyle({ color: "#8a4b00", weight: 3, fillOpacity: 0.12, dashArray: null });
        layer.bringToFront();
      }
    });
  }
  L.circleMarker([lat, lon], { radius: 6, color: "#7a1d1d", weight: 2, fillColor: "#b3261e", fillOpacity: 1 }).addTo(map);
  if (accuracy > 0) {
    const circle = L.circle([lat, lon], { radius: accuracy, color: "#b3261e", weight: 2, fillOpacity: 0.12 }).addTo(map);
    map.fitBounds(circle.getBounds(), { padding: [24, 24], maxZoom: 17 });
  } else {
    map.setView([lat, lon], 16);
  }
  element.dataset.ready = "true";
}

const queue = document.querySelector("[data-queue]");
if (queue) setUpQueue(queue);
if (document.querySelector("[data-record]")) setUpRecord();
const mapElement = document.getElementById("record-map");
if (mapElement) setUpMap(mapElement);
