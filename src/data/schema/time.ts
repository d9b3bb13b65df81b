/**
 * Time columns: ISO 8601 dates and date-times → numbers (units since 1970-01-01T00:00Z), and back
 * for display. Strict on purpose: `2024-01-05`, `2024-01-05T10:30`, `2024-01-05 10:30:15.5Z`,
 * `2024-01-05T10:30:00+01:00` parse; `05/01/2024` or `2024-13-01` do not (no guessing of day/month
 * order). A date-time without a zone is UTC. A year is 365.25 days. No Node built-ins.
 */
import type { TimeUnit } from '../../models/data-schema.js';

/** Milliseconds per time unit. */
export const UNIT_MS: Readonly<Record<TimeUnit, number>> = {
  second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, year: 365.25 * 86_400_000,
};

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** Milliseconds since 1970-01-01T00:00Z of an ISO 8601 date/time, or NaN when `text` is not one. */
export function parseIsoMs(text: string): number {
  const m = ISO.exec(text.trim());
  if (!m) return NaN;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7) as string[];
  const frac = m[7] ? Number(m[7]) : 0;
  const Y = Number(y), M = Number(mo), D = Number(d), H = Number(h), MI = Number(mi), S = Number(s);
  if (M < 1 || M > 12 || D < 1 || H > 24 || MI > 59 || S > 60) return NaN;
  const ms = Date.UTC(Y, M - 1, D, H, MI, S) + frac * 1000;
  // Reject days past the month's end (2023-02-30): Date.UTC would roll them over.
  if (new Date(Date.UTC(Y, M - 1, D)).getUTCDate() !== D) return NaN;
  let offset = 0;
  const z = m[8];
  if (z !== undefined && z.toUpperCase() !== 'Z') {
    const sign = z[0] === '-' ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms - offset;
}

/** Whether a text looks like an ISO date (used to pick the time format of a column). */
export function looksIso(text: string): boolean {
  return ISO.test(text.trim());
}

/** `unit`s since the epoch → ISO 8601 text (UTC; date only when the time is midnight). */
export function formatIso(value: number, unit: TimeUnit): string {
  const ms = value * UNIT_MS[unit];
  if (!Number.isFinite(ms)) return '';
  const iso = new Date(Math.round(ms)).toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z');
}
