/**
 * Pacing of new ADS streams ("slow start"). After a restart every client of
 * the fleet comes back within a few seconds of the others; admitting them all
 * at once puts the whole fleet's first pushes (and registrations) into the same
 * second. So in any 1 s window at most `max(floor, ratio × streams connected)`
 * new streams are admitted: a fresh control plane admits `floor` per second,
 * and the allowance grows with the share of the fleet already back. A stream
 * over the limit is refused at once; clients retry it on their backoff.
 *
 * Counts live in a preallocated ring of 100 ms buckets: the current one and
 * the ten before it, so the sum always spans at least the last full second and
 * no 1 s window can hold more than the limit.
 */
import { EnmeshError } from '../errors.ts';

export interface StreamAdmissionOptions {
  /** New streams admitted per second however few are connected; 0 turns pacing off. Default 20. */
  readonly floor?: number;
  /** Share of the connected streams that may be admitted per second once that exceeds `floor`. Default 0.2. */
  readonly ratio?: number;
}

export const DEFAULT_STREAM_ADMISSION: Required<StreamAdmissionOptions> = Object.freeze({ floor: 20, ratio: 0.2 });

/** Largest accepted `floor` and `ratio` (beyond these, pacing would no longer pace anything). */
export const MAX_ADMISSION_FLOOR = 1_000_000;
export const MAX_ADMISSION_RATIO = 10;

const BUCKET_MS = 100;
const SLOTS = 11;

export class StreamAdmission {
  readonly floor: number;
  readonly ratio: number;
  readonly #now: () => number;
  readonly #counts = new Uint32Array(SLOTS);
  #head = 0;
  #bucket = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  #paced = 0;
  #lastPacedAt = Number.NEGATIVE_INFINITY;

  /** `now` is a monotonic clock in milliseconds (injectable for tests). */
  constructor(options: StreamAdmissionOptions = {}, now: () => number = () => performance.now()) {
    ({ floor: this.floor, ratio: this.ratio } = resolveStreamAdmission(options));
    this.#now = now;
  }

  /** False when `floor` is 0: every stream is admitted and nothing is counted. */
  get enabled(): boolean {
    return this.floor > 0;
  }

  /** Streams refused so far. */
  get paced(): number {
    return this.#paced;
  }

  /** Whether a stream was refused in the last `ms` milliseconds (a fleet is still coming back). */
  pacedWithin(ms: number): boolean {
    return this.#now() - this.#lastPacedAt < ms;
  }

  /** New streams admitted per second while `connected` streams are open. */
  limit(connected: number): number {
    return Math.max(this.floor, Math.floor(this.ratio * connected));
  }

  /** Admits one new stream, given how many are open now; false means refuse it. */
  tryAdmit(connected: number): boolean {
    if (this.floor === 0) return true;
    const now = this.#now();
    this.#advance(Math.floor(now / BUCKET_MS));
    if (this.#inWindow >= this.limit(connected)) {
      this.#paced++;
      this.#lastPacedAt = now;
      return false;
    }
    this.#counts[this.#head]!++;
    this.#inWindow++;
    return true;
  }

  /** Moves the ring to `bucket`, dropping the counts that left the window. */
  #advance(bucket: number): void {
    let steps = bucket - this.#bucket;
    // Same bucket, or a clock that stepped back: keep counting where we are.
    if (!(steps > 0)) return;
    this.#bucket = bucket;
    if (steps >= SLOTS) {
      this.#counts.fill(0);
      this.#inWindow = 0;
      return;
    }
    while (steps-- > 0) {
      this.#head = (this.#head + 1) % SLOTS;
      this.#inWindow -= this.#counts[this.#head]!;
      this.#counts[this.#head] = 0;
    }
  }
}

/** The settings with defaults filled in; throws `ENMESH_ERR_INIT` naming the bad one and its range. */
export function resolveStreamAdmission(options: StreamAdmissionOptions = {}): Required<StreamAdmissionOptions> {
  const floor = options.floor ?? DEFAULT_STREAM_ADMISSION.floor;
  const ratio = options.ratio ?? DEFAULT_STREAM_ADMISSION.ratio;
  if (!Number.isInteger(floor) || floor < 0 || floor > MAX_ADMISSION_FLOOR) {
    throw new EnmeshError(
      'ENMESH_ERR_INIT',
      `xDS admission floor must be an integer from 0 (no pacing) to ${MAX_ADMISSION_FLOOR} streams per second, got ${String(floor)}`,
    );
  }
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > MAX_ADMISSION_RATIO) {
    throw new EnmeshError(
      'ENMESH_ERR_INIT',
      `xDS admission ratio must be a number from 0 to ${MAX_ADMISSION_RATIO} (the share of connected streams admitted per second, e.g. 0.2), got ${String(ratio)}`,
    );
  }
  return { floor, ratio };
}

/** The details of the UNAVAILABLE status a paced stream ends with. */
export function pacedDetails(limit: number): string {
  return `control plane is admitting at most ${limit} new xDS streams per second; retry with backoff`;
}
