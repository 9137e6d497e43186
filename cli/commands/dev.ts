/**
 * `updraft dev`: the embedded stack in one command. Temporal dev server with the Web UI and state
 * in .updraft/temporal.db, PGlite under .updraft/pglite — used in-process by this process's worker
 * and served on a loopback socket to the CLI in other terminals, one session in turns
 * (db/pglite-server.ts) — and the worker. Ctrl-C stops everything; the next start finds the
 * earlier runs, and stops a Temporal server a killed `updraft dev` left behind.
 * `updraft worker`: a worker only, against TEMPORAL_ADDRESS and DATABASE_URL (or a running dev).
 */
import fs from 'node:fs';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../worker/config.js';
import { serveEmbeddedDatabase, type ServedPGlite } from '../../worker/embedded-database.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { migrateToLatest } from '../../db/migrate.js';
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
      const log = (line: string): void => void process.stderr.write(`[updraft dev] ${line}\n`);
      mkdirSync(config.home, { recursive: true });

      let served: ServedPGlite | null = null;
      let stack: Stack | null = null;
      try {
        if (!config.databaseUrl) served = await serveEmbeddedDatabase(config, { holder: 'updraft dev', log });
        stack = await startStack({
          config,
          embeddedTemporal: 'persistent',
          ui: true,
          log,
          holder: 'updraft dev',
          ...(served ? { database: served.database, databaseDescription: served.description } : {}),
        });
        const info: DevInfo = {
          pid: process.pid,
          databaseUrl: served?.url ?? config.databaseUrl,
          temporalAddress: stack.temporalAddress,
          uiUrl: stack.uiUrl,
          database: served ? 'pglite' : 'postgres',
          dagsFolder: config.dagsFolder,
        };
        fs.writeFileSync(devInfoPath(config), JSON.stringify(info, null, 2));
        const database = served ? `PGlite at ${config.pglitePath}` : 'Postgres (DATABASE_URL)';
        process.stdout.write(
          `\nUpdraft dev is up.\n  Temporal UI:  ${stack.uiUrl ?? '(external Temporal)'}\n  Temporal:     ${stack.temporalAddress}\n` +
            `  Database:     ${database}\n` +
            `  DAGs folder:  ${config.dagsFolder} (${stack.sync.dags} DAGs${stack.sync.importErrors ? `, ${stack.sync.importErrors} import errors` : ''})\n` +
            `  Task logs:    ${config.logsFolder}\n\nTry: npx updraft dags trigger <dag_id> --wait     (Ctrl-C stops everything)\n`,
        );
        const sig = await untilSignal();
        log(`${sig}: stopping the worker, Temporal and the database...`);
      } finally {
        fs.rmSync(devInfoPath(config), { force: true });
        await stack?.stop();
        await served?.stop();
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
      if (!databaseUrl)
        throw new CliError(
          'set DATABASE_URL (or start `updraft dev`): a standalone worker cannot share an embedded PGlite',
        );
      const log = (line: string): void => void process.stderr.write(`[updraft worker] ${line}\n`);
      const servedByDev = !config.databaseUrl && dev?.database === 'pglite';
      // A worker beside a running `updraft dev` parses the same folder, or the two would flip each other's DAGs inactive.
      const dagsFolder = stackDagsFolder(config);
      const stack = await startStack({
        config: { ...config, temporalAddress: address, databaseUrl, dagsFolder },
        log,
        ...(servedByDev
          ? {
              databaseDescription: `PGlite served by \`updraft dev\` (pid ${dev.pid}) at ${new URL(databaseUrl).host}`,
              databaseNotifications: false,
            }
          : {}),
      });
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
        process.stdout.write(
          applied.length
            ? `Applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join('\n')}\n`
            : 'Database is up to date\n',
        );
      } finally {
        await h.close();
      }
    });
}
