// The settings form in the page's URL: every field that differs from its default is a query parameter named by
// the field's id, so a reload or a shared link brings the same settings back. Files picked from disk cannot be
// kept this way and are left out; checking the values is the settings validator's job, not this module's.

type Field = HTMLInputElement | HTMLSelectElement;

/** The form's fields that a URL can carry: inputs with an id (not files or buttons) and selects. */
function fields(form: HTMLFormElement): Field[] {
  return [...form.querySelectorAll<Field>('input[id], select[id], input[type=radio][name]')].filter((f) => {
    if (f instanceof HTMLSelectElement) return true;
    return !['file', 'button', 'submit', 'reset'].includes(f.type);
  });
}

/** A radio group is one parameter, by name; every other field one, by id. */
const keyOf = (f: Field) => (f instanceof HTMLInputElement && f.type === 'radio' ? f.name : f.id);

function defaultValue(f: Field): string {
  if (f instanceof HTMLSelectElement) {
    const d = [...f.options].find((o) => o.defaultSelected) ?? f.options[0];
    return d?.value ?? '';
  }
  if (f.type === 'checkbox') return String(f.defaultChecked);
  return f.defaultValue;
}

function currentValue(f: Field): string {
  return f instanceof HTMLInputElement && f.type === 'checkbox' ? String(f.checked) : f.value;
}

/** The query string of the fields that differ from their defaults. */
export function formToQuery(form: HTMLFormElement): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of fields(form)) {
    if (f instanceof HTMLInputElement && f.type === 'radio') {
      if (f.checked && !f.defaultChecked) q.set(f.name, f.value);
      continue;
    }
    if (currentValue(f) !== defaultValue(f)) q.set(keyOf(f), currentValue(f));
  }
  return q;
}

/**
 * Fills the form from a query string; returns the parameters it could not place (unknown names, a select
 * or radio value that is not offered), which the page reports instead of silently dropping.
 */
export function queryToForm(form: HTMLFormElement, query: URLSearchParams): string[] {
  const unplaced: string[] = [];
  const all = fields(form);
  for (const [key, value] of query) {
    const radios = all.filter((f): f is HTMLInputElement => f instanceof HTMLInputElement && f.type === 'radio' && f.name === key);
    if (radios.length) {
      const r = radios.find((x) => x.value === value);
      if (r) r.checked = true; else unplaced.push(key);
      continue;
    }
    const f = all.find((x) => x.id === key);
    if (!f) { unplaced.push(key); continue; }
    if (f instanceof HTMLSelectElement && ![...f.options].some((o) => o.value === value)) { unplaced.push(key); continue; }
    if (f instanceof HTMLInputElement && f.type === 'checkbox') f.checked = value === 'true';
    else f.value = value;
  }
  return unplaced;
}

/** Keeps the URL's query in step with the form as it is edited (replacing the history entry, not adding one). */
export function keepFormInUrl(form: HTMLFormElement, onChange?: () => void): void {
  const sync = () => {
    const q = formToQuery(form).toString();
    const url = `${location.pathname}${q ? `?${q}` : ''}${location.hash}`;
    if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, '', url);
    onChange?.();
  };
  form.addEventListener('input', sync);
  form.addEventListener('change', sync);
}
