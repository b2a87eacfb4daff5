/**
 * What Node's client refuses before anything is sent, with its errors: the
 * mesh's http.request() throws the same, so an application's input checks
 * (and its tests) behave as they do without the mesh.
 */
import http from 'node:http';

/** Node's request-line checks (`_http_client`): a method that is an HTTP token, a path without unescaped characters. */
export function validateRequestLine(method: string, path: string): void {
  if (!HTTP_TOKEN.test(method)) throw Object.assign(new TypeError(`Method must be a valid HTTP token ["${method}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
  if (INVALID_PATH.test(path)) throw Object.assign(new TypeError('Request path contains unescaped characters'), { code: 'ERR_UNESCAPED_CHARACTERS' });
}
const HTTP_TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_PATH = /[^\u0021-\u00ff]/;

/** Node's own header checks, with its errors (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR, ERR_HTTP_INVALID_HEADER_VALUE). */
export function validateHeader(name: string, value: unknown): void {
  http.validateHeaderName(name);
  // Node's typings ask for a string; it checks any value (undefined is refused too).
  if (Array.isArray(value)) for (const v of value) http.validateHeaderValue(name, v as string);
  else http.validateHeaderValue(name, value as string);
}
