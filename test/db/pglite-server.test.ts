/**
 * The PGlite server (db/pglite-server.ts) with real PGlite and real node-postgres clients: one
 * session shared in turns must behave, for each client, like a Postgres connection of its own —
 * no interleaved protocol messages, transactions and locks that mean what they say, no session
 * state passed from one client to the next, cleanup after clients that vanish. Where Postgres and
 * the server must agree, the same test runs on the real Postgres too.
 */
import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { openSharedPGlite } from '../../db/connect.js';
import { PGliteServer, type PGliteServerOptions } from '../../db/pglite-server.js';
import { PGliteSession } from '../../db/pglite-session.js';
import { startupMessage, typedMessage } from '../../db/pg-wire.js';
import { inTransaction } from '../../db/transaction.js';
import { createTestDatabase } from '../helpers/servers.js';
import { rejectionOf } from './test-database.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('db/pglite-server', function () {
  this.timeout(60_000);
  let pglite: PGlite;
  let session: PGliteSession;
  const servers: PGliteServer[] = [];
  const clients: pg.Client[] = [];

  before(async () => {
    pglite = new PGlite();
    await pglite.waitReady;
    session = new PGliteSession(pglite);
  });

  after(async () => {
    await pglite.close();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function serve(opts: Partial<PGliteServerOptions> = {}): Promise<PGliteServer> {
    const server = await PGliteServer.start({ session, ...opts });
    servers.push(server);
    return server;
  }

  async function connect(url: string, config: pg.ClientConfig = {}): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url, ...config });
    c.on('error', () => undefined); // asserted where a test expects one
    await c.connect();
    clients.push(c);
    return c;
  }

  /** A server, an admin client, and client `a` in a transaction that inserted 1 into a new `table`. */
  async function clientMidTransaction(
    table: string,
  ): Promise<{ server: PGliteServer; admin: pg.Client; a: pg.Client }> {
    const server = await serve();
    const admin = await connect(server.url);
    await admin.query(`create table ${table} (x int)`);
    const a = await connect(server.url);
    await a.query('begin');
    await a.query(`insert into ${table} values (1)`);
    return { server, admin, a };
  }

  it('keeps each client’s extended-protocol sequence together: 16 clients, 1–17 parameters, messages up to 300 KB', async () => {
    const server = await serve();
    const cs = await Promise.all(Array.from({ length: 16 }, () => connect(server.url)));
    const problems: string[] = [];
    await Promise.all(
      cs.map(async (c, who) => {
        for (let j = 0; j < 20; j++) {
          const n = 1 + ((who + j) % 16);
          const params = Array.from({ length: n }, (_, x) => x + who);
          const big = 'x'.repeat(j % 3 === 0 ? 300_000 : 10);
          const text = `select ${params.map((_, x) => `$${x + 1}::int`).join(' + ')} as s, ${who} as who, length($${n + 1}::text) as len`;
          try {
            const { rows } = await c.query(text, [...params, big]);
            const want = { s: params.reduce((a, b) => a + b, 0), who, len: big.length };
            if (JSON.stringify(rows[0]) !== JSON.stringify(want))
              problems.push(`client ${who}: ${JSON.stringify(rows[0])} != ${JSON.stringify(want)}`);
          } catch (err) {
            problems.push(`client ${who}: ${(err as Error).message}`);
          }
        }
      }),
    );
    expect(problems).to.deep.equal([]);
  });

  for (const target of ['PGlite server', 'Postgres'] as const) {
    for (const lock of ['select ... for update', 'pg_advisory_xact_lock'] as const) {
      it(`16 clients × 5 read-modify-write increments in transactions (${lock}) add up to 80 on ${target}`, async () => {
        let url: string;
        let drop: (() => Promise<void>) | null = null;
        if (target === 'Postgres') {
          const h = await createTestDatabase('postgres');
          url = h.url!;
          drop = h.close;
        } else {
          url = (await serve()).url;
        }
        try {
          const admin = await connect(url);
          await admin.query('drop table if exists counter');
          await admin.query('create table counter (id int primary key, n int not null)');
          await admin.query('insert into counter values (1, 0)');
          const cs = await Promise.all(Array.from({ length: 16 }, () => connect(url)));
          await Promise.all(
            cs.map(async (c) => {
              for (let i = 0; i < 5; i++) {
                await c.query('begin');
                if (lock === 'pg_advisory_xact_lock') await c.query('select pg_advisory_xact_lock(7)');
                const { rows } = await c.query(
                  `select n from counter where id = 1${lock === 'select ... for update' ? ' for update' : ''}`,
                );
                await sleep(2); // others get their chance to interleave, if they can
                await c.query('update counter set n = $1 where id = 1', [rows[0].n + 1]);
                await c.query('commit');
              }
            }),
          );
          expect((await admin.query('select n from counter')).rows[0].n).to.equal(80);
        } finally {
          await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
          await drop?.();
        }
      });
    }
  }

  it('shares one lock between in-process Kysely transactions and socket clients', async () => {
    const server = await serve();
    const handle = openSharedPGlite(session);
    try {
      const admin = await connect(server.url);
      await admin.query('create table shared_counter (id int primary key, n int not null)');
      await admin.query('insert into shared_counter values (1, 0)');
      const socketClients = await Promise.all(Array.from({ length: 4 }, () => connect(server.url)));
      const viaSocket = socketClients.map(async (c) => {
        for (let i = 0; i < 10; i++) {
          await c.query('begin');
          const { rows } = await c.query('select n from shared_counter where id = 1');
          await sleep(1);
          await c.query('update shared_counter set n = $1 where id = 1', [rows[0].n + 1]);
          await c.query('commit');
        }
      });
      const inProcess = Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 10; i++) {
          await inTransaction(handle.db, async (trx) => {
            const { rows } = await sql<{ n: number }>`select n from shared_counter where id = 1`.execute(trx);
            await sleep(1);
            await sql`update shared_counter set n = ${rows[0]!.n + 1} where id = 1`.execute(trx);
          });
        }
      });
      await Promise.all([...viaSocket, ...inProcess]);
      expect((await admin.query('select n from shared_counter')).rows[0].n).to.equal(80);
    } finally {
      await handle.close();
    }
  });

  it('rolls back the transaction of a client that disconnects, and serves the one waiting behind it', async () => {
    const { admin, a } = await clientMidTransaction('gone');
    const waiting = admin.query('insert into gone values (2)'); // waits for a's turn to end
    await sleep(100);
    (a as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await waiting;
    expect((await admin.query('select x from gone order by x')).rows).to.deep.equal([{ x: 2 }]);
    expect(pglite.isInTransaction()).to.equal(false);
  });

  it('rolls back an unsynced extended-protocol sequence of a client that disconnects (a Sync would have committed it)', async () => {
    const server = await serve();
    const admin = await connect(server.url);
    await admin.query('create table unsynced (x int)');
    const raw = await rawConnection(server.port);
    // Parse + Bind + Execute of an insert, no Sync: on Postgres the insert is in an open implicit transaction.
    raw.write(Buffer.concat([parseMessage('insert into unsynced values (7)'), bindMessage(), executeMessage()]));
    await raw.readUntil((b) => b.includes(Buffer.from('INSERT 0 1')));
    const waiting = admin.query('select count(*)::int as n from unsynced');
    await sleep(100);
    raw.socket.destroy();
    expect((await waiting).rows[0].n).to.equal(0);
    expect(pglite.isInTransaction()).to.equal(false);
  });

  it('gives no client the session state another left behind (SET, temp tables, SQL PREPARE), and re-applies each client’s startup parameters', async () => {
    const server = await serve();
    const a = await connect(server.url);
    const b = await connect(server.url);
    const tokyo = await connect(server.url, { options: '-c TimeZone=Asia/Tokyo' });
    await a.query("set application_name = 'leaked'");
    await a.query('create temp table leaked_temp (x int)');
    await a.query('prepare leaked_stmt as select 1');
    expect((await b.query('show application_name')).rows[0].application_name).to.equal('');
    expect((await b.query("select to_regclass('pg_temp.leaked_temp') as t")).rows[0].t).to.equal(null);
    const notPrepared = (await rejectionOf(b.query('execute leaked_stmt'))).message;
    expect(notPrepared).to.equal('prepared statement "leaked_stmt" does not exist');
    // The state ends with the turn for its own client too (documented: use SET LOCAL or startup options).
    expect((await a.query('show application_name')).rows[0].application_name).to.equal('');
    expect((await tokyo.query('show timezone')).rows[0].TimeZone).to.equal('Asia/Tokyo');
    expect((await b.query('show timezone')).rows[0].TimeZone).to.equal('UTC');
    expect((await tokyo.query("select to_char(timestamptz '2026-01-01 00:00:00+00', 'HH24') as h")).rows[0].h).to.equal(
      '09',
    );
  });

  it('keeps each client’s named prepared statements, even when two clients use the same name', async () => {
    const server = await serve();
    const a = await connect(server.url);
    const b = await connect(server.url);
    for (let i = 0; i < 5; i++) {
      const [ra, rb] = await Promise.all([
        a.query({ name: 'stmt', text: 'select $1::int * 10 as v', values: [i] }),
        b.query({ name: 'stmt', text: "select $1::text || '!' as v", values: [`b${i}`] }),
      ]);
      expect(ra.rows[0].v).to.equal(i * 10);
      expect(rb.rows[0].v).to.equal(`b${i}!`);
    }
  });

  it('lets a session-level advisory lock hold the session until it is unlocked', async () => {
    const server = await serve();
    const a = await connect(server.url);
    const b = await connect(server.url);
    await a.query('select pg_advisory_lock(42)');
    let bGotIt: boolean | null = null;
    const bTries = b.query('select pg_try_advisory_lock(42) as ok').then((r) => (bGotIt = r.rows[0].ok as boolean));
    await sleep(200);
    expect((await a.query('select 1 as one')).rows[0].one).to.equal(1); // a still has the session
    expect(bGotIt).to.equal(null);
    await a.query('select pg_advisory_unlock(42)');
    await bTries;
    expect(bGotIt).to.equal(true); // only after a let go, never both at once
    await b.query('select pg_advisory_unlock(42)');
  });

  it('terminates a client that sits idle in a transaction while others wait, naming the setting', async () => {
    const server = await serve({
      idleInTransactionTimeoutMs: 500,
      idleInTransactionTimeoutSetting: 'UPDRAFT_PGLITE_IDLE_IN_TRANSACTION_TIMEOUT',
    });
    const a = await connect(server.url);
    const b = await connect(server.url);
    const errors: Array<Error & { code?: string; hint?: string }> = [];
    a.on('error', (err) => errors.push(err));
    await a.query('begin');
    await a.query('create table never_committed (x int)');
    const started = Date.now();
    await b.query('select 1');
    const waited = Date.now() - started;
    expect(waited).to.be.within(450, 10_000);
    await sleep(50);
    expect(errors[0]?.code).to.equal('25P03');
    expect(errors[0]!.message).to.match(
      /^terminating connection due to idle-in-transaction timeout: it held the embedded database \(PGlite\) idle for 0.5 s while 1 other connection\(s\) waited$/,
    );
    expect(errors[0]!.hint).to.contain('UPDRAFT_PGLITE_IDLE_IN_TRANSACTION_TIMEOUT');
    expect((await b.query("select to_regclass('never_committed') as t")).rows[0].t).to.equal(null);
  });

  it('does not time out an idle client in a transaction while nobody waits', async () => {
    const server = await serve({ idleInTransactionTimeoutMs: 200 });
    const a = await connect(server.url);
    await a.query('begin');
    await sleep(500);
    expect((await a.query('select 1 as one')).rows[0].one).to.equal(1);
    await a.query('commit');
  });

  it('cancels a statement that waits for the session (57014) and serves the client afterwards', async () => {
    const server = await serve();
    const a = await connect(server.url);
    const b = await connect(server.url);
    await a.query('begin');
    const waiting = rejectionOf(b.query('select 1 as one')) as Promise<Error & { code?: string }>;
    await sleep(100);
    const ids = b as unknown as { processID: number; secretKey: number };
    await sendCancel(server.port, ids.processID, ids.secretKey);
    const err = await waiting;
    expect(err.code).to.equal('57014');
    expect(err.message).to.equal('canceling statement due to user request');
    await a.query('commit');
    expect((await b.query('select 2 as two')).rows[0].two).to.equal(2);
  });

  it('declines SSL, refuses bad startup parameters at connect time, and counts connections', async () => {
    const server = await serve({ maxConnections: 2 });
    const raw = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])); // SSLRequest
    const answer = await new Promise<Buffer>((r) => raw.once('data', r));
    expect(answer.toString()).to.equal('N');
    raw.destroy();
    const bad = new pg.Client({ connectionString: server.url, options: '-c no_such_setting=1' });
    const refused = (await rejectionOf(bad.connect())).message;
    expect(refused).to.equal('invalid startup parameters: unrecognized configuration parameter "no_such_setting"');
    await connect(server.url);
    await connect(server.url);
    const third = new pg.Client({ connectionString: server.url });
    const full = (await rejectionOf(third.connect())).message;
    expect(full).to.equal('sorry, too many clients already (the PGlite server allows 2)');
  });

  it('rolls back what clients have open when it stops', async () => {
    const { server } = await clientMidTransaction('at_stop');
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    expect(pglite.isInTransaction()).to.equal(false);
    expect((await pglite.query<{ n: number }>('select count(*)::int as n from at_stop')).rows[0]!.n).to.equal(0);
  });
});

// ---- raw protocol, for what node-postgres cannot do on purpose ----

interface RawConnection {
  socket: net.Socket;
  write(bytes: Buffer): void;
  readUntil(done: (received: Buffer) => boolean): Promise<Buffer>;
}

async function rawConnection(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let received = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    for (const w of waiters.splice(0)) w();
  });
  const conn: RawConnection = {
    socket,
    write: (bytes) => socket.write(bytes),
    readUntil: async (done) => {
      while (!done(received)) await new Promise<void>((r) => waiters.push(r));
      const out = received;
      received = Buffer.alloc(0);
      return out;
    },
  };
  conn.write(startupMessage({ user: 'postgres', database: 'postgres' }));
  await conn.readUntil((b) => b.length >= 6 && b[b.length - 6] === 0x5a); // ReadyForQuery
  return conn;
}

function parseMessage(text: string): Buffer {
  return typedMessage('P', Buffer.concat([Buffer.from('\0'), Buffer.from(`${text}\0`), Buffer.from([0, 0])]));
}

function bindMessage(): Buffer {
  return typedMessage('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
}

function executeMessage(): Buffer {
  return typedMessage('E', Buffer.from([0, 0, 0, 0, 0]));
}

async function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(80877102, 4);
  msg.writeInt32BE(processId, 8);
  msg.writeInt32BE(secretKey, 12);
  socket.write(msg);
  await new Promise((r) => socket.once('close', r));
}
