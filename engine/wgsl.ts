/** Reads the `@group(0) @binding(n) var<...>` declarations of a WGSL module to build an explicit bind group layout. */
export interface BindingDecl { binding: number; kind: 'uniform' | 'read' | 'read_write' }

export function parseBindings(code: string): BindingDecl[] {
  const out: BindingDecl[] = [];
  const re = /@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write))?\s*>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(code))) {
    const kind = m[2] === 'uniform' ? 'uniform' : ((m[3] ?? 'read') as 'read' | 'read_write');
    out.push({ binding: Number(m[1]), kind });
  }
  out.sort((a, b) => a.binding - b.binding);
  out.forEach((d, i) => {
    if (d.binding !== i) throw new Error(`WGSL bindings must be numbered 0..n-1 without gaps (found binding ${d.binding} at position ${i})`);
  });
  return out;
}
