/**
 * Dynamic task mapping fixtures (Airflow's partial().expand() / expand_kwargs()): literal lists,
 * an upstream's output, a cross product, expandKwargs, zero length, a non-list, max_map_length,
 * one instance failing with retries, and a large expansion (size from conf: `n`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { dag } from '../../../../sdk/index.js';

export const mapLiteral = dag({ dagId: 'wf_map_literal', tags: ['test'], maxActiveTasks: 8 }, (d) => {
  const add = d.task({ taskId: 'add' }, (i: { x: number; y: number }, ctx) => ({
    sum: i.x + i.y,
    mapIndex: ctx.mapIndex,
  }));
  const total = d.task({ taskId: 'total' }, (results: Array<{ sum: number; mapIndex: number }>) => ({
    results,
    total: results.reduce((a, r) => a + r.sum, 0),
  }));
  total(add.partial({ y: 10 }).expand({ x: [1, 2, 3] }));
});

export const mapUpstream = dag({ dagId: 'wf_map_upstream', tags: ['test'] }, (d) => {
  const make = d.task({ taskId: 'make' }, () => ({ files: ['a.csv', 'b.csv', 'c.csv', 'd.csv'], other: 1 }));
  const count = d.process<{ file: string; prefix: string }, { line: string }>({
    taskId: 'count',
    argv: [
      'node',
      '-e',
      'const i = JSON.parse(process.env.UPDRAFT_INPUT); require("fs").writeFileSync(process.env.UPDRAFT_XCOM_DIR + "/return.json", JSON.stringify({ line: `${process.env.UPDRAFT_MAP_INDEX}:${i.prefix}:${i.file}` }))',
    ],
  });
  const collect = d.task({ taskId: 'collect' }, (lines: Array<{ line: string }>) => lines.map((l) => l.line));
  collect(count.partial({ prefix: 'p' }).expand({ file: make().get('files') }));
});

export const mapCross = dag({ dagId: 'wf_map_cross', tags: ['test'] }, (d) => {
  const letters = d.task({ taskId: 'letters' }, () => ['a', 'b']);
  const pair = d.task({ taskId: 'pair' }, (i: { n: number; s: string }) => `${i.n}${i.s}`);
  const join = d.task({ taskId: 'join' }, (all: string[]) => all.join(','));
  join(pair.expand({ n: [1, 2, 3], s: letters() }));
});

export const mapKwargs = dag({ dagId: 'wf_map_kwargs', tags: ['test'] }, (d) => {
  const configs = d.task({ taskId: 'configs' }, () => [
    { lr: 0.1, name: 'a' },
    { lr: 0.2, name: 'b' },
  ]);
  const train = d.task(
    { taskId: 'train' },
    (i: { lr: number; name: string; epochs: number }) => `${i.name}:${i.lr}:${i.epochs}`,
  );
  const literal = d.task({ taskId: 'literal' }, (i: { a: number; b: number }) => i.a * i.b);
  const report = d.task({ taskId: 'report' }, (i: { trained: string[]; products: number[] }) => i);
  report({
    trained: train.partial({ epochs: 3 }).expandKwargs(configs()),
    products: literal.expandKwargs([
      { a: 2, b: 3 },
      { a: 4, b: 5 },
    ]),
  });
});

export const mapEmpty = dag({ dagId: 'wf_map_empty', tags: ['test'] }, (d) => {
  const none = d.task({ taskId: 'none' }, () => [] as number[]);
  const each = d.task({ taskId: 'each' }, (i: { x: number }) => i.x);
  const after = d.task({ taskId: 'after', triggerRule: 'all_done' }, (xs: number[]) => ({ got: xs }));
  after(each.expand({ x: none() }));
});

export const mapNotList = dag({ dagId: 'wf_map_not_list', tags: ['test'] }, (d) => {
  const pusher = d.task({ taskId: 'pusher', retries: 2, retryDelay: 1 }, () => ({ items: 42 }));
  const each = d.task({ taskId: 'each' }, (i: { x: number }) => i.x);
  const cleanup = d.empty({ taskId: 'cleanup', triggerRule: 'all_done' });
  d.chain(each.expand({ x: pusher().get('items') as never }), cleanup);
});

export const mapTooLong = dag({ dagId: 'wf_map_too_long', tags: ['test'], maxMapLength: 5 }, (d) => {
  const pusher = d.task({ taskId: 'pusher' }, () => Array.from({ length: 6 }, (_, i) => i));
  const each = d.task({ taskId: 'each' }, (i: { x: number }) => i.x);
  each.expand({ x: pusher() });
});

/** Instance 1 fails its first try (marker file under conf.dir), then succeeds on retry. */
export const mapRetry = dag({ dagId: 'wf_map_retry', tags: ['test'] }, (d) => {
  const flaky = d.task({ taskId: 'flaky', retries: 2, retryDelay: 1 }, (i: { x: number }, ctx) => {
    const marker = path.join(String(ctx.params.dir), `try-${ctx.mapIndex}`);
    if (i.x === 20 && !fs.existsSync(marker)) {
      fs.writeFileSync(marker, String(ctx.tryNumber));
      throw new Error(`instance ${ctx.mapIndex} fails its first try`);
    }
    if (i.x === 30) throw new Error('instance 2 always fails');
    return i.x;
  });
  const sum = d.task({ taskId: 'sum', triggerRule: 'all_done' }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const one = d.empty({ taskId: 'one_success', triggerRule: 'one_success' });
  const mapped = flaky.expand({ x: [10, 20, 30] });
  sum(mapped);
  d.chain(mapped, one);
});

/** conf.n no-op in-process instances (the scale test). */
export const mapLarge = dag(
  { dagId: 'wf_map_large', tags: ['test'], maxActiveTasks: 200, maxMapLength: 20_000 },
  (d) => {
    const items = d.task({ taskId: 'items' }, (_: void, ctx) =>
      Array.from({ length: Number(ctx.params.n ?? 10) }, (_x, i) => i),
    );
    const noop = d.task({ taskId: 'noop' }, (i: { x: number }) => i.x);
    const check = d.task({ taskId: 'check' }, (xs: number[]) => ({
      count: xs.length,
      sum: xs.reduce((a, b) => a + b, 0),
    }));
    check(noop.expand({ x: items() }));
  },
);

/**
 * A mapped task group over an upstream's list: `rows` fails for one file; inside the group
 * `doubled` waits only for the same instance of `rows` (Airflow), so the other files go on; the
 * report outside collects the group's results. A second group maps over a literal cross product.
 */
export const mapGroup = dag({ dagId: 'wf_map_group', tags: ['test'] }, (d) => {
  const files = d.task({ taskId: 'files' }, () => ['a.csv', 'bb.csv', 'bad.csv']);
  const perFile = d.mappedGroup({ groupId: 'per_file', expand: { file: files() } }, (g, args) => {
    const rows = g.task({ taskId: 'rows' }, (i: { file: string }) => {
      if (i.file === 'bad.csv') throw new Error('cannot read bad.csv');
      return i.file.length;
    })({ file: args.file });
    return g.task({ taskId: 'doubled' }, (i: { n: number; file: string }, ctx) => ({
      file: i.file,
      n: i.n * 2,
      mapIndex: ctx.mapIndex,
    }))({ n: rows, file: args.file });
  });
  d.task(
    { taskId: 'report', triggerRule: 'all_done' },
    (xs: Array<{ file: string; n: number; mapIndex: number }>) => xs,
  )(perFile.result);

  const grid = d.mappedGroup({ groupId: 'grid', expand: { x: [1, 2], y: ['a', 'b'] } }, (g, args) => {
    const cell = g.task({ taskId: 'cell' }, (i: { x: number; y: string }) => `${i.x}${i.y}`)({ x: args.x, y: args.y });
    const upper = g.task({ taskId: 'upper' }, (s: string) => s.toUpperCase())(cell);
    return upper;
  });
  d.task({ taskId: 'cells' }, (all: string[]) => all.join(','))(grid.result);
});
