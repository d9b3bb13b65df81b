/**
 * Settings of the HTTP service (`bsa-tnp serve` flags) with their defaults in one object, and the
 * parser for byte sizes ("10mb"). Every limit maps to one status code: max-body → 413,
 * max-context / max-targets → 422, timeout-ms → 504, queue → 503, body-timeout-ms and
 * header-timeout-ms → 408.
 */

export interface ServeLimits {
  /** Largest request body in bytes (413). */
  maxBody: number;
  /** Most context points in one request (422). */
  maxContext: number;
  /** Most target points in one request, grids included (422). */
  maxTargets: number;
  /** Time from receiving a request to its answer, queue wait included (504). */
  timeoutMs: number;
  /** Requests that may wait while one predicts (503 when full). */
  queue: number;
  /** Time for the body to arrive once the headers are in (408). */
  bodyTimeoutMs: number;
  /** Time for the request headers to arrive (408). */
  headerTimeoutMs: number;
}

export const DEFAULT_LIMITS = {
  maxBody: 10 * 1024 * 1024,
  maxContext: 100_000,
  maxTargets: 1_000_000,
  timeoutMs: 60_000,
  queue: 16,
  bodyTimeoutMs: 10_000,
  headerTimeoutMs: 10_000,
} as const satisfies ServeLimits;

/** Target points per model call (memory; how often a request yields and checks its deadline). */
export const DEFAULT_SERVE_CHUNK = 1024;

/** The flag name of each limit, as used in error bodies (`"limit": "max-body"`). */
export const LIMIT_FLAGS: Readonly<Record<keyof ServeLimits, string>> = {
  maxBody: 'max-body',
  maxContext: 'max-context',
  maxTargets: 'max-targets',
  timeoutMs: 'timeout-ms',
  queue: 'queue',
  bodyTimeoutMs: 'body-timeout-ms',
  headerTimeoutMs: 'header-timeout-ms',
};

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/**
 * Parses a byte size: a whole number of bytes or a number with a unit kb, mb, gb (binary: 1mb =
 * 1,048,576 bytes), e.g. "10mb", "512kb", "1.5mb". Returns null when the text is not a size.
 */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : null;
}

/** "10 MiB" / "512 KiB" / "300 bytes" for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
