/** Collects what a client profile cannot be given, each line once, in the order found. */
export class Degradations {
  readonly #lines = new Set<string>();

  add(line: string): void {
    this.#lines.add(line);
  }

  list(): readonly string[] {
    return Object.freeze([...this.#lines]);
  }
}
