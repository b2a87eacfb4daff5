/**
 * The index to send with the next blocking query, following Consul's rules
 * for blocking-query clients:
 * - an index that went backwards (a snapshot restore, a new cluster) is reset
 *   to 0, so the next read returns at once with a fresh index instead of
 *   waiting for the old, higher one to come round again;
 * - an index below 1 is never sent back as a blocking index: 1 is used, so a
 *   server that answers 0 cannot turn the watch into a busy loop.
 */
export function nextIndex(previous: number, received: number): number {
  if (!(received >= 1)) return 1;
  if (received < previous) return 0;
  return received;
}
