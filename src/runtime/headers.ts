/** Header plumbing shared by the outbound call and the transport adapters. */

export type HeaderRecord = Record<string, string | string[]>;

/**
 * Copies undici's accepted header shapes (flat array, object, iterable of
 * pairs) into a record with lower-case names, so policies can read and edit it.
 */
export function toHeaderRecord(headers: unknown): HeaderRecord {
  const out: HeaderRecord = {};
  if (headers == null) return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as [unknown, unknown][]) addHeader(out, String(pair[0]), pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) addHeader(out, String(headers[i]), headers[i + 1]);
    }
    return out;
  }
  if (typeof headers === 'object') {
    if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const pair of headers as Iterable<[unknown, unknown]>) addHeader(out, String(pair[0]), pair[1]);
      return out;
    }
    for (const name of Object.keys(headers)) addHeader(out, name, (headers as Record<string, unknown>)[name]);
  }
  return out;
}

function addHeader(out: HeaderRecord, rawName: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const name = rawName.toLowerCase();
  const v = Array.isArray(value) ? value.map(String) : String(value);
  const prev = out[name];
  if (prev === undefined) out[name] = v;
  else out[name] = ([] as string[]).concat(prev, v);
}

/** A header's value with several values joined, as routing matches on it. */
export function headerValue(headers: HeaderRecord, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
}
