/**
 * `updraft dev`: the embedded stack in one command. Temporal dev server with the Web UI and state
 * in .updraft/temporal.db, PGlite under .updraft/pglite served on a local socket (so the CLI in
 * another terminal can read it), the worker. Ctrl-C stops everything; the next start finds the
 * earlier runs. `updraft worker`: a worker only, against TEMPORAL_ADDRESS and DATABASE_URL.
 */
import fs from 'node:fs';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { loadConfig } from '../../worker/config.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { freePort, isPortFree } from '../../worker/temporal-server.js';
import { migrateToLatest } from '../../db/migrate.js';
import { lockPglite } from '../../worker/pglite-lock.js';
import { CliError } from '../output.js';
import { devInfoPath, openCliDatabase, readDevInfo, stackDagsFolder, type DevInfo } from '../runtime.js';

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string): void => resolve(sig);
    process.once('SIGINT', () => on('SIGINT'));
    process.once('SIGTERM', () => on('SIGTERM'));
  });
}

export function registerDevCommands(program: Command): void {
  program
    .command('dev')
    .description('Start the embedded stack: Temporal dev server + Web UI, PGlite (or DATABASE_URL), and a worker')
    .action(async () => {
      const config = loadConfig();
      const running = readDevInfo(config);
      if (running) throw new CliError(`updraft dev is already running (pid ${running.pid}); stop it first`);
      if (!config.temporalAddress) {
        if (!(await isPortFree(config.devTemporalPort))) {
          throw new CliError(`port ${config.devTemporalPort} is in use; set UPDRAFT_DEV_TEMPORAL_PORT, or TEMPORAL_ADDRESS to use that server`);
        }
        if (!(await isPortFree(config.devUiPort))) throw new CliError(`port ${config.devUiPort} (Temporal UI) is in use; set UPDRAFT_DEV_UI_PORT`);
      }
      const log = (line: string): void => void process.stderr.write(`[updraft dev] ${line}\n`);
      mkdirSync(config.home, { recursive: true });

      // PGlite is single-process: serve it on a local socket and let everyone (this worker, the CLI) use that.
      let socket: PGLiteSocketServer | null = null;
      let pglite: PGlite | null = null;
      let databaseUrl = config.databaseUrl;
      let release: (() => void) | null = null;
      if (!databaseUrl) {
        release = lockPglite(config.pglitePath, 'updraft dev');
        pglite = new PGlite(config.pglitePath);
        await pglite.waitReady;
        const port = await freePort();
        socket = new PGLiteSocketServer({ db: pglite, port, host: '127.0.0.1', maxConnections: 32 });
        await socket.start();
        databaseUrl = `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
        log(`PGlite at ${config.pglitePath}, served on 127.0.0.1:${port}`);
      }
      let stack: Stack | null = null;
      try {
        stack = await startStack({ config: { ...config, databaseUrl }, embeddedTemporal: 'persistent', ui: true, log, holder: 'updraft dev' });
        const info: DevInfo = { pid: process.pid, databaseUrl, temporalAddress: stack.temporalAddress, uiUrl: stack.uiUrl, dagsFolder: config.dagsFolder };
        fs.writeFileSync(devInfoPath(config), JSON.stringify(info, null, 2));
        process.stdout.write(
          `\nUpdraft dev is up.\n  Temporal UI:  ${stack.uiUrl ?? '(external Temporal)'}\n  Temporal:     ${stack.temporalAddress}\n` +
            `  DAGs folder:  ${config.dagsFolder} (${stack.sync.dags} DAGs${stack.sync.importErrors ? `, ${stack.sync.importErrors} import errors` : ''})\n` +
            `  Task logs:    ${config.logsFolder}\n\nTry: npx updraft dags trigger <dag_id> --wait     (Ctrl-C stops everything)\n`,
        );
        const sig = await untilSignal();
        log(`${sig}: stopping the worker, Temporal and the database...`);
      } finally {
        fs.rmSync(devInfoPath(config), { force: true });
        await stack?.stop();
        await socket?.stop();
        await pglite?.close();
        release?.();
      }
      log('stopped');
    });

  program
    .command('worker')
    .description('Run a worker against TEMPORAL_ADDRESS (or a running `updraft dev`) and DATABASE_URL')
    .action(async () => {
      const config = loadConfig();
      const dev = readDevInfo(config);
      const address = config.temporalAddress ?? dev?.temporalAddress;
      const databaseUrl = config.databaseUrl ?? dev?.databaseUrl ?? null;
      if (!address) throw new CliError('set TEMPORAL_ADDRESS (or start `updraft dev`) for the worker to connect to');
      if (!databaseUrl) throw new CliError('set DATABASE_URL (or start `updraft dev`): a standalone worker cannot share an embedded PGlite');
      const log = (line: string): void => void process.stderr.write(`[updraft worker] ${line}\n`);
      // A worker beside a running `updraft dev` parses the same folder, or the two would flip each other's DAGs inactive.
      const dagsFolder = stackDagsFolder(config);
      const stack = await startStack({ config: { ...config, temporalAddress: address, databaseUrl, dagsFolder }, log });
      try {
        const sig = await untilSignal();
        log(`${sig}: stopping`);
      } finally {
        await stack.stop();
      }
    });

  const db = program.command('db').description('Database management');
  db.command('migrate')
    .description('Apply every pending migration (PGlite under .updraft/ unless DATABASE_URL is set)')
    .action(async () => {
      const h = await openCliDatabase(loadConfig(), { migrate: false });
      try {
        const applied = await migrateToLatest(h.db);
        process.stdout.write(applied.length ? `Applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join('\n')}\n` : 'Database is up to date\n');
      } finally {
        await h.close();
      }
    });
}
