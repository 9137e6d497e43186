/**
 * The reference workload in miniature: extract → validate_data → prepare → train → evaluate →
 * validate_model → serve → monitor. In-process TypeScript tasks and local processes, typed XCom
 * between them. The quick start runs this DAG (`make demo`).
 */
import { dag, SkipTask } from '../../sdk/index.js';

interface Snapshot {
  rows: number[][];
  labels: number[];
}

export default dag(
  {
    dagId: 'example_ml_pipeline',
    description: 'Train a tiny linear model on generated data and promote it if it is good enough',
    tags: ['example', 'ml'],
    defaultArgs: { owner: 'ml', retries: 1, retryDelay: '1s' },
  },
  (d) => {
    const extract = d.task({ taskId: 'extract' }, (_: void, ctx): Snapshot => {
      // Deterministic generated data: y = 2·x0 − x1 + noise, seeded by the run id.
      let seed = [...ctx.runId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
      const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      const rows = Array.from({ length: 200 }, () => [rand() * 10, rand() * 10]);
      const labels = rows.map(([a, b]) => 2 * a! - b! + (rand() - 0.5) * 0.1);
      ctx.log.info(`extracted ${rows.length} rows`);
      return { rows, labels };
    });

    const validateData = d.task({ taskId: 'validate_data' }, (s: Snapshot, ctx) => {
      if (s.rows.length < 50) throw new SkipTask(`only ${s.rows.length} rows`);
      const bad = s.rows.filter((r) => r.some((v) => !Number.isFinite(v))).length;
      ctx.log.info(`${s.rows.length} rows, ${bad} invalid`);
      return { rows: s.rows.length, invalid: bad };
    });

    const prepare = d.process<{ rows: number }, void>({
      taskId: 'prepare',
      argv: [
        'node',
        '-e',
        "const i = JSON.parse(process.env.UPDRAFT_INPUT); console.log('preparing', i.rows, 'rows in a separate process')",
      ],
    });

    const train = d.task({ taskId: 'train' }, (s: Snapshot, ctx) => {
      // Least squares for two features without intercept (closed form).
      let a = 0,
        b = 0,
        c = 0,
        p = 0,
        q = 0;
      s.rows.forEach(([x0, x1], i) => {
        a += x0! * x0!;
        b += x0! * x1!;
        c += x1! * x1!;
        p += x0! * s.labels[i]!;
        q += x1! * s.labels[i]!;
      });
      const det = a * c - b * b;
      const w = [(p * c - q * b) / det, (a * q - b * p) / det];
      ctx.log.info(`weights ${w.map((v) => v.toFixed(3)).join(', ')}`);
      return { weights: w };
    });

    const evaluate = d.task({ taskId: 'evaluate' }, (i: { model: { weights: number[] }; data: Snapshot }) => {
      const err =
        i.data.rows.reduce((sum, [x0, x1], k) => {
          const y = i.model.weights[0]! * x0! + i.model.weights[1]! * x1!;
          return sum + (y - i.data.labels[k]!) ** 2;
        }, 0) / i.data.rows.length;
      return { mse: err, weights: i.model.weights };
    });

    const validateModel = d.task({ taskId: 'validate_model' }, (m: { mse: number; weights: number[] }, ctx) => {
      if (m.mse > 1) throw new SkipTask(`mse ${m.mse.toFixed(4)} is above 1: not promoting`);
      ctx.log.info(`mse ${m.mse.toFixed(5)}: promoting`);
      return m;
    });

    const serve = d.process<void, void>({
      taskId: 'serve',
      argv: ['sh', '-c', 'echo "serving model for run $UPDRAFT_RUN_ID"'],
    });

    const monitor = d.task({ taskId: 'monitor', triggerRule: 'none_failed_min_one_success' }, (_: void, ctx) => {
      ctx.log.info('monitors registered');
      return { monitored: true };
    });

    const snapshot = extract();
    const checked = validateData(snapshot);
    d.chain(checked, prepare(checked));
    const model = train(snapshot);
    d.chain(prepare, train);
    const scored = evaluate({ model, data: snapshot });
    const approved = validateModel(scored);
    d.chain(approved, serve, monitor);
  },
);
