/// <reference types="mocha" />
/**
 * The stacks the engine suites share. Importing this module registers a root-level `after` hook
 * (so only spec files import it; scripts use helpers.ts).
 */
import fs from 'node:fs';
import type { TestDbKind } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { ENGINE_DAGS } from './helpers.js';

const shared = new Map<TestDbKind, Promise<TestStack>>();

/**
 * One stack per database kind for the whole mocha process, on the engine fixture DAGs. A PGlite
 * stack costs ~15 s of CPU (initdb under WASM), so suites share it; runs never collide because
 * every run id is unique. Stopped by the root-level `after` below.
 */
export function sharedStack(kind: TestDbKind = 'pglite'): Promise<TestStack> {
  let stack = shared.get(kind);
  if (!stack) {
    stack = startTestStack({ dagsFolder: ENGINE_DAGS, db: kind }).then(async (s) => {
      if (s.bag.importErrors.length === 0) return s;
      await s.stop();
      throw new Error(`fixture DAG import errors: ${JSON.stringify(s.bag.importErrors)}`);
    });
    shared.set(kind, stack);
  }
  return stack;
}

// Root-level hook (this module is loaded by the spec files): runs after every suite.
after(async function () {
  this.timeout(60_000);
  for (const pending of shared.values()) {
    const stack = await pending.catch(() => null);
    if (!stack) continue;
    await stack.stop();
    // startTestStack leaves its home (PGlite data, logs: ~50 MB) behind.
    fs.rmSync(stack.home, { recursive: true, force: true });
  }
  shared.clear();
});
