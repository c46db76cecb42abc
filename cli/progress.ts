/**
 * Progress of long work with a rate: a bar redrawn in place on a terminal, fitted to its width (and
 * redrawn when it is resized), or plain lines every few seconds otherwise (logs, CI), so piped output
 * stays readable. Work comes in pieces (epochs) of a whole (the run): the bar shows the piece, the running
 * loss when known, the rate and the time left for the whole run.
 *
 * The rate leaves out each piece's first update: on the first piece that update waits for the shaders to
 * compile, which would make the first epoch look several times slower than the rest.
 */
export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Unit of the rate, e.g. "ex/s". */
  rateUnit?: string;
  /** Seconds between plain lines when the stream is not a terminal (default 10). */
  plainEvery?: number;
  /** Overrides the stream's own isTTY (tests). */
  tty?: boolean;
  /** Overrides the terminal's width (tests); otherwise the stream's columns, or 80. */
  columns?: number;
  /** Show nothing. */
  quiet?: boolean;
}

/** Where a piece lies in the whole run, in the same units as the piece. */
export interface RunSpan { done: number; total: number }

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private label = '';
  private total = 0;
  private run: RunSpan | null = null;
  private done = 0;
  private loss: number | undefined;
  private start = 0;
  private lastDraw = 0;
  private drawn = false;
  /** The first update of the piece: the rate is measured from here. */
  private base: { t: number; done: number } | null = null;
  /** The first update of the run: the run's time per unit is measured from here. */
  private runBase: { t: number; done: number } | null = null;
  private readonly onResize = () => { if (this.drawn) this.draw(performance.now()); };

  constructor(private readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? !!this.stream.isTTY;
    if (this.tty && !opts.quiet && typeof this.stream.on === 'function') this.stream.on('resize', this.onResize);
  }

  /** Begin a new piece of work of `total` units; `run` places it in the whole run for the run's ETA. */
  begin(label: string, total: number, run?: RunSpan): void {
    this.label = label;
    this.total = total;
    this.run = run ?? null;
    this.done = 0;
    this.start = performance.now();
    // A terminal shows the piece at once; plain lines wait for the first interval.
    this.lastDraw = this.tty ? -Infinity : this.start;
    this.base = null;
    if (!run || run.done === 0) this.runBase = null;
  }

  /** `done` units of the piece are finished; `loss` is the latest running training loss, when known. */
  update(done: number, info: { loss?: number } = {}): void {
    if (this.opts.quiet) return;
    const now = performance.now();
    this.done = done;
    if (info.loss !== undefined) this.loss = info.loss;
    // Measured from the first update after some work: that work includes compiling the shaders.
    if (!this.base && done > 0) this.base = { t: now, done };
    if (!this.runBase && done > 0) this.runBase = { t: now, done: (this.run?.done ?? 0) + done };
    if (this.tty) {
      if (now - this.lastDraw < 100 && done < this.total) return;
      this.draw(now);
    } else {
      if (now - this.lastDraw < (this.opts.plainEvery ?? 10) * 1000) return;
      this.stream.write(`${this.plainLine(now)}\n`);
    }
    this.lastDraw = now;
  }

  /** Remove the bar (before printing anything else on the terminal). */
  clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  /** Stop listening for terminal resizes. */
  close(): void {
    this.clear();
    if (typeof this.stream.off === 'function') this.stream.off('resize', this.onResize);
  }

  private rate(now: number): number | null {
    if (!this.base || this.done <= this.base.done || now <= this.base.t) return null;
    return ((this.done - this.base.done) * 1000) / (now - this.base.t);
  }

  /** Seconds left in the whole run (or the piece, when no run was given), from the time per unit so far. */
  private eta(now: number): number | null {
    const runTotal = this.run?.total ?? this.total;
    const runDone = (this.run?.done ?? 0) + this.done;
    if (!this.runBase || runDone <= this.runBase.done || now <= this.runBase.t) return null;
    return ((runTotal - runDone) * (now - this.runBase.t)) / 1000 / (runDone - this.runBase.done);
  }

  private parts(now: number) {
    const rate = this.rate(now);
    const eta = this.eta(now);
    const unit = this.opts.rateUnit ?? '/s';
    const compiling = (this.run?.done ?? 0) === 0 && this.done === 0;
    return {
      count: `${this.done}/${this.total}`,
      loss: this.loss !== undefined ? `loss ${formatLoss(this.loss)}` : '',
      rate: rate !== null ? `${rate.toFixed(0)} ${unit}` : compiling ? 'compiling shaders' : '',
      eta: eta !== null ? `${this.run ? 'run ' : ''}eta ${clock(eta)}` : '',
    };
  }

  private plainLine(now: number): string {
    const p = this.parts(now);
    return [`${this.label}: ${p.count}`, p.loss, p.rate, `${clock((now - this.start) / 1000)} elapsed`, p.eta].filter(Boolean).join(', ');
  }

  /** The bar line for a terminal `columns` wide: never more than columns - 1 characters, so it never wraps. */
  barLine(now: number, columns: number): string {
    const p = this.parts(now);
    const max = Math.max(1, columns - 1);
    const fraction = Math.min(1, this.done / Math.max(1, this.total));
    // Parts in the order shown; dropped from the least useful when the terminal is narrow.
    const order: (keyof typeof p | 'bar')[] = ['bar', 'count', 'loss', 'rate', 'eta'];
    const dropFirst: (keyof typeof p | 'bar')[] = ['count', 'bar', 'rate', 'loss', 'eta'];
    const shown = new Set(order.filter((k) => k === 'bar' || p[k as keyof typeof p] !== ''));
    const compose = (barWidth: number) => [this.label, ...order.filter((k) => shown.has(k)).map((k) => {
      if (k !== 'bar') return p[k];
      const filled = Math.round(barWidth * fraction);
      return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    })].join(' ');
    for (const drop of [null, ...dropFirst]) {
      if (drop) shown.delete(drop);
      const fixed = compose(0).length;
      const barWidth = shown.has('bar') ? Math.min(30, max - fixed) : 0;
      if (shown.has('bar') && barWidth < 8) continue;
      const line = compose(barWidth);
      if (line.length <= max) return line;
    }
    return compose(0).slice(0, max);
  }

  private draw(now: number): void {
    const columns = this.opts.columns ?? this.stream.columns ?? 80;
    this.stream.write(`\r\x1b[K${this.barLine(now, columns)}`);
    this.drawn = true;
  }
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toFixed(4) : String(loss);
}

export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
