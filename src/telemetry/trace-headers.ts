/** Headers that carry trace context, in any format: remove them before writing a new context. */
export const TRACE_HEADERS: readonly string[] = Object.freeze([
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
]);
