/**
 * Serves an in-process PGlite to other processes (the CLI, `updraft worker`, psql) over a loopback
 * TCP socket speaking the Postgres wire protocol, correct under concurrency by construction.
 *
 * PGlite is ONE Postgres session, so the server multiplexes client connections onto it in turns
 * (PGliteSession, shared with in-process users): a connection gets the session with its first
 * message and keeps it until the backend's ReadyForQuery says the session is idle ('I': after a
 * Sync or simple Query with no transaction open). Everyone else waits, first come first served.
 * A transaction, an extended-protocol sequence (Parse/Bind/Describe/Execute/Sync), FOR UPDATE and
 * advisory transaction locks therefore belong to one client from start to end, as they would with
 * a real Postgres backend per connection. What a turn leaves behind:
 *
 * - Session state is reset when the turn ends (DISCARD ALL): SET, temp tables, LISTEN, cursors
 *   WITH HOLD, SQL-level PREPARE do not outlive the turn (as with PgBouncer's transaction pooling).
 *   Use SET LOCAL, or set parameters at connect time: the connection's startup parameters
 *   (`options=-c name=value`, application_name, ...) are applied at the start of each of its turns.
 * - Protocol-level named prepared statements (Parse with a name: JDBC, psycopg, node-postgres
 *   `name:`) are kept per connection and prepared again, lazily, in the turn that uses them.
 * - Session-level advisory locks (pg_advisory_lock and friends): the turn lasts until the
 *   connection has released them, so they keep their meaning.
 * - A connection that disconnects mid-turn is rolled back and reset.
 * - A connection that holds the session idle (in a transaction, or mid-sequence) for
 *   `idleInTransactionTimeoutMs` while others wait is terminated with SQLSTATE 25P03, naming the
 *   setting, instead of stalling everyone.
 * - A CancelRequest cancels a statement that is still waiting for the session (57014); a statement
 *   PGlite is executing cannot be interrupted (it runs synchronously in this process).
 * - SSL and GSS encryption requests are declined ('N'): loopback only. Any user, database and
 *   password are accepted; the socket listens on 127.0.0.1 only.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import {
  BackendScanner,
  CANCEL_REQUEST_CODE,
  ClientFramer,
  GSSENC_REQUEST_CODE,
  ProtocolViolation,
  SSL_REQUEST_CODE,
  authenticationOk,
  backendKeyData,
  errorResponse,
  negotiateProtocolVersion,
  parameterStatus,
  parameterStatuses,
  parseCancelRequest,
  parseStartup,
  queryMessage,
  readyForQuery,
  sqlText,
  startupMessage,
  startupSettings,
  statementReference,
  syncMessage,
  untypedCode,
  type ClientFrame,
  type ErrorFields,
} from './pg-wire.js';
import {
  SessionClosedError,
  SessionWaitAbortedError,
  type PGliteSession,
  type SessionLease,
  type SessionOwner,
} from './pglite-session.js';

export interface PGliteServerOptions {
  readonly session: PGliteSession;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: any free port (read it from `port` after start). */
  readonly port?: number;
  /** Default 256. */
  readonly maxConnections?: number;
  /** Terminate a connection that holds the session idle this long while others wait; 0: never. Default 60 s. */
  readonly idleInTransactionTimeoutMs?: number;
  /** Names the setting in the idle-in-transaction error, so users know what to raise. */
  readonly idleInTransactionTimeoutSetting?: string;
  readonly log?: (line: string) => void;
}

/** Calls of the session-level advisory lock functions (not the _xact_ ones, which end with the transaction). */
const SESSION_ADVISORY_LOCK = /\bpg_(try_)?advisory_lock(_shared)?\s*\(/i;

export class PGliteServer {
  readonly #opts: Required<Omit<PGliteServerOptions, 'log' | 'idleInTransactionTimeoutSetting'>> &
    Pick<PGliteServerOptions, 'idleInTransactionTimeoutSetting'>;
  readonly #log: (line: string) => void;
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  readonly #statuses: ReadonlyArray<[string, string]>;
  #nextId = 1;
  #port = 0;
  #stopping: Promise<void> | null = null;

  private constructor(opts: PGliteServerOptions, statuses: ReadonlyArray<[string, string]>) {
    this.#opts = {
      session: opts.session,
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      maxConnections: opts.maxConnections ?? 256,
      idleInTransactionTimeoutMs: opts.idleInTransactionTimeoutMs ?? 60_000,
      idleInTransactionTimeoutSetting: opts.idleInTransactionTimeoutSetting,
    };
    this.#log = opts.log ?? (() => undefined);
    this.#statuses = statuses;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(opts: PGliteServerOptions): Promise<PGliteServer> {
    const statuses = await captureParameterStatuses(opts.session);
    const server = new PGliteServer(opts, statuses);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(server.#opts.port, server.#opts.host, () => {
        server.#server.off('error', reject);
        server.#port = (server.#server.address() as net.AddressInfo).port;
        resolve();
      });
    });
    return server;
  }

  get host(): string {
    return this.#opts.host;
  }

  get port(): number {
    return this.#port;
  }

  /** A connection URL for pg / psql. */
  get url(): string {
    return `postgres://postgres@${this.#opts.host}:${this.#port}/postgres?sslmode=disable`;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops listening, terminates every connection (rolling back what they had open) and waits for that. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await Promise.all(
        [...this.#connections].map((c) =>
          c.terminate({
            severity: 'FATAL',
            code: '57P01',
            message: 'terminating connection because the embedded database (PGlite) is shutting down',
          }),
        ),
      );
      await closed;
    })();
    return this.#stopping;
  }

  #accept(socket: net.Socket): void {
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined); // a client resetting its connection is no server error
    if (this.#connections.size >= this.#opts.maxConnections) {
      socket.end(
        errorResponse({
          severity: 'FATAL',
          code: '53300',
          message: `sorry, too many clients already (the PGlite server allows ${this.#opts.maxConnections})`,
        }),
        () => socket.destroy(),
      );
      return;
    }
    const id = this.#nextId++;
    const connection = new Connection({
      id,
      socket,
      session: this.#opts.session,
      statuses: this.#statuses,
      idleTimeoutMs: this.#opts.idleInTransactionTimeoutMs,
      idleTimeoutSetting: this.#opts.idleInTransactionTimeoutSetting,
      log: this.#log,
      onCancel: (req) => this.#cancel(req.processId, req.secretKey),
      onClosed: () => this.#connections.delete(connection),
    });
    this.#connections.add(connection);
  }

  #cancel(processId: number, secretKey: number): void {
    for (const c of this.#connections) {
      if (c.processId === processId && c.secretKey === secretKey) c.cancel();
    }
  }
}

/** The ParameterStatus messages PGlite sends a new connection (server_version, TimeZone, ...). */
async function captureParameterStatuses(session: PGliteSession): Promise<Array<[string, string]>> {
  const lease = await session.acquire({ label: 'the PGlite server', settings: new Map() });
  try {
    const chunks: Buffer[] = [];
    await session.pglite.runExclusive(() =>
      session.pglite.execProtocolRawStream(startupMessage({ user: 'postgres', database: 'postgres' }), {
        onRawData: (d) => chunks.push(Buffer.from(d)),
      }),
    );
    return parameterStatuses(Buffer.concat(chunks));
  } finally {
    await lease.release({ reset: false });
  }
}

const BACKEND_PID_BASE = 10_000;

interface ConnectionOptions {
  id: number;
  socket: net.Socket;
  session: PGliteSession;
  statuses: ReadonlyArray<[string, string]>;
  idleTimeoutMs: number;
  idleTimeoutSetting: string | undefined;
  log: (line: string) => void;
  onCancel: (req: { processId: number; secretKey: number }) => void;
  onClosed: () => void;
}

/** One client connection: its protocol state, its turns with the session, its cleanup. */
class Connection implements SessionOwner {
  readonly processId: number;
  readonly secretKey = crypto.randomInt(0, 2 ** 31);
  label: string;
  settings: ReadonlyMap<string, string> = new Map();

  readonly #o: ConnectionOptions;
  readonly #socket: net.Socket;
  readonly #session: PGliteSession;
  readonly #framer = new ClientFramer();
  readonly #scanner = new BackendScanner();
  #pending: ClientFrame[] = [];
  #state: 'startup' | 'ready' | 'closing' | 'closed' = 'startup';
  #pumping = false;
  #lease: SessionLease | null = null;
  #waitAbort: AbortController | null = null;
  #discardUntilSync = false;
  /** Named prepared statements this connection has made: name -> its Parse message. */
  readonly #prepared = new Map<string, Buffer>();
  /** Names prepared in the session during the current turn. */
  readonly #preparedThisTurn = new Set<string>();
  #sessionLocksThisTurn = false;
  #outputCount = 0;
  /** Whether the session is idle (no transaction, no unsynced sequence) as of the last output. */
  #sessionIdle = true;
  #idleTimer: NodeJS.Timeout | null = null;
  #finishing: Promise<void> | null = null;
  readonly #closed: Promise<void>;
  #markClosed!: () => void;

  constructor(o: ConnectionOptions) {
    this.#o = o;
    this.processId = BACKEND_PID_BASE + o.id;
    this.label = `connection ${o.id}`;
    this.#socket = o.socket;
    this.#session = o.session;
    this.#closed = new Promise<void>((resolve) => (this.#markClosed = resolve));
    const socket = o.socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.#beginClose());
    socket.on('end', () => this.#beginClose());
    socket.on('close', () => this.#beginClose());
  }

  /** SessionOwner: someone started waiting while this connection holds the session. */
  contended(): void {
    if (this.#state === 'ready' && !this.#pumping && this.#lease) this.#armIdleTimer();
  }

  /** A CancelRequest for this connection: only a statement still waiting for the session can be canceled. */
  cancel(): void {
    if (this.#waitAbort) this.#waitAbort.abort();
    else
      this.#o.log(
        `${this.label}: cancel request ignored (no statement waiting; a running PGlite statement cannot be interrupted)`,
      );
  }

  /** Sends an error, then closes (rolling back and resetting the session if this connection holds it). */
  terminate(error: ErrorFields): Promise<void> {
    this.#write(errorResponse(error));
    this.#beginClose();
    return this.#closed;
  }

  #write(bytes: Buffer): void {
    if (this.#socket.writable) this.#socket.write(bytes);
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    let frames: ClientFrame[];
    try {
      frames = this.#framer.push(chunk);
    } catch (err) {
      void this.terminate({
        severity: 'FATAL',
        code: '08P01',
        message: `invalid frontend message: ${(err as Error).message}`,
      });
      return;
    }
    for (const frame of frames) {
      if (this.#discardUntilSync) {
        if (frame.type === 'S') {
          this.#discardUntilSync = false;
          this.#write(readyForQuery('I'));
        }
        continue;
      }
      this.#pending.push(frame);
    }
    this.#clearIdleTimer();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#pending.length > 0 && (this.#state === 'startup' || this.#state === 'ready')) {
        if (this.#state === 'startup') {
          await this.#startupMessage(this.#pending.shift()!);
          continue;
        }
        if (!this.#lease) {
          const acquired = await this.#startTurn();
          if (!acquired) continue;
        }
        const batch = this.#takeBatch();
        const before = this.#outputCount;
        await this.#execute(batch);
        if (this.#state !== 'ready') break;
        // A batch without output (a lone Flush) leaves the session as it was.
        if (this.#outputCount !== before)
          this.#sessionIdle = this.#scanner.endsWithReady && this.#scanner.lastStatus === 'I';
        if (this.#sessionIdle) await this.#maybeEndTurn();
      }
    } catch (err) {
      this.#o.log(`${this.label}: ${(err as Error).message}; closing it`);
      this.#write(
        errorResponse({
          severity: 'FATAL',
          code: 'XX000',
          message: `the PGlite server failed: ${(err as Error).message}`,
        }),
      );
      this.#beginClose();
    } finally {
      this.#pumping = false;
    }
    if (this.#state === 'closing') await this.#finishClose();
    else if (this.#lease) this.#armIdleTimer();
  }

  /** Waits for the session; false when the wait was canceled (the pending statement got its error). */
  async #startTurn(): Promise<boolean> {
    this.#waitAbort = new AbortController();
    try {
      this.#lease = await this.#session.acquire(this, this.#waitAbort.signal);
    } catch (err) {
      if (this.#state !== 'ready') return false;
      if (err instanceof SessionWaitAbortedError) {
        this.#cancelPending();
        return false;
      }
      if (err instanceof SessionClosedError) {
        void this.terminate({
          severity: 'FATAL',
          code: '57P01',
          message: 'terminating connection because the embedded database (PGlite) is shutting down',
        });
        return false;
      }
      throw err;
    } finally {
      this.#waitAbort = null;
    }
    this.#preparedThisTurn.clear();
    this.#sessionLocksThisTurn = false;
    this.#sessionIdle = true;
    return this.#state === 'ready';
  }

  /** The pending messages up to and including the first Sync, Query or Terminate (or all of them). */
  #takeBatch(): ClientFrame[] {
    const end = this.#pending.findIndex((f) => f.type === 'S' || f.type === 'Q' || f.type === 'X');
    return this.#pending.splice(0, end < 0 ? this.#pending.length : end + 1);
  }

  async #execute(batch: ClientFrame[]): Promise<void> {
    let run: Buffer[] = [];
    const flush = async (): Promise<void> => {
      if (run.length === 0) return;
      const bytes = run.length === 1 ? run[0]! : Buffer.concat(run);
      run = [];
      await this.#run(bytes, (d) => this.#forward(d));
    };
    for (const frame of batch) {
      if (frame.type === 'X') {
        await flush();
        this.#beginClose();
        return;
      }
      const sql = sqlText(frame);
      if (sql !== null && SESSION_ADVISORY_LOCK.test(sql)) this.#sessionLocksThisTurn = true;
      const ref = statementReference(frame);
      if (ref === null) {
        run.push(frame.bytes);
        continue;
      }
      if (ref.action === 'close') {
        run.push(frame.bytes);
        this.#prepared.delete(ref.name);
        this.#preparedThisTurn.delete(ref.name);
        continue;
      }
      await flush();
      if (this.#prepared.has(ref.name) && !this.#preparedThisTurn.has(ref.name)) await this.#prepareAgain(ref.name);
      if (ref.action === 'use') {
        run.push(frame.bytes);
        continue;
      }
      // Parse with a name, alone, to learn whether it made the statement (ParseComplete '1').
      const out: Buffer[] = [];
      await this.#run(frame.bytes, (d) => {
        out.push(d);
        this.#forward(d);
      });
      if (out.length > 0 && out[0]![0] === 0x31 && !this.#prepared.has(ref.name)) {
        this.#prepared.set(ref.name, Buffer.from(frame.bytes));
        this.#preparedThisTurn.add(ref.name);
      }
    }
    await flush();
  }

  /** Prepares a statement from an earlier turn again; its ParseComplete is ours, an error is the client's. */
  async #prepareAgain(name: string): Promise<void> {
    const out: Buffer[] = [];
    await this.#run(this.#prepared.get(name)!, (d) => out.push(d));
    const bytes = Buffer.concat(out);
    if (bytes.length > 0 && bytes[0] === 0x31) {
      this.#preparedThisTurn.add(name);
      if (bytes.length > 5) this.#forward(bytes.subarray(5));
    } else if (bytes.length > 0) {
      this.#forward(bytes);
    }
  }

  #forward(data: Buffer): void {
    this.#outputCount++;
    this.#scanner.push(data);
    this.#write(data);
  }

  async #run(bytes: Buffer, sink: (data: Buffer) => void): Promise<void> {
    const { pglite } = this.#session;
    await pglite.runExclusive(() => pglite.execProtocolRawStream(bytes, { onRawData: (d) => sink(Buffer.from(d)) }));
  }

  /** The session is idle: end the turn, unless the connection still holds session-level advisory locks. */
  async #maybeEndTurn(): Promise<void> {
    if (this.#sessionLocksThisTurn) {
      const { rows } = await this.#session.pglite.query<{ n: number }>(
        "select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
      );
      if ((rows[0]?.n ?? 0) > 0) return;
    }
    const lease = this.#lease!;
    this.#lease = null;
    this.#clearIdleTimer();
    await lease.release({ reset: true });
  }

  /** A canceled wait: the statement that waited fails with 57014, as a lock wait would on Postgres. */
  #cancelPending(): void {
    this.#write(
      errorResponse({
        severity: 'ERROR',
        code: '57014',
        message: 'canceling statement due to user request',
        detail: 'The statement was waiting for the embedded database (PGlite), which another connection held.',
      }),
    );
    if (this.#pending[0]?.type === 'Q') {
      this.#pending.shift();
      this.#write(readyForQuery('I'));
      return;
    }
    const sync = this.#pending.findIndex((f) => f.type === 'S');
    if (sync >= 0) {
      this.#pending.splice(0, sync + 1);
      this.#write(readyForQuery('I'));
    } else {
      this.#pending = [];
      this.#discardUntilSync = true;
    }
  }

  async #startupMessage(frame: ClientFrame): Promise<void> {
    const code = untypedCode(frame);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      this.#write(Buffer.from('N'));
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      this.#o.onCancel(parseCancelRequest(frame));
      this.#beginClose();
      return;
    }
    if (code >>> 16 !== 3) {
      void this.terminate({
        severity: 'FATAL',
        code: '0A000',
        message: `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the PGlite server speaks 3.0`,
      });
      return;
    }
    const startup = parseStartup(frame);
    const unsupported = [...startup.parameters.keys()].filter((k) => k.startsWith('_pq_.'));
    if (startup.minorVersion > 0 || unsupported.length > 0) this.#write(negotiateProtocolVersion(unsupported));
    const app = startup.parameters.get('application_name');
    if (app) this.label = `connection ${this.#o.id} (${app})`;
    try {
      this.settings = startupSettings(startup.parameters);
      // Postgres refuses bad run-time parameters at connect time; so do we (a turn applies them).
      const lease = await this.#session.acquire(this);
      await lease.release({ reset: false });
    } catch (err) {
      const e = err as Error & { code?: string };
      void this.terminate({
        severity: 'FATAL',
        code: err instanceof ProtocolViolation ? '22023' : (e.code ?? '22023'),
        message: `invalid startup parameters: ${e.message}`,
      });
      return;
    }
    if (this.#state !== 'startup') return;
    this.#state = 'ready';
    const statuses = this.#o.statuses.map(([name, value]) => {
      const own = [...this.settings].find(([n]) => n.toLowerCase() === name.toLowerCase());
      return parameterStatus(name, own ? own[1] : value);
    });
    this.#write(
      Buffer.concat([
        authenticationOk(),
        ...statuses,
        backendKeyData(this.processId, this.secretKey),
        readyForQuery('I'),
      ]),
    );
  }

  #armIdleTimer(): void {
    const ms = this.#o.idleTimeoutMs;
    if (ms <= 0 || this.#idleTimer || this.#session.waiting === 0) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#pumping || !this.#lease || this.#session.waiting === 0) return;
      const waiting = this.#session.waiting;
      this.#o.log(
        `${this.label}: terminated after holding the session idle for ${ms / 1000} s while ${waiting} other(s) waited`,
      );
      void this.terminate({
        severity: 'FATAL',
        code: '25P03',
        message: `terminating connection due to idle-in-transaction timeout: it held the embedded database (PGlite) idle for ${ms / 1000} s while ${waiting} other connection(s) waited`,
        hint: `Commit or roll back sooner${this.#o.idleTimeoutSetting ? `, or raise ${this.#o.idleTimeoutSetting}` : ''}. PGlite is one session: an open transaction blocks every other client.`,
      });
    }, ms);
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #beginClose(): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#clearIdleTimer();
    this.#pending = [];
    this.#waitAbort?.abort();
    if (this.#socket.writable) this.#socket.end();
    if (!this.#pumping) void this.#finishClose();
  }

  #finishClose(): Promise<void> {
    this.#finishing ??= (async () => {
      const lease = this.#lease;
      this.#lease = null;
      if (lease) {
        try {
          // Whatever it was in the middle of (a transaction, an unsynced extended sequence) is
          // abandoned: ROLLBACK aborts it (or is ignored after an error), Sync ends the sequence.
          await this.#run(Buffer.concat([queryMessage('rollback'), syncMessage()]), () => undefined);
        } catch (err) {
          this.#o.log(`${this.label}: rolling back after disconnect failed: ${(err as Error).message}`);
        }
        await lease.release({ reset: true });
      }
      this.#state = 'closed';
      this.#socket.destroy();
      this.#o.onClosed();
      this.#markClosed();
    })();
    return this.#finishing;
  }
}
