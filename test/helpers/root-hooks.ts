/** Mocha root hooks: stop the shared Temporal server after the last test. */
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { stopTestTemporal } from './servers.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopTestTemporal();
  },
};
