/**
 * A test Updraft: a worker on its own task queue (so parallel suites never take each other's
 * tasks), the shared Temporal server, and a fresh database.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Executor } from '../../activities/executors/types.js';
import { loadConfig, type ContainerConfig, type UpdraftConfig } from '../../worker/config.js';
import type { GpuInventory } from '../../worker/gpu-inventory.js';
import { startStack, type Stack } from '../../worker/stack.js';
import type { RunOptions } from '../../workflows/types.js';
import { createTestDatabase, tempDir, testTemporalAddress, type TestDbKind } from './servers.js';

let queueCounter = 0;

export interface TestStack extends Stack {
  home: string;
}

export async function startTestStack(opts: {
  dagsFolder: string;
  db?: TestDbKind;
  run?: Partial<RunOptions>;
  executors?: Partial<Record<string, Executor>>;
  worker?: boolean;
  /** A declared GPU inventory (no real GPU here); default none, whatever the machine has. */
  gpu?: GpuInventory;
  containers?: Partial<ContainerConfig>;
  /** Other settings (DAG processor intervals, ...). */
  config?: Partial<UpdraftConfig>;
}): Promise<TestStack> {
  const home = tempDir('home');
  const taskQueue = `test-${process.pid}-${queueCounter++}`;
  const base = loadConfig({}, home);
  let databaseUrl: string | null = null;
  let dropDb: (() => Promise<void>) | null = null;
  if (opts.db === 'postgres') {
    const h = await createTestDatabase('postgres');
    databaseUrl = h.url;
    await h.db.destroy();
    dropDb = h.close;
  }
  const config: UpdraftConfig = {
    ...base,
    home,
    dagsFolder: path.resolve(opts.dagsFolder),
    logsFolder: path.join(home, 'logs'),
    databaseUrl,
    temporalAddress: await testTemporalAddress(),
    taskQueue,
    run: { ...base.run, taskQueue, heartbeatTimeoutSeconds: 3, ...opts.run },
    containers: { ...base.containers, ...opts.containers },
    // Schedules live in the shared Temporal namespace: only tests about them turn the scheduler on.
    scheduler: false,
    ...opts.config,
  };
  const stack = await startStack({
    config,
    executors: opts.executors,
    worker: opts.worker,
    gpu: opts.gpu ?? { devices: [], gpuType: null, source: 'none' },
  });
  return {
    ...stack,
    home,
    stop: async () => {
      await stack.stop();
      if (dropDb) await dropDb().catch(() => undefined);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
