/**
 * Errors of the HTTP service: an `HttpError` carries the status code and, for a limit, the name
 * of the flag that sets it (`limit: "max-body"`) and its value, so every refusal is answered with
 * one JSON shape: `{"error": "...", "status": 413, "limit": "max-body", "max": 10485760}`.
 */

/** A request the service refuses; `message` is the complete explanation sent to the client. */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    /** Extra JSON fields: `limit` and `max` for limits, `field` for unknown fields, … */
    readonly extra: Readonly<Record<string, string | number>> = {},
    /** Extra response headers (Retry-After, Allow). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  /** The JSON error body. */
  body(): Record<string, unknown> {
    return { error: this.message, status: this.status, ...this.extra };
  }
}

/** A refusal because a configured limit was exceeded; `limit` is the flag name without dashes. */
export function limitError(status: number, limit: string, max: number, message: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, message, { limit, max }, headers);
}

/** The client closed the connection before its answer was ready: nothing is sent. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}
