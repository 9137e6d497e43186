/**
 * Step output protocol v1 through every local executor kind: a process writes a dataset with
 * metrics and params, a Docker container trains a "model" from it (reading the read-only mounted
 * input) and registers it, an in-process task evaluates it through ctx, and another process writes
 * the same dataset bytes again (stored once). Plus one task per malformed output file.
 */
import { dag, type ArtifactRef, type TaskContext } from '../../../../sdk/index.js';
import { readFileSync } from 'node:fs';

export const MODEL_NAME = 'wf_step_outputs_model';
export const DATA = 'x,y\n1,2\n3,4\n5,6\n';
export const IMAGE = 'updraft/test-busybox:latest';

const writeDataset =
  `printf '${DATA.replace(/\n/g, '\\n')}' > "$UPDRAFT_OUTPUT_DIR/data.csv"; ` +
  `printf '{"name":"rows","value":3}\\n{"name":"loss","value":0.5,"step":1}\\n{"name":"loss","value":0.25,"step":2}\\n' > "$UPDRAFT_OUTPUT_DIR/metrics.jsonl"; ` +
  `printf '{"seed":7,"source":"inline","shuffle":false}' > "$UPDRAFT_OUTPUT_DIR/params.json"; ` +
  `printf '{"outputs":[{"name":"dataset","path":"data.csv","type":"dataset","format":"csv","metadata":{"rows":3}}]}' > "$UPDRAFT_OUTPUT_DIR/artifacts.json"; ` +
  `printf '{"data":{"$artifact_out":"dataset"},"rows":3}' > "$UPDRAFT_OUTPUT_DIR/return.json"`;

// busybox: the one input file is under /updraft/artifacts (read-only); the "model" is its hash.
const train =
  'set -e; f=$(ls /updraft/artifacts/*); grep -q "/updraft/artifacts/" /updraft/input.json; ' +
  'if touch /updraft/artifacts/probe 2>/dev/null; then ro=false; else ro=true; fi; ' +
  'sha256sum "$f" | cut -c1-64 > /updraft/xcom/model.bin; ' +
  'printf \'{"name":"train_accuracy","value":0.75}\\n\' > /updraft/xcom/metrics.jsonl; ' +
  'printf \'{"C":1.0,"reproducible":true}\' > /updraft/xcom/params.json; ' +
  `printf '{"outputs":[{"name":"model","path":"model.bin","type":"model","format":"txt","register":{"model":"${MODEL_NAME}","signature":{"inputs":[{"name":"x"}],"outputs":[{"name":"y"}]}}}]}' > /updraft/xcom/artifacts.json; ` +
  'printf \'{"model":{"$artifact_out":"model"},"ro":%s}\' "$ro" > /updraft/xcom/return.json';

export default dag({ dagId: 'wf_step_outputs', tags: ['test', 'ml'] }, (d) => {
  const make = d.process<void, { data: ArtifactRef; rows: number }>({
    taskId: 'make_data',
    argv: ['sh', '-c', writeDataset],
  });
  const again = d.process<void, { data: ArtifactRef }>({ taskId: 'same_data', argv: ['sh', '-c', writeDataset] });
  const fit = d.container<{ data: ArtifactRef }, { model: ArtifactRef; ro: boolean }>({
    taskId: 'train',
    image: IMAGE,
    command: ['sh', '-c', train],
    pullPolicy: 'never',
  });
  const evaluate = d.task(
    { taskId: 'evaluate' },
    async (i: { model: { model: ArtifactRef }; data: { data: ArtifactRef } }, ctx: TaskContext) => {
      const modelFile = await ctx.artifactPath(i.model.model);
      const dataFile = await ctx.artifactPath(i.data.data);
      ctx.logMetric('accuracy', 0.5);
      ctx.logMetric('accuracy', 0.875, 1);
      ctx.logParam('threshold', 0.5);
      ctx.logParams({ metric: 'accuracy', strict: true });
      const report = await ctx.logArtifact({
        name: 'report',
        bytes: JSON.stringify({ accuracy: 0.875 }),
        type: 'report',
        format: 'json',
      });
      return {
        report,
        modelText: readFileSync(modelFile, 'utf8').trim(),
        dataRows: readFileSync(dataFile, 'utf8').trim().split('\n').length - 1,
      };
    },
  );
  const data = make();
  again();
  const model = fit(data);
  evaluate({ model, data });
});
