/**
 * Assembles a running Updraft: database (PGlite or Postgres, migrated), Temporal (the embedded dev
 * server or TEMPORAL_ADDRESS), the DAG bag synced to the database, and a worker. Used by
 * `updraft dev`, `updraft worker`, `updraft dags test`, the tests and the benchmarks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Executor } from '../activities/executors/types.js';
import { artifactStoreCredentialEnv, artifactStoreEnv, type UpdraftConfig } from './config.js';
import { artifactStoreFromEnv } from '../artifacts/index.js';
import { openLineageFromEnv } from '../activities/lineage/openlineage-transport.js';
import { DagBag } from './dag-bag.js';
import { createVersionedFunctionResolver } from './dag-functions.js';
import { DagProcessor } from './dag-processor.js';
import { Scheduler } from './scheduler.js';
import { syncDagBag, type SyncResult } from './dag-sync.js';
import { GpuAllocator } from '../activities/gpu-allocator.js';
import { gpuTaskQueue } from '../engine/queues.js';
import { detectGpus, type GpuInventory } from './gpu-inventory.js';
import { lockPglite } from './pglite-lock.js';
import { startDevServer, type DevServer } from './temporal-server.js';
import { createUpdraftWorker } from './worker.js';
import { startAssetServices, type AssetServices } from './asset-services.js';
import type { DagSpec } from '../spec/dag-spec.js';

export interface StackOptions {
  config: UpdraftConfig;
  /** Embedded Temporal: keep state in .updraft/temporal.db ('persistent') or in memory. */
  embeddedTemporal?: 'persistent' | 'ephemeral';
  /** Serve the Temporal Web UI (embedded server only). */
  ui?: boolean;
  worker?: boolean;
  executors?: Partial<Record<string, Executor>>;
  log?: (line: string) => void;
  /** GPU inventory; default: detected (UPDRAFT_GPU_DEVICES or nvidia-smi). */
  gpu?: GpuInventory;
  /** Named in the embedded database's lock file ("updraft dags test", ...). */
  holder?: string;
  /** Keep the DAG bag in step with the folder while the worker runs (default: with a worker). */
  dagProcessor?: boolean;
  /** An open database to use instead of opening one (`updraft dev`'s served PGlite); the caller closes it. */
  database?: DatabaseHandle;
  /** How the log names the database; default: PGlite's path, or Postgres's host and database. */
  databaseDescription?: string;
  /**
   * With a worker: start data-aware runs and run the DAGs' asset watchers (worker/asset-services.ts).
   * Default true; `updraft dags test` runs one DAG and leaves them off.
   */
  assets?: boolean;
  /** LISTEN for asset events on DATABASE_URL (Postgres only; not PGlite served by `updraft dev`). Default true. */
  databaseNotifications?: boolean;
}

export interface Stack {
  config: UpdraftConfig;
  database: DatabaseHandle;
  client: Client;
  bag: DagBag;
  /** The first parse's sync. */
  sync: SyncResult;
  /** Re-parses the folder as it changes (null: no worker, or turned off). */
  dagProcessor: DagProcessor | null;
  /** Keeps one Temporal Schedule per scheduled DAG (null: no worker, or UPDRAFT_SCHEDULER off). */
  scheduler: Scheduler | null;
  temporalAddress: string;
  uiUrl: string | null;
  devServer: DevServer | null;
  worker: Worker | null;
  /** The worker's data-aware runs and asset watchers; null without a worker or with `assets: false`. */
  assets: AssetServices | null;
  /** Stops the worker, Temporal (if embedded) and the database, in that order. */
  stop(): Promise<void>;
}

export async function connectTemporal(address: string, namespace: string, timeoutMs = 60_000): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.describeNamespace({ namespace });
      return connection;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(
    `cannot reach Temporal at ${address} (namespace ${namespace}): ${(lastError as Error)?.message ?? 'timeout'}`,
  );
}

/** "PGlite at <dir>" or "Postgres at <host:port>/<db>" (no credentials). */
export function describeDatabase(database: DatabaseHandle, config: UpdraftConfig): string {
  if (database.kind === 'pglite') return `PGlite at ${config.pglitePath}`;
  try {
    const url = new URL(config.databaseUrl ?? '');
    return `Postgres at ${url.host}${url.pathname}`;
  } catch {
    return 'Postgres (DATABASE_URL)';
  }
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const { config } = opts;
  const log = opts.log ?? (() => undefined);
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`shutdown: ${(err as Error).message}`);
      }
    }
    cleanups.length = 0;
  };
  try {
    fs.mkdirSync(config.home, { recursive: true });
    let database = opts.database;
    if (!database) {
      if (!config.databaseUrl) {
        const release = lockPglite(config.pglitePath, opts.holder ?? 'updraft');
        cleanups.push(async () => release());
      }
      const opened = await openDatabase(
        config.databaseUrl ? { url: config.databaseUrl } : { pglitePath: config.pglitePath },
      );
      cleanups.push(() => opened.close());
      database = opened;
    }
    await migrateToLatest(database.db);
    log(`database: ${opts.databaseDescription ?? describeDatabase(database, config)}`);

    const importTimeoutMs = config.dagbagImportTimeoutSeconds * 1000;
    const bag = await DagBag.load(config.dagsFolder, { importTimeoutMs });
    const sync = await syncDagBag(database.db, bag, undefined, { pausedAtCreation: config.dagsArePausedAtCreation });
    const functions = createVersionedFunctionResolver({ db: database.db, bag, importTimeoutMs });
    log(
      `DAGs: ${sync.dags} loaded from ${config.dagsFolder}${sync.importErrors ? `, ${sync.importErrors} import error(s) (updraft dags list-import-errors)` : ''}`,
    );
    for (const conflict of sync.assetConflicts) log(conflict);

    let devServer: DevServer | null = null;
    let address = config.temporalAddress;
    if (!address) {
      devServer = await startDevServer({
        port: config.devTemporalPort,
        uiPort: opts.ui ? config.devUiPort : null,
        dbFile: opts.embeddedTemporal === 'ephemeral' ? null : path.join(config.home, 'temporal.db'),
        logFile: path.join(config.home, 'temporal.log'),
        // A server a killed process left behind on this home is stopped before this one starts.
        stateFile: path.join(config.home, 'temporal-server.json'),
        portHint: 'set UPDRAFT_DEV_TEMPORAL_PORT to use another port, or TEMPORAL_ADDRESS to use a running server',
        uiPortHint: 'set UPDRAFT_DEV_UI_PORT to use another port',
        log,
      });
      cleanups.push(() => devServer!.stop());
      address = devServer.address;
      log(`temporal: dev server at ${address}${devServer.uiUrl ? `, Web UI ${devServer.uiUrl}` : ''}`);
    }
    const connection = await connectTemporal(address, config.namespace);
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: config.namespace });

    let worker: Worker | null = null;
    let dagProcessor: DagProcessor | null = null;
    let scheduler: Scheduler | null = null;
    let assets: AssetServices | null = null;
    // Outlet events recorded by this worker's tasks wake its asset-run service (bound once it starts).
    let assetNudge = (): void => undefined;
    const onAssetEvents = (): void => assetNudge();
    if (opts.worker !== false) {
      const nativeConnection = await NativeConnection.connect({ address });
      cleanups.push(() => nativeConnection.close());
      // Step outputs go to the artifact store; the ML record and OpenLineage follow each try.
      const storeEnv = artifactStoreEnv(config.ml);
      const ml = {
        artifactStore: artifactStoreFromEnv({ ...process.env, ...storeEnv }, { home: config.home }),
        artifactStoreEnv: storeEnv,
        artifactStoreCredentials: artifactStoreCredentialEnv(config.ml),
        openLineage: openLineageFromEnv(
          {
            ...process.env,
            UPDRAFT_OPENLINEAGE_FILE: config.ml.openLineageFile ?? '',
            UPDRAFT_OPENLINEAGE_URL: config.ml.openLineageUrl ?? '',
            UPDRAFT_OPENLINEAGE_NAMESPACE: config.ml.openLineageNamespace,
          },
          (m) => log(`openlineage: ${m}`),
        ),
      };
      log(
        `artifact store: ${storeEnv['UPDRAFT_ARTIFACT_STORE']}${ml.openLineage ? `; OpenLineage to ${ml.openLineage.transports.map((t) => t.name).join(', ')}` : ''}`,
      );
      // The tick activity is registered even with the scheduler off, so a schedule made by another
      // worker of this deployment still fires.
      const tickScheduler = new Scheduler({
        db: database.db,
        client,
        runOptions: config.run,
        logsFolder: config.logsFolder,
        log,
      });
      worker = await createUpdraftWorker({
        connection: nativeConnection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        db: database.db,
        functions,
        logsFolder: config.logsFolder,
        executors: opts.executors,
        containers: config.containers,
        ...ml,
        onAssetEvents,
        // A finished run starts its @continuous DAG's next one (only where the scheduler runs:
        // `dags test`'s short-lived stack must leave no run behind).
        ...(config.scheduler ? { onRunEnded: (dagId: string) => tickScheduler.runEnded(dagId) } : {}),
        extraActivities: tickScheduler.activities(),
      });
      // A GPU worker also serves the GPU queue(s), one try per device set, exclusive devices.
      const inventory = opts.gpu ?? detectGpus();
      if (inventory.devices.length > 0) {
        const allocator = new GpuAllocator(inventory.devices, inventory.gpuType);
        const queues = [
          gpuTaskQueue(config.taskQueue, null),
          ...(inventory.gpuType ? [gpuTaskQueue(config.taskQueue, inventory.gpuType)] : []),
        ];
        for (const queue of queues) {
          const gpuWorker = await createUpdraftWorker({
            connection: nativeConnection,
            namespace: config.namespace,
            taskQueue: queue,
            db: database.db,
            functions,
            logsFolder: config.logsFolder,
            executors: opts.executors,
            containers: config.containers,
            gpu: allocator,
            ...ml,
            onAssetEvents,
          });
          const gpuRunning = gpuWorker
            .run()
            .catch((err: Error) => log(`GPU worker (${queue}) stopped with an error: ${err.message}`));
          cleanups.push(async () => {
            if (gpuWorker.getState() === 'RUNNING') gpuWorker.shutdown();
            await gpuRunning;
          });
        }
        log(
          `GPU worker: devices ${inventory.devices.join(', ')}${inventory.gpuType ? ` (${inventory.gpuType})` : ''} on ${queues.join(', ')}`,
        );
      }
      const running = worker.run().catch((err: Error) => {
        log(`worker stopped with an error: ${err.message}`);
        throw err;
      });
      const w = worker;
      cleanups.push(async () => {
        if (w.getState() === 'RUNNING') w.shutdown();
        await running.catch(() => undefined);
      });
      log(`worker: polling task queue "${config.taskQueue}"`);
      if (config.scheduler) {
        scheduler = tickScheduler;
        cleanups.push(() => tickScheduler.stop());
        await tickScheduler.syncAll();
        tickScheduler.start(config.dagDirListIntervalSeconds * 1000);
        log('scheduler: one Temporal Schedule per scheduled DAG (updraft-schedule-<dag_id>)');
      }
      if (opts.assets !== false) {
        const listen =
          database.kind === 'postgres' && config.databaseUrl !== null && opts.databaseNotifications !== false;
        const started = await startAssetServices({
          db: database.db,
          client,
          runOptions: config.run,
          logsFolder: config.logsFolder,
          config: config.assets,
          dags: bagSpecs(bag),
          listenUrl: listen ? config.databaseUrl : null,
          log,
        });
        assets = started;
        assetNudge = started.nudge;
        cleanups.push(() => started.stop());
      }
      if (opts.dagProcessor !== false) {
        // After each sync: the scheduler syncs the DAGs' Temporal Schedules, and the asset watchers
        // follow the folder (a DAG that adds, changes or drops one); neither waits on the other.
        const afterSync: Array<(result: SyncResult) => Promise<unknown>> = [];
        if (scheduler) afterSync.push(() => tickScheduler.syncAll());
        const services = assets;
        if (services) {
          afterSync.push(async (result) => {
            for (const conflict of result.assetConflicts) log(conflict);
            await services.updateDags(bagSpecs(bag));
          });
        }
        const processor = new DagProcessor({
          db: database.db,
          bag,
          log,
          pausedAtCreation: config.dagsArePausedAtCreation,
          ...(afterSync.length > 0
            ? { onSynced: (result: SyncResult) => allSettled(afterSync.map((step) => step(result))) }
            : {}),
          fileProcessIntervalMs: config.minFileProcessIntervalSeconds * 1000,
          dirListIntervalMs: config.dagDirListIntervalSeconds * 1000,
          watch: config.dagsFolderWatch,
        });
        processor.start();
        cleanups.push(() => processor.stop());
        dagProcessor = processor;
      }
    }
    return {
      config,
      database,
      client,
      bag,
      sync,
      dagProcessor,
      scheduler,
      temporalAddress: address,
      uiUrl: devServer?.uiUrl ?? null,
      devServer,
      worker,
      assets,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function bagSpecs(bag: DagBag): DagSpec[] {
  return [...bag.dags.values()].map((d) => d.spec);
}

/** Waits for every step; then throws the failures' messages together, if any. */
async function allSettled(steps: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(steps)).flatMap((r) =>
    r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : [],
  );
  if (failed.length > 0) throw new Error(failed.join('; '));
}
