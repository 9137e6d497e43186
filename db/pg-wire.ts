/**
 * The few pieces of the Postgres v3 wire protocol the PGlite server (pglite-server.ts) needs:
 * splitting a client's byte stream into whole messages, reading the fields it routes on, noticing
 * the backend's ReadyForQuery in PGlite's output, and building the handful of backend messages the
 * server answers itself (startup, errors). Pure: no sockets, no PGlite.
 * Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

export const PROTOCOL_3_0 = 196608; // 3 << 16
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** A message larger than this is a protocol violation (Postgres caps messages at 1 GB too). */
const MAX_MESSAGE_BYTES = 1 << 30;

export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/**
 * One whole client message. `type` is the message's type byte as a character ('Q', 'P', 'S', ...),
 * or null for the untyped messages a connection starts with (startup, SSL/GSS/cancel requests).
 */
export interface ClientFrame {
  readonly type: string | null;
  /** The whole message, header included: what PGlite's execProtocolRaw takes. */
  readonly bytes: Buffer;
}

/**
 * Splits a client byte stream into messages. A connection starts untyped (length + code); the
 * StartupMessage switches it to typed messages (type byte + length), as the protocol does.
 */
export class ClientFramer {
  #buffer: Buffer = Buffer.alloc(0);
  #typed = false;

  push(chunk: Buffer): ClientFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: ClientFrame[] = [];
    for (;;) {
      const headerSize = this.#typed ? 5 : 4;
      if (this.#buffer.length < headerSize) break;
      const length = this.#buffer.readInt32BE(this.#typed ? 1 : 0);
      if (length < 4 || length > MAX_MESSAGE_BYTES) {
        throw new ProtocolViolation(`invalid message length ${length}`);
      }
      const total = this.#typed ? length + 1 : length;
      if (this.#buffer.length < total) break;
      const bytes = this.#buffer.subarray(0, total);
      this.#buffer = this.#buffer.subarray(total);
      if (this.#typed) {
        frames.push({ type: String.fromCharCode(bytes[0]!), bytes });
      } else {
        frames.push({ type: null, bytes });
        if (bytes.length >= 8 && bytes.readInt32BE(4) >>> 16 === 3) this.#typed = true; // StartupMessage
      }
    }
    return frames;
  }
}

/** The request code of an untyped message (protocol version for a StartupMessage). */
export function untypedCode(frame: ClientFrame): number {
  if (frame.bytes.length < 8)
    throw new ProtocolViolation(`startup-phase message of ${frame.bytes.length} bytes is too short`);
  return frame.bytes.readInt32BE(4);
}

export interface StartupMessage {
  readonly majorVersion: number;
  readonly minorVersion: number;
  /** Every name/value pair: user, database, options, application_name, any run-time parameter. */
  readonly parameters: ReadonlyMap<string, string>;
}

export function parseStartup(frame: ClientFrame): StartupMessage {
  const code = untypedCode(frame);
  const parameters = new Map<string, string>();
  const reader = new CStringReader(frame.bytes, 8);
  for (;;) {
    const name = reader.next();
    if (name === '') break;
    parameters.set(name, reader.next());
  }
  return { majorVersion: code >>> 16, minorVersion: code & 0xffff, parameters };
}

export interface CancelRequest {
  readonly processId: number;
  readonly secretKey: number;
}

export function parseCancelRequest(frame: ClientFrame): CancelRequest {
  if (frame.bytes.length !== 16)
    throw new ProtocolViolation(`CancelRequest of ${frame.bytes.length} bytes (expected 16)`);
  return { processId: frame.bytes.readInt32BE(8), secretKey: frame.bytes.readInt32BE(12) };
}

/**
 * Run-time parameters a client asked for at startup: every startup parameter that is not a
 * connection property, plus `-c name=value` / `--name=value` from `options` (libpq's PGOPTIONS,
 * node-postgres's `options`). Postgres applies these when the backend starts; the PGlite server
 * applies them at the start of each of the client's turns.
 */
export function startupSettings(parameters: ReadonlyMap<string, string>): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [name, value] of parameters) {
    if (
      name === 'user' ||
      name === 'database' ||
      name === 'options' ||
      name === 'replication' ||
      name.startsWith('_pq_.')
    )
      continue;
    settings.set(name, value);
  }
  const options = parameters.get('options');
  if (options) {
    const words = splitOptions(options);
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      let assignment: string | undefined;
      if (word === '-c') assignment = words[++i];
      else if (word.startsWith('-c')) assignment = word.slice(2);
      else if (word.startsWith('--')) assignment = word.slice(2);
      else
        throw new ProtocolViolation(`unsupported startup option "${word}" (only -c name=value and --name=value are)`);
      const eq = assignment?.indexOf('=') ?? -1;
      if (assignment === undefined || eq <= 0) throw new ProtocolViolation(`startup option "${word}" needs name=value`);
      settings.set(assignment.slice(0, eq).replace(/-/g, '_'), assignment.slice(eq + 1));
    }
  }
  return settings;
}

/** Postgres splits `options` on whitespace; a backslash escapes the next character. */
function splitOptions(options: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\' && i + 1 < options.length) {
      current += options[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/** The SQL text of a Query ('Q') or Parse ('P') message; null for other messages. */
export function sqlText(frame: ClientFrame): string | null {
  if (frame.type === 'Q') return new CStringReader(frame.bytes, 5).next();
  if (frame.type === 'P') {
    const reader = new CStringReader(frame.bytes, 5);
    reader.next(); // statement name
    return reader.next();
  }
  return null;
}

/**
 * The prepared statement a message names: Parse defines it, Bind and Describe('S') use it,
 * Close('S') drops it. Null when the message names none or names the unnamed statement.
 */
export function statementReference(frame: ClientFrame): { name: string; action: 'define' | 'use' | 'close' } | null {
  const reader = new CStringReader(frame.bytes, 5);
  let name: string;
  let action: 'define' | 'use' | 'close';
  switch (frame.type) {
    case 'P':
      name = reader.next();
      action = 'define';
      break;
    case 'B':
      reader.next(); // portal
      name = reader.next();
      action = 'use';
      break;
    case 'D':
    case 'C': {
      const kind = frame.bytes[5];
      if (kind !== 0x53 /* 'S' */) return null;
      reader.skip(1);
      name = reader.next();
      action = frame.type === 'D' ? 'use' : 'close';
      break;
    }
    default:
      return null;
  }
  return name === '' ? null : { name, action };
}

class CStringReader {
  #offset: number;
  constructor(
    private readonly bytes: Buffer,
    offset: number,
  ) {
    this.#offset = offset;
  }

  skip(n: number): void {
    this.#offset += n;
  }

  next(): string {
    const end = this.bytes.indexOf(0, this.#offset);
    if (end < 0) throw new ProtocolViolation('unterminated string in a message');
    const value = this.bytes.toString('utf8', this.#offset, end);
    this.#offset = end + 1;
    return value;
  }
}

/** Transaction status of a ReadyForQuery: idle, in a transaction block, in a failed block. */
export type TransactionStatus = 'I' | 'T' | 'E';

/**
 * Follows PGlite's output message by message (messages may straddle chunks) and remembers the
 * transaction status of the last ReadyForQuery, and whether it was the last message seen.
 */
export class BackendScanner {
  #header = Buffer.alloc(5);
  #headerFill = 0;
  #bodyLeft = 0;
  #pendingReady = false;
  /** Status of the most recent ReadyForQuery; null before the first. */
  lastStatus: TransactionStatus | null = null;
  /** True when the most recent complete message was a ReadyForQuery. */
  endsWithReady = false;

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#bodyLeft > 0) {
        if (this.#pendingReady) {
          this.lastStatus = String.fromCharCode(chunk[i]!) as TransactionStatus;
          this.#pendingReady = false;
        }
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        i += take;
        this.#bodyLeft -= take;
        continue;
      }
      this.#header[this.#headerFill++] = chunk[i++]!;
      if (this.#headerFill < 5) continue;
      this.#headerFill = 0;
      const type = String.fromCharCode(this.#header[0]!);
      this.#bodyLeft = this.#header.readInt32BE(1) - 4;
      this.endsWithReady = type === 'Z';
      this.#pendingReady = type === 'Z';
    }
  }
}

// ---- messages the server sends itself ----

/** A typed message: type byte, length, body. */
export function typedMessage(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function authenticationOk(): Buffer {
  return typedMessage('R', int32(0));
}

export function parameterStatus(name: string, value: string): Buffer {
  return typedMessage('S', Buffer.concat([cstring(name), cstring(value)]));
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  return typedMessage('K', Buffer.concat([int32(processId), int32(secretKey)]));
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return typedMessage('Z', Buffer.from(status, 'latin1'));
}

/** NegotiateProtocolVersion: we speak 3.0 and none of the `_pq_.` options. */
export function negotiateProtocolVersion(unsupportedOptions: readonly string[]): Buffer {
  return typedMessage(
    'v',
    Buffer.concat([int32(PROTOCOL_3_0), int32(unsupportedOptions.length), ...unsupportedOptions.map(cstring)]),
  );
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL';
  /** SQLSTATE, e.g. 57014 (query_canceled). */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function errorResponse(e: ErrorFields): Buffer {
  const fields: Buffer[] = [
    Buffer.from('S'),
    cstring(e.severity),
    Buffer.from('V'),
    cstring(e.severity),
    Buffer.from('C'),
    cstring(e.code),
    Buffer.from('M'),
    cstring(e.message),
  ];
  if (e.detail) fields.push(Buffer.from('D'), cstring(e.detail));
  if (e.hint) fields.push(Buffer.from('H'), cstring(e.hint));
  fields.push(Buffer.from([0]));
  return typedMessage('E', Buffer.concat(fields));
}

/** The ParameterStatus messages in a backend byte stream, in order. */
export function parameterStatuses(bytes: Uint8Array): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (i + 5 <= buf.length) {
    const type = String.fromCharCode(buf[i]!);
    const length = buf.readInt32BE(i + 1);
    if (type === 'S') {
      const reader = new CStringReader(buf, i + 5);
      out.push([reader.next(), reader.next()]);
    }
    i += 1 + length;
  }
  return out;
}

// ---- client messages the server sends to PGlite on its own behalf ----

export function queryMessage(sql: string): Buffer {
  return typedMessage('Q', cstring(sql));
}

export function syncMessage(): Buffer {
  return typedMessage('S', Buffer.alloc(0));
}

export function startupMessage(parameters: Record<string, string>): Buffer {
  const body = Buffer.concat([
    int32(PROTOCOL_3_0),
    ...Object.entries(parameters).flatMap(([k, v]) => [cstring(k), cstring(v)]),
    Buffer.from([0]),
  ]);
  return Buffer.concat([int32(body.length + 4), body]);
}
