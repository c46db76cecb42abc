/**
 * A small command-line flag parser: typed flag specs with defaults, generated --help, and one-line
 * errors for unknown flags and bad values. Accepts `--flag value`, `--flag=value` and bare booleans.
 */

/** A usage mistake; main() prints it as one line and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagType = 'string' | 'int' | 'number' | 'boolean' | 'int-list' | 'choice';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  readonly default?: string | number | boolean | readonly number[];
  /** Allowed values of a 'choice' flag. */
  readonly choices?: readonly string[];
  /** Smallest allowed value of an int/number (or of each int-list entry). */
  readonly min?: number;
  /** For numbers: the minimum itself is not allowed. */
  readonly exclusiveMin?: boolean;
  /** The names a 'string' flag accepts, when they are a registry's (e.g. the models); others get a "did you mean". */
  readonly known?: () => readonly string[];
  /** Placeholder in --help, e.g. DIR. */
  readonly metavar?: string;
}

export interface CommandSpec {
  /** As typed after `cgh`, e.g. "train". */
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Extra paragraphs shown after the flags. */
  readonly notes?: string;
}

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
type ValueOf<F extends FlagSpec> = F['type'] extends 'int' | 'number' ? number
  : F['type'] extends 'boolean' ? boolean
  : F['type'] extends 'int-list' ? number[]
  : F['choices'] extends readonly (infer C)[] ? C : string;
type Value<F extends FlagSpec> = F extends { default: unknown } ? ValueOf<F> : F['type'] extends 'boolean' ? boolean : ValueOf<F> | undefined;

/** The parsed flags of a spec declared `as const`, keyed by camel-cased flag name. */
export type Parsed<S extends CommandSpec> = { -readonly [F in S['flags'][number] as Camel<F['name']>]: Value<F> } & { help: boolean };

export function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function parseArgs<S extends CommandSpec>(spec: S, argv: string[]): Parsed<S> {
  const out: Record<string, unknown> = { help: false };
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  for (const f of spec.flags) {
    out[camel(f.name)] = f.default !== undefined ? (Array.isArray(f.default) ? [...f.default] : f.default) : f.type === 'boolean' ? false : undefined;
  }
  const seen = new Set<string>();
  const see = `(see cgh ${spec.name} --help)`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') { out.help = true; continue; }
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unexpected argument "${arg}"; flags start with -- ${see}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const f = byName.get(name);
    if (!f) {
      const guess = closest(name, [...byName.keys(), 'help']);
      throw new UsageError(`unknown flag --${name}${guess ? `; did you mean --${guess}?` : ''} ${see}`);
    }
    if (seen.has(name)) throw new UsageError(`--${name} is given twice; give it once ${see}`);
    seen.add(name);
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (f.type === 'boolean') raw = 'true';
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`--${name} needs a value ${see}`);
      raw = argv[++i];
    }
    out[camel(name)] = convert(f, raw, see);
  }
  return out as Parsed<S>;
}

function convert(f: FlagSpec, raw: string, see: string): unknown {
  const bad = (what: string) => new UsageError(`--${f.name} expects ${what}, got "${raw}" ${see}`);
  const checkMin = (v: number, what: string) => {
    if (f.min !== undefined && (f.exclusiveMin ? v <= f.min : v < f.min)) throw bad(`${what} ${f.exclusiveMin ? 'greater than' : 'of at least'} ${f.min}`);
    return v;
  };
  switch (f.type) {
    case 'string': {
      if (raw === '') throw bad('a value');
      const known = f.known?.();
      if (known && !known.includes(raw)) {
        const guess = closest(raw, [...known]);
        throw new UsageError(`unknown --${f.name} "${raw}"${guess ? `; did you mean ${guess}?` : ''} (known: ${known.join(', ')})`);
      }
      return raw;
    }
    case 'boolean':
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw bad('true or false');
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) throw bad('a whole number');
      return checkMin(Number(raw), 'a whole number');
    }
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw bad('a number');
      return checkMin(v, 'a number');
    }
    case 'int-list': {
      const parts = raw.split(',');
      if (parts.some((p) => !/^\s*\d+\s*$/.test(p))) throw bad('comma-separated whole numbers such as 1024,1024');
      if (parts.some((p) => !Number.isSafeInteger(Number(p)))) throw bad(`comma-separated whole numbers up to ${Number.MAX_SAFE_INTEGER}`);
      return parts.map((p) => checkMin(Number(p), 'comma-separated whole numbers, each'));
    }
    case 'choice':
      if (!f.choices!.includes(raw)) throw bad(`one of ${f.choices!.join(', ')}`);
      return raw;
  }
}

/** The known name nearest to `name` (edit distance at most 2, or a prefix match), if any. */
export function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? Math.min(1, editDistance(name, k)) : editDistance(name, k);
    if (d < bestD) { best = k; bestD = d; }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** Usage text listing every flag with its default. */
export function helpText(spec: CommandSpec): string {
  const rows = spec.flags.map((f) => {
    const placeholder = f.type === 'choice' ? f.choices!.join('|') : f.type === 'int-list' ? 'N,N,...' : f.type === 'string' ? 'VALUE' : 'N';
    const meta = f.type === 'boolean' ? '' : ` ${f.metavar ?? placeholder}`;
    const def = f.default === undefined ? '' : ` (default: ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})`;
    return [`  --${f.name}${meta}`, `${f.help}${def}`];
  });
  const width = Math.min(34, Math.max(...rows.map((r) => r[0].length), 10) + 2);
  const lines = [`usage: cgh ${spec.name} [flags]`, '', spec.summary, '', 'flags:'];
  for (const [left, right] of rows) {
    const wrapped = wrap(right, 100 - width).join(`\n${' '.repeat(width)}`);
    lines.push(left.length + 1 > width ? `${left}\n${' '.repeat(width)}${wrapped}` : left.padEnd(width) + wrapped);
  }
  lines.push(`  --help`.padEnd(width) + 'show this help');
  if (spec.notes) lines.push('', spec.notes.trimEnd());
  return lines.join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
