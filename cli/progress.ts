/**
 * Progress of long work with a rate: a redrawn bar on a terminal, plain lines every few seconds
 * otherwise (logs, CI), so piped output stays readable.
 */
export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Unit of the rate, e.g. "ex/s". */
  rateUnit?: string;
  /** Seconds between plain lines when the stream is not a terminal (default 10). */
  plainEvery?: number;
  /** Overrides the stream's own isTTY (tests). */
  tty?: boolean;
  /** Show nothing. */
  quiet?: boolean;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private label = '';
  private total = 0;
  private start = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? !!this.stream.isTTY;
  }

  /** Begin a new piece of work of `total` units. */
  begin(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.start = performance.now();
    this.lastDraw = this.start;
  }

  update(done: number): void {
    if (this.opts.quiet) return;
    const now = performance.now();
    const seconds = (now - this.start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const unit = this.opts.rateUnit ?? '/s';
    if (this.tty) {
      if (now - this.lastDraw < 100 && done < this.total) return;
      const width = 30;
      const filled = Math.round((width * Math.min(done, this.total)) / Math.max(1, this.total));
      const eta = rate > 0 ? (this.total - done) / rate : 0;
      this.stream.write(`\r\x1b[K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${rate.toFixed(0)} ${unit} eta ${clock(eta)}`);
      this.drawn = true;
    } else {
      if (now - this.lastDraw < (this.opts.plainEvery ?? 10) * 1000) return;
      this.stream.write(`${this.label}: ${done}/${this.total}, ${rate.toFixed(0)} ${unit}, ${clock(seconds)} elapsed\n`);
    }
    this.lastDraw = now;
  }

  /** Remove the bar (before printing anything else on the terminal). */
  clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
