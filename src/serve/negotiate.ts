/**
 * Content negotiation for /predict: which body parser a Content-Type selects (415 for types the
 * service cannot read) and which answer format an Accept header asks for (406 when neither JSON
 * nor CSV is acceptable). Error answers are always JSON.
 */
import { HttpError } from './http-error.js';

export type BodyKind = 'json' | 'csv';
export type AnswerFormat = 'json' | 'csv';

/**
 * `text/csv` → CSV; `application/json`, `*+json`, or no type → JSON. `text/plain` and
 * `application/x-www-form-urlencoded` (what `curl -d` sends without -H) are read as JSON too.
 */
export function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/csv') return 'csv';
  if (type === '' || type === 'application/json' || type.endsWith('+json') || type === 'text/plain' || type === 'application/x-www-form-urlencoded') return 'json';
  throw new HttpError(415, `Content-Type '${type}' is not supported: send application/json ({"context": [...], "targets": [...]}) or text/csv (the context, with ?grid=x0,x1,y0,y1&size=WxH)`);
}

/** The answer format for an Accept header (q-values honoured; a tie or no header gives JSON). */
export function answerFormat(accept: string | undefined): AnswerFormat {
  if (accept === undefined || accept.trim() === '') return 'json';
  const exact = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';').map((s) => s.trim());
    if (!type) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q < 0) continue;
    exact.set(type, Math.max(q, exact.get(type) ?? 0));
  }
  const pick = (...types: string[]) => {
    for (const t of types) if (exact.has(t)) return exact.get(t)!;
    return 0;
  };
  const json = pick('application/json', 'application/*', '*/*');
  const csv = pick('text/csv', 'text/*', '*/*');
  if (json === 0 && csv === 0) {
    throw new HttpError(406, `Accept '${accept}' allows neither application/json nor text/csv, the two formats /predict answers in`);
  }
  return csv > json ? 'csv' : 'json';
}
