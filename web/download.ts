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
