/**
 * GPU scheduling with a DECLARED inventory: there is no GPU on this machine, so the worker is
 * told it has devices "0" and "1" (a fake inventory, named as such). Routing, exclusivity,
 * release and fail-fast are real; what the devices do is not exercised (see docs/containers.md
 * for the Docker DeviceRequests test and the GPU-machine check).
 */
import path from 'node:path';
import { expect } from 'chai';
import { GpuAllocator, GpuRequestTooLargeError } from '../../activities/gpu-allocator.js';
import { listTaskInstanceHistory, listTaskInstances } from '../../db/task-instance.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { triggerDagRun } from '../../client/trigger.js';
import { gpuTaskQueue, taskQueueFor } from '../../engine/queues.js';
import { parseDeclaredDevices, parseNvidiaSmi } from '../../worker/gpu-inventory.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { dagRunResult } from '../../client/run-result.js';

describe('GPU allocator', () => {
  it('hands out devices exclusively under concurrency and queues the rest FIFO', async () => {
    const gpus = new GpuAllocator(['0', '1', '2']);
    const held = new Set<string>();
    let maxHeld = 0;
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const a = await gpus.acquire(1 + (i % 2), `t${i}`);
        for (const d of a.devices) {
          expect(held.has(d), `device ${d} handed out twice`).to.equal(false);
          held.add(d);
        }
        maxHeld = Math.max(maxHeld, held.size);
        await new Promise((r) => setTimeout(r, 5 + (i % 3)));
        for (const d of a.devices) held.delete(d);
        a.release();
      }),
    );
    expect(maxHeld).to.be.at.most(3);
    expect(gpus.freeCount).to.equal(3);
  });

  it('releases on failure and ignores a double release', async () => {
    const gpus = new GpuAllocator(['a', 'b']);
    const run = async (): Promise<void> => {
      const a = await gpus.acquire(2, 'x');
      try {
        throw new Error('task crashed');
      } finally {
        a.release();
        a.release();
      }
    };
    await run().catch(() => undefined);
    expect(gpus.freeCount).to.equal(2);
    const again = await gpus.acquire(2, 'y');
    expect(again.devices).to.deep.equal(['a', 'b']);
  });

  it('fails fast when a request can never fit', async () => {
    const gpus = new GpuAllocator(['0', '1'], 'a100');
    let err: unknown;
    await gpus.acquire(3, 'big').catch((e) => (err = e));
    expect(err).to.be.instanceOf(GpuRequestTooLargeError);
    expect((err as Error).message).to.equal(
      'the task asks for 3 GPU(s) but this worker has 2 (a100) (devices 0, 1); no worker on this queue can run it',
    );
  });

  it('abandons a wait when the try is cancelled', async () => {
    const gpus = new GpuAllocator(['0']);
    const first = await gpus.acquire(1, 'first');
    const ac = new AbortController();
    const waiting = gpus.acquire(1, 'second', ac.signal);
    ac.abort();
    let err: unknown;
    await waiting.catch((e) => (err = e));
    expect((err as Error).message).to.equal('cancelled while waiting for a GPU');
    first.release();
    expect(gpus.freeCount).to.equal(1);
  });

  it('routes GPU tasks to GPU queues and parses inventories', () => {
    expect(
      taskQueueFor({ queue: null, resources: { cpu: null, memory: null, gpu: 1, gpu_type: null } }, 'updraft'),
    ).to.equal('updraft-gpu');
    expect(
      taskQueueFor({ queue: null, resources: { cpu: null, memory: null, gpu: 2, gpu_type: 'h100' } }, 'updraft'),
    ).to.equal('updraft-gpu-h100');
    expect(
      taskQueueFor({ queue: 'special', resources: { cpu: null, memory: null, gpu: 2, gpu_type: 'h100' } }, 'updraft'),
    ).to.equal('special');
    expect(
      taskQueueFor({ queue: null, resources: { cpu: null, memory: null, gpu: 0, gpu_type: null } }, 'updraft'),
    ).to.equal('updraft');
    expect(gpuTaskQueue('q', null)).to.equal('q-gpu');
    expect(parseDeclaredDevices(' 0, 1 ,2')).to.deep.equal(['0', '1', '2']);
    expect(() => parseDeclaredDevices('0,0')).to.throw('UPDRAFT_GPU_DEVICES lists a device twice: "0,0"');
    expect(parseNvidiaSmi('0, NVIDIA A100-SXM4-80GB\n1, NVIDIA A100-SXM4-80GB\n')).to.deep.equal({
      devices: ['0', '1'],
      gpuType: 'a100',
    });
  });
});

describe('GPU tasks on a worker with a declared inventory of 2 (real Temporal)', function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({
      dagsFolder: path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'gpu-dags'),
      gpu: { devices: ['0', '1'], gpuType: null, source: 'declared' },
    });
  });
  after(async () => stack?.stop());

  it('runs at most two 1-GPU tasks at once on distinct devices, releases after failure, fails a too-large request at once', async () => {
    const run = await triggerDagRun(stack.database.db, stack.client, {
      dagId: 'gpu_jobs',
      runOptions: stack.config.run,
    });
    const result = await dagRunResult(run.handle);
    expect(result.state).to.equal('failed'); // 'crashes' and 'too_big' fail
    const tis = Object.fromEntries(
      (await listTaskInstances(stack.database.db, 'gpu_jobs', run.runId)).map((t) => [t.task_id, t]),
    );
    for (let i = 0; i < 4; i++) {
      expect(tis[`train_${i}`]!.state).to.equal('success');
      expect(tis[`train_${i}`]!.gpu_devices).to.be.oneOf(['0', '1']);
      const log = (
        await readTaskLog(stack.database.db, {
          dag_id: 'gpu_jobs',
          run_id: run.runId,
          task_id: `train_${i}`,
          map_index: -1,
          try_number: 1,
        })
      ).map((l) => l.line);
      expect(log).to.include(`devices=${tis[`train_${i}`]!.gpu_devices} nvidia=${tis[`train_${i}`]!.gpu_devices}`);
    }
    expect(tis.crashes!.state).to.equal('failed');
    expect(tis.too_big!.state).to.equal('failed');
    expect(tis.too_big!.try_number).to.equal(1); // no retries for a request that can never fit
    expect(tis.too_big!.error).to.contain('the task asks for 3 GPU(s) but this worker has 2');
    expect(tis.cpu_only!.gpu_devices).to.equal(null);

    // Overlapping tries never share a device, and never more than two GPU tries at once.
    const history = (await listTaskInstanceHistory(stack.database.db, 'gpu_jobs', run.runId)).filter(
      (h) => h.gpu_devices !== null,
    );
    for (const a of history) {
      const overlapping = history.filter((b) => b !== a && b.start_date! < a.end_date! && a.start_date! < b.end_date!);
      for (const b of overlapping)
        expect(b.gpu_devices, `${a.task_id} and ${b.task_id} overlap`).to.not.equal(a.gpu_devices);
    }
    const events = history
      .flatMap(
        (h) =>
          [
            [h.start_date!.getTime(), 1],
            [h.end_date!.getTime(), -1],
          ] as const,
      )
      .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let running = 0;
    let peak = 0;
    for (const [, delta] of events) peak = Math.max(peak, (running += delta));
    expect(peak).to.equal(2);
  });
});
