export { EnmeshError, isEnmeshError } from './errors.ts';
export type { EnmeshErrorCode, ConfigIssue } from './errors.ts';
export type * from './model/types.ts';
