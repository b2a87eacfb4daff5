/**
 * Route timeouts without a timer per request.
 *
 * Every request on a route with a 5 s timeout expires 5 s after it started,
 * so deadlines of one duration arrive in time order: a FIFO list per
 * duration holds them sorted for free. A request joins the tail when it
 * starts and unlinks itself when it ends (both O(1), no allocation: the
 * entry's links live on the entry), and one unref'd timer per list is armed
 * for the head. When it fires it expires every entry that is due and re-arms
 * for the new head; entries that ended first cost the timer nothing.
 *
 * Deadlines of other shapes (a caller's propagated deadline, per-try timers)
 * keep using plain timers: they do not arrive in order.
 */

/** What a list holds: the links are fields of the entry itself. */
export interface DeadlineEntry {
  dlNext: DeadlineEntry | null;
  dlPrev: DeadlineEntry | null;
  /** `performance.now()` time at which the entry expires. */
  dlAt: number;
  /** The list the entry is on, or null. */
  dlList: DeadlineList | null;
  /** Called once when the deadline passes while the entry is still on its list. */
  onDeadline(): void;
}

/** Node's largest delay; a route timeout is far below it. */
const MAX_TIMER_MS = 2_147_483_647;

export class DeadlineList {
  readonly durationMs: number;
  #head: DeadlineEntry | null = null;
  #tail: DeadlineEntry | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires; Infinity when none is armed. */
  #armedAt = Infinity;

  constructor(durationMs: number) {
    this.durationMs = durationMs;
  }

  /** Adds `entry` to expire `durationMs` after `now`. */
  add(entry: DeadlineEntry, now: number): void {
    entry.dlAt = now + this.durationMs;
    entry.dlList = this;
    entry.dlNext = null;
    entry.dlPrev = this.#tail;
    if (this.#tail === null) this.#head = entry;
    else this.#tail.dlNext = entry;
    this.#tail = entry;
    if (this.#armedAt === Infinity) this.#arm(entry.dlAt, now);
  }

  /** Takes `entry` off this list (no-op if it is not on it). */
  remove(entry: DeadlineEntry): void {
    if (entry.dlList !== this) return;
    const prev = entry.dlPrev;
    const next = entry.dlNext;
    if (prev === null) this.#head = next;
    else prev.dlNext = next;
    if (next === null) this.#tail = prev;
    else next.dlPrev = prev;
    entry.dlNext = entry.dlPrev = null;
    entry.dlList = null;
    // The timer stays armed for an entry that has left: it re-arms for the new head when it
    // fires, which costs one timer callback per duration instead of one timer per request.
  }

  /** Entries on the list (for tests and introspection; walks the list). */
  get size(): number {
    let n = 0;
    for (let e = this.#head; e !== null; e = e.dlNext) n++;
    return n;
  }

  #arm(at: number, now: number): void {
    this.#armedAt = at;
    const ms = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - now)));
    this.#timer = setTimeout(this.#fire, ms);
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = performance.now();
    // Expire what is due; each callback may add or remove entries (even on this list).
    // Re-armed whatever a callback throws: one failing entry must not stop the others' deadlines.
    try {
      let e = this.#head;
      while (e !== null && e.dlAt <= now) {
        this.remove(e);
        e.onDeadline();
        e = this.#head;
      }
    } finally {
      if (this.#head !== null && this.#armedAt === Infinity) this.#arm(this.#head.dlAt, now);
    }
  };
}

const lists = new Map<number, DeadlineList>();

/** The process-wide list for deadlines of `durationMs` (shared across config versions). */
export function deadlineListFor(durationMs: number): DeadlineList {
  let list = lists.get(durationMs);
  if (list === undefined) lists.set(durationMs, (list = new DeadlineList(durationMs)));
  return list;
}
