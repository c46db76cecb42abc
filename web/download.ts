// Saving generated files from the page (no server round trip).

export function downloadBytes(name: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  save(name, new Blob([bytes as BlobPart], { type }));
}

export function downloadText(name: string, text: string, type = 'text/plain'): void {
  save(name, new Blob([text], { type: `${type};charset=utf-8` }));
}

function save(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser reads the blob asynchronously after the click; revoke only once it surely has.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * A download's name that tells runs apart: model, rule, label noise and seed before the file's own name,
 * e.g. mlp-sgd-noise50-seed0-metrics.jsonl, so several runs' files can sit in one Downloads folder.
 */
export function runFileName(run: { model: string; rule: string; noise: number; seed: number }, file: string): string {
  const noise = `noise${Number((run.noise * 100).toFixed(2))}`;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
  return `${safe(run.model)}-${safe(run.rule)}-${noise}-seed${run.seed}-${file}`;
}
