/** One task per malformed step output; each must fail on its first try without retries (it has 2). */
import { dag } from '../../../../sdk/index.js';

const cases: Record<string, string> = {
  bad_metric_json: `printf '{"name":"ok","value":1}\\n{"name": "loss", "value": \\n' > "$UPDRAFT_OUTPUT_DIR/metrics.jsonl"`,
  bad_metric_value: `printf '{"name":"ok","value":1}\\n\\n{"name":"loss","value":"hunter2"}\\n' > "$UPDRAFT_OUTPUT_DIR/metrics.jsonl"`,
  bad_metric_name: `printf '{"name":"has space","value":1}\\n' > "$UPDRAFT_OUTPUT_DIR/metrics.jsonl"`,
  bad_params: `printf '{"nested":{"a":1}}' > "$UPDRAFT_OUTPUT_DIR/params.json"`,
  missing_file: `printf '{"outputs":[{"name":"model","path":"model.onnx","type":"model"}]}' > "$UPDRAFT_OUTPUT_DIR/artifacts.json"`,
  escaping_path: `printf '{"outputs":[{"name":"model","path":"../secret","type":"model"}]}' > "$UPDRAFT_OUTPUT_DIR/artifacts.json"`,
  folder_output: `mkdir "$UPDRAFT_OUTPUT_DIR/m"; printf '{"outputs":[{"name":"model","path":"m","type":"model"}]}' > "$UPDRAFT_OUTPUT_DIR/artifacts.json"`,
  register_dataset: `echo x > "$UPDRAFT_OUTPUT_DIR/d.csv"; printf '{"outputs":[{"name":"d","path":"d.csv","type":"dataset","register":{"model":"m"}}]}' > "$UPDRAFT_OUTPUT_DIR/artifacts.json"`,
  unknown_placeholder: `printf '{"m":{"$artifact_out":"nope"}}' > "$UPDRAFT_OUTPUT_DIR/return.json"`,
};

export const BAD_CASES = Object.keys(cases);

export default dag(
  { dagId: 'wf_bad_outputs', tags: ['test', 'ml'], defaultArgs: { retries: 2, retryDelay: 1 } },
  (d) => {
    for (const [taskId, script] of Object.entries(cases)) d.process({ taskId, argv: ['sh', '-c', script] })();
  },
);
