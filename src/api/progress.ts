/**
 * Progress reporting for long commands (train, eval, predict). On a terminal: one line redrawn in
 * place (bar, count, rate, ETA, extra fields). Otherwise (pipes, CI, log files): JSON lines
 *   {"event":"progress","label":"train","done":500,"total":1000,"rate":12.5,"eta_s":40,"loss":1.2}
 * so logs stay machine-readable. No Node built-ins: the caller passes the stream (process.stderr).
 */

/** Where progress goes; `process.stderr` fits. */
export interface ProgressSink {
  write(text: string): unknown;
  /** True for a terminal: redraw in place. */
  isTTY?: boolean;
  /** Terminal width, to keep the line from wrapping. */
  columns?: number;
}

export type ProgressFields = Readonly<Record<string, number | string>>;

export interface ProgressOptions {
  total: number;
  sink: ProgressSink;
  /** Name in the line / JSON (e.g. "train"). */
  label?: string;
  /** Count already done when starting (resume); the rate only counts new work. */
  start?: number;
  /** Milliseconds between redraws; default 100 on a terminal, 1000 for JSON lines. */
  intervalMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Unit shown on a terminal ("it" by default). */
  unit?: string;
}

/** Formats seconds as H:MM:SS or M:SS. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function formatField(v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toFixed(4) : v.toExponential(3);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export class Progress {
  private readonly now: () => number;
  private readonly startTime: number;
  private readonly startDone: number;
  private readonly interval: number;
  private lastDraw = -Infinity;
  private done: number;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => Date.now());
    this.startTime = this.now();
    this.startDone = options.start ?? 0;
    this.done = this.startDone;
    this.interval = options.intervalMs ?? (options.sink.isTTY ? 100 : 1000);
  }

  /** Reports `done` units finished; draws if the interval has passed (always at `done === total`). */
  update(done: number, fields: ProgressFields = {}): void {
    this.done = done;
    const t = this.now();
    if (done < this.options.total && t - this.lastDraw < this.interval) return;
    this.lastDraw = t;
    this.draw(fields, false);
  }

  /** Draws the final state and ends the terminal line. Safe to call twice. */
  finish(fields: ProgressFields = {}): void {
    if (this.finished) return;
    this.finished = true;
    this.draw(fields, true);
  }

  /** Units per second since the start (new work only). */
  rate(): number {
    const elapsed = (this.now() - this.startTime) / 1000;
    return elapsed > 0 ? (this.done - this.startDone) / elapsed : 0;
  }

  private draw(fields: ProgressFields, final: boolean): void {
    const { total, sink } = this.options;
    const rate = this.rate();
    const eta = rate > 0 ? (total - this.done) / rate : Infinity;
    if (!sink.isTTY) {
      const record: Record<string, unknown> = { event: final ? 'progress_done' : 'progress' };
      if (this.options.label !== undefined) record.label = this.options.label;
      Object.assign(record, {
        done: this.done,
        total,
        rate: round(rate, 3),
        eta_s: Number.isFinite(eta) ? round(eta, 1) : null,
        elapsed_s: round((this.now() - this.startTime) / 1000, 3),
        ...fields,
      });
      sink.write(`${JSON.stringify(record)}\n`);
      return;
    }
    const width = Math.max(40, sink.columns ?? 80);
    const fraction = total > 0 ? Math.min(1, this.done / total) : 1;
    const extras = Object.entries(fields).map(([k, v]) => `${k}=${formatField(v)}`).join(' ');
    const unit = this.options.unit ?? 'it';
    const text = [
      this.options.label ?? '',
      `${this.done}/${total}`,
      `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(2)} ${unit}/s`,
      final ? `took ${formatDuration((this.now() - this.startTime) / 1000)}` : `ETA ${formatDuration(eta)}`,
      extras,
    ].filter((s) => s !== '').join(' ');
    const barWidth = Math.max(10, Math.min(30, width - text.length - 8));
    const filled = Math.round(fraction * barWidth);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
    let line = `${bar} ${text}`;
    if (line.length > width - 1) line = line.slice(0, width - 1);
    sink.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
  }
}
