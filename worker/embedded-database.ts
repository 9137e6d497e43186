/**
 * `updraft dev`'s database when DATABASE_URL is unset: PGlite under .updraft/pglite, used in-process
 * by the dev process itself and served on a loopback socket to every other process (the CLI,
 * `updraft worker`), all taking turns with its one session (db/pglite-server.ts).
 */
import { PGlite } from '@electric-sql/pglite';
import { openSharedPGlite, type DatabaseHandle } from '../db/connect.js';
import { PGliteServer } from '../db/pglite-server.js';
import { PGliteSession } from '../db/pglite-session.js';
import type { UpdraftConfig } from './config.js';
import { lockPglite } from './pglite-lock.js';

export interface ServedPGlite {
  /** For this process: in-process turns on the shared session. */
  readonly database: DatabaseHandle;
  /** For other processes: postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable */
  readonly url: string;
  /** For logs and banners. */
  readonly description: string;
  readonly server: PGliteServer;
  /** Stops serving (rolling back what clients had open), closes PGlite, releases the lock. */
  stop(): Promise<void>;
}

export async function serveEmbeddedDatabase(
  config: UpdraftConfig,
  opts: { holder: string; log?: (line: string) => void; port?: number },
): Promise<ServedPGlite> {
  const log = opts.log ?? (() => undefined);
  const release = lockPglite(config.pglitePath, opts.holder);
  let pglite: PGlite | null = null;
  try {
    pglite = new PGlite(config.pglitePath);
    await pglite.waitReady;
    const session = new PGliteSession(pglite, { log: (line) => log(`PGlite: ${line}`) });
    const server = await PGliteServer.start({
      session,
      port: opts.port ?? 0,
      idleInTransactionTimeoutMs: config.pgliteIdleInTransactionTimeoutSeconds * 1000,
      idleInTransactionTimeoutSetting: 'UPDRAFT_PGLITE_IDLE_IN_TRANSACTION_TIMEOUT',
      log: (line) => log(`PGlite server: ${line}`),
    });
    const database = openSharedPGlite(session);
    const opened = pglite;
    return {
      database,
      url: server.url,
      description: `PGlite at ${config.pglitePath}, served to other processes on ${server.host}:${server.port}`,
      server,
      stop: async () => {
        try {
          // Clients first: one idle in a transaction would otherwise keep the session from the close below.
          await server.stop();
          await database.close();
          session.close();
          await opened.close();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    await pglite?.close().catch(() => undefined);
    release();
    throw err;
  }
}
