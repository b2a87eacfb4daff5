/** Struct conversion for node metadata lives with the other Struct helpers in ../metadata.ts. */
export { fromStruct, toStruct } from '../metadata.ts';
export type { JsonObject, JsonValue, StructMessage } from '../metadata.ts';
