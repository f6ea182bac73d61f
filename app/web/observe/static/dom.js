// A tiny helper to build the DOM without innerHTML: no markup is ever parsed from data.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled field with its hint and its error message (aria-describedby to both).
export function field({ id, label, input, hint, error }) {
  const hintId = `${id}-aide`;
  const errorId = `${id}-erreur`;
  input.id = id;
  const described = [];
  if (hint) described.push(hintId);
  described.push(errorId);
  input.setAttribute("aria-describedby", described.join(" "));
  if (error) input.setAttribute("aria-invalid", "true");
  return h(
    "div",
    { class: error ? "field invalid" : "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    input,
    h("p", { class: "error", id: errorId }, error || ""),
  );
}
