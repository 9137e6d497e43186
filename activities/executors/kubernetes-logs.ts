/**
 * Incremental pod-log reading by polling: each poll asks the API server for the log with
 * `timestamps=true`, starting at (or somewhat before) the last delivered line's second, and drops
 * the lines already delivered, so every line reaches the task log exactly once. Polling instead of
 * `follow=true` because a follow stream can end early (proxy idle timeouts, API server restarts)
 * and then needs exactly this bookkeeping anyway.
 */

export interface LogChunkReader {
  /**
   * The container log with RFC3339Nano timestamps, at least every line stamped at or after
   * `sinceEpochSeconds` (all of it when undefined). Earlier lines may be included; they are dropped.
   */
  (sinceEpochSeconds: number | undefined): Promise<string>;
}

interface ParsedLine {
  /** Sortable key: zero-padded epoch seconds '.' nine-digit fraction; null when unparsable. */
  key: string | null;
  seconds: number | null;
  text: string;
}

const TS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

export function parseTimestampedLine(line: string): ParsedLine {
  const space = line.indexOf(' ');
  const m = space > 0 ? TS.exec(line.slice(0, space)) : null;
  if (!m) return { key: null, seconds: null, text: line };
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return { key: null, seconds: null, text: line };
  const seconds = Math.floor(ms / 1000);
  const key = `${String(seconds).padStart(12, '0')}.${(m[2] ?? '').padEnd(9, '0')}`;
  return { key, seconds, text: line.slice(space + 1) };
}

export class PodLogFollower {
  private lastKey: string | null = null;
  private lastSeconds: number | null = null;
  /** Lines already delivered that carry exactly `lastKey` (several lines may share a timestamp). */
  private deliveredAtLastKey = 0;

  constructor(
    private readonly read: LogChunkReader,
    private readonly emit: (line: string) => void,
  ) {}

  /**
   * Reads what is new. `final` also delivers a trailing line without its newline (the container is
   * done, so it will not be completed).
   */
  async poll(final = false): Promise<void> {
    const text = await this.read(this.lastSeconds ?? undefined);
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    if (final && tail !== '') lines.push(tail);

    let seenAtLastKey = 0;
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      const parsed = parseTimestampedLine(line);
      if (parsed.key === null) {
        // Without a timestamp there is nothing to de-duplicate on; only happens on servers that
        // ignore `timestamps`, where `sinceTime` is never set either.
        this.emit(line);
        continue;
      }
      if (this.lastKey !== null) {
        if (parsed.key < this.lastKey) continue;
        if (parsed.key === this.lastKey) {
          seenAtLastKey += 1;
          if (seenAtLastKey <= this.deliveredAtLastKey) continue;
          this.deliveredAtLastKey += 1;
          this.emit(parsed.text);
          continue;
        }
      }
      this.lastKey = parsed.key;
      this.lastSeconds = parsed.seconds;
      this.deliveredAtLastKey = 1;
      seenAtLastKey = 1;
      this.emit(parsed.text);
    }
  }
}
