/**
 * Operator-action fixtures (clear, mark success/failed). Each run's conf names a directory `dir`;
 * a task gated on a flag file there fails (or, for a process, sleeps) until the test creates it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dag } from '../../../../sdk/index.js';

const flagged = (dir: unknown, name: string): boolean => fs.existsSync(path.join(String(dir), name));

/** start → gate (fails until flag `gate`) → after. */
export const opGate = dag({ dagId: 'op_gate', tags: ['test'] }, (d) => {
  const start = d.task({ taskId: 'start' }, () => 'started');
  const gate = d.task({ taskId: 'gate' }, (_: void, ctx) => {
    if (!flagged(ctx.conf.dir, 'gate')) throw new Error('the gate flag is not there yet');
    return 'open';
  });
  const after = d.task({ taskId: 'after' }, () => 'after the gate');
  d.chain(start, gate, after);
});

/**
 * first → slow → last; slow is a process that sleeps 60 s unless flag `slow` exists, so a test can
 * act on it while it runs (it writes `slow.sleeping` once it has checked). A setup/teardown pair brackets the work; `side` hangs off slow too.
 */
export const opSlow = dag({ dagId: 'op_slow', tags: ['test'] }, (d) => {
  const setup = d.task({ taskId: 'setup' }, () => 'resource up').asSetup();
  const first = d.task({ taskId: 'first' }, () => 1);
  const slow = d.process({
    taskId: 'slow',
    // `$FLAG.sleeping` tells the test the flag check is behind it: a process that merely exists may
    // not have looked yet, and would then see a flag written for the next try.
    argv: ['sh', '-c', 'if [ -e "$FLAG" ]; then echo quick; exit 0; fi; echo sleeping; : > "$FLAG.sleeping"; sleep 60'],
    env: { FLAG: '{{ params.dir }}/slow' },
  });
  const last = d.task({ taskId: 'last' }, () => 'done');
  const side = d.task({ taskId: 'side' }, () => 'side');
  const teardown = d.task({ taskId: 'teardown' }, () => 'resource down').asTeardown({ setups: setup });
  d.chain(setup, first, slow, last, teardown);
  d.chain(slow, side);
});

/** A task with one retry that fails until flag `flaky` exists. */
export const opRetry = dag({ dagId: 'op_retry', tags: ['test'] }, (d) => {
  d.task({ taskId: 'flaky', retries: 1, retryDelay: '1s' }, (_: void, ctx) => {
    if (!flagged(ctx.conf.dir, 'flaky')) throw new Error(`try ${ctx.tryNumber} failed: no flag`);
    return 'ok';
  });
});

/** items → double.expand(x) (x = 2 fails until flag `two`) → total. */
export const opMapped = dag({ dagId: 'op_mapped', tags: ['test'] }, (d) => {
  const items = d.task({ taskId: 'items' }, () => [1, 2, 3]);
  const double = d.task({ taskId: 'double' }, (i: { x: number }, ctx) => {
    if (i.x === 2 && !flagged(ctx.conf.dir, 'two')) throw new Error('two is not allowed yet');
    return i.x * 2;
  });
  const total = d.task({ taskId: 'total' }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  total(double.expand({ x: items() }));
});
