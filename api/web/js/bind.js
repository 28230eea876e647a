// Form inputs tied to a JSON object by a dotted path in `data-field` ("analysis.detect_fps"):
// `fill` shows the object's values and `bind` writes every edit back, so the object is always
// what a save sends. `data-kind` says how an edit is written:
//   text      as typed;
//   optional  as typed, null when empty;
//   default   as typed, or left out when empty (the server's default then applies);
//   number    a number, or left out when empty;
//   bool      a checkbox's state.

function walk(target, path, create) {
  const parts = path.split(".");
  let at = target;
  for (const part of parts.slice(0, -1)) {
    if (at[part] === undefined || at[part] === null) {
      if (!create) return [null, null];
      at[part] = {};
    }
    at = at[part];
  }
  return [at, parts[parts.length - 1]];
}

function read(target, path) {
  const [at, key] = walk(target, path, false);
  return at ? at[key] : undefined;
}

function write(target, input) {
  const [at, key] = walk(target, input.dataset.field, true);
  const kind = input.dataset.kind || "text";
  const empty = input.value.trim() === "";
  if (kind === "bool") at[key] = input.checked;
  else if (empty && (kind === "default" || kind === "number")) delete at[key];
  else if (kind === "optional") at[key] = empty ? null : input.value.trim();
  else if (kind === "number") at[key] = Number(input.value);
  else at[key] = input.value;
}

// Show `target`'s values in every `[data-field]` input under `root`.
export function fill(root, target) {
  for (const input of root.querySelectorAll("[data-field]")) {
    const value = read(target, input.dataset.field);
    if (input.dataset.kind === "bool") input.checked = Boolean(value);
    else input.value = value === undefined || value === null ? "" : String(value);
  }
}

// Write each edit of a `[data-field]` input under `root` into `target()` (asked at each edit,
// so one set of inputs can serve whichever object is open), then call `changed(input)`.
export function bind(root, target, changed) {
  const onEdit = (event) => {
    const input = event.target;
    const into = target();
    if (!input.dataset || !input.dataset.field || !into) return;
    write(into, input);
    changed(input);
  };
  root.addEventListener("input", onEdit);
  root.addEventListener("change", onEdit);
}
