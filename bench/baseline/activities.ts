/** A no-op activity that returns when it started and ended (ms since epoch). */
export async function noop(): Promise<[number, number]> {
  const start = Date.now();
  return [start, Date.now()];
}
