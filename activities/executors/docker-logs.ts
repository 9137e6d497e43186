/**
 * Decoding of the Docker logs stream (non-TTY containers): 8-byte frame headers multiplex stdout and
 * stderr, and with `timestamps=true` every log message starts with an RFC3339Nano timestamp and a
 * space. Messages longer than the daemon's buffer arrive as several partial messages (each with its
 * own timestamp, only the last ending in "\n"), so lines are reassembled per stream.
 *
 * The timestamps serve only resumption: a worker that re-attaches after a crash asks the daemon for
 * logs since the last timestamp the previous worker heartbeated and drops lines at or before it.
 */

export type DockerLogStream = 'stdout' | 'stderr';

export interface DockerLogLine {
  stream: DockerLogStream;
  line: string;
  /** RFC3339Nano, exactly as the daemon sent it (comparable as [seconds, nanos]). */
  timestamp: string;
}

const HEADER_LENGTH = 8;

/**
 * Incremental decoder: `push` stream chunks, get complete lines back; `end` flushes unterminated
 * trailing text (a step whose last output has no newline).
 */
export class DockerLogDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly partial: Record<DockerLogStream, { text: string; timestamp: string }> = {
    stdout: { text: '', timestamp: '' },
    stderr: { text: '', timestamp: '' },
  };

  push(chunk: Buffer): DockerLogLine[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const lines: DockerLogLine[] = [];
    while (this.buffer.length >= HEADER_LENGTH) {
      const kind = this.buffer[0];
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < HEADER_LENGTH + size) break;
      const payload = this.buffer.subarray(HEADER_LENGTH, HEADER_LENGTH + size).toString('utf8');
      this.buffer = this.buffer.subarray(HEADER_LENGTH + size);
      // 1 = stdout, 2 = stderr, 3 = a daemon-side error (shown as stderr); 0 (stdin) is never logged.
      if (kind === 0) continue;
      this.message(kind === 1 ? 'stdout' : 'stderr', payload, lines);
    }
    return lines;
  }

  end(): DockerLogLine[] {
    const lines: DockerLogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const pending = this.partial[stream];
      if (pending.text !== '') lines.push({ stream, line: pending.text, timestamp: pending.timestamp });
      this.partial[stream] = { text: '', timestamp: '' };
    }
    return lines;
  }

  private message(stream: DockerLogStream, payload: string, out: DockerLogLine[]): void {
    const space = payload.indexOf(' ');
    const timestamp = space > 0 ? payload.slice(0, space) : '';
    let text = space > 0 ? payload.slice(space + 1) : payload;
    const pending = this.partial[stream];
    if (pending.text === '') pending.timestamp = timestamp;
    for (;;) {
      const newline = text.indexOf('\n');
      if (newline < 0) break;
      const line = pending.text + text.slice(0, newline);
      out.push({
        stream,
        line: line.endsWith('\r') ? line.slice(0, -1) : line,
        timestamp: pending.timestamp || timestamp,
      });
      pending.text = '';
      pending.timestamp = timestamp;
      text = text.slice(newline + 1);
    }
    pending.text += text;
  }
}

/**
 * Orders RFC3339Nano timestamps ("2024-05-01T10:00:00.123456789Z"). The daemon pads nanoseconds to
 * nine digits (RFC3339NanoFixed), but compare numerically anyway so a trimmed one still orders.
 */
export function compareTimestamps(a: string, b: string): number {
  const [as, an] = splitTimestamp(a);
  const [bs, bn] = splitTimestamp(b);
  return as !== bs ? as - bs : an - bn;
}

function splitTimestamp(ts: string): [number, number] {
  const match = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!match) return [Number.NaN, 0];
  const [, base, fraction, zone] = match;
  const seconds = Date.parse(`${base ?? ''}${zone ?? 'Z'}`) / 1000;
  const nanos = fraction ? Number(fraction.padEnd(9, '0').slice(0, 9)) : 0;
  return [seconds, nanos];
}

/** The `since` argument for the logs API: UNIX seconds with nanoseconds, as the daemon parses it. */
export function timestampToSince(ts: string): string {
  const [seconds, nanos] = splitTimestamp(ts);
  if (Number.isNaN(seconds)) return '0';
  return `${seconds}.${String(nanos).padStart(9, '0')}`;
}
