/**
 * The lineage renderers (cli/lineage-render.ts), pure: one graph (a data set read by a training
 * try that wrote a model registered as a version) drawn as text, DOT and Mermaid exactly, names
 * with quotes and angle brackets escaped, and graphs merged by id.
 */
import { expect } from 'chai';
import type { ArtifactRow, ExecutionRow, LineageEventRow, ModelVersionRow } from '../../db/database.js';
import { mergeLineage, renderLineage, type RenderableLineage } from '../../cli/lineage-render.js';

const at = new Date('2026-12-06T00:00:00Z');
const A = (id: number, name: string, type: ArtifactRow['type'], sha: string): ArtifactRow => ({
  id,
  sha256: sha.repeat(64 / sha.length),
  uri: `file:///s/${id}`,
  name,
  type,
  format: type === 'model' ? 'onnx' : 'csv',
  size: 1,
  metadata: {},
  created_at: at,
});
const X: ExecutionRow = {
  id: 7,
  dag_id: 'ml',
  run_id: 'r1',
  task_id: 'train',
  map_index: -1,
  try_number: 2,
  state: 'success',
  dag_version_id: 3,
  code_version: null,
  params: { C: 1 },
  started_at: at,
  ended_at: at,
  created_at: at,
};
const E = (id: number, artifact_id: number, kind: 'input' | 'output'): LineageEventRow => ({
  id,
  artifact_id,
  execution_id: 7,
  kind,
  path: null,
  created_at: at,
});
const V = {
  id: 4,
  model_id: 1,
  version: 2,
  artifact_id: 2,
  sha256: 'b'.repeat(64),
  uri: 'file:///s/2',
  format: 'onnx',
  signature: null,
  metrics: {},
  source_execution_id: 7,
  source_dag_id: 'ml',
  source_run_id: 'r1',
  source_task_id: 'train',
  source_map_index: -1,
  source_try_number: 2,
  training_data_artifact_ids: [1],
  status: 'validated',
  description: null,
  created_by: null,
  created_at: at,
  model_name: 'iris',
} as ModelVersionRow & { model_name: string };

const graph: RenderableLineage = {
  artifacts: [
    A(1, 'data "v2" <b>', 'dataset', 'a'),
    A(2, 'model.onnx', 'model', 'b'),
    A(3, 'loose.csv', 'dataset', 'c'),
  ],
  executions: [X],
  events: [E(10, 1, 'input'), E(11, 2, 'output')],
  modelVersions: [V],
};

describe('cli: lineage rendering', () => {
  it('text: each try with what it read and wrote, untouched artifacts, model versions', () => {
    expect(renderLineage(graph, 'Lineage of iris@2 (upstream)', 'text')).to.equal(
      [
        'Lineage of iris@2 (upstream): 3 artifact(s), 1 task try, 1 model version(s)',
        'runs: ml/r1',
        'ml/r1/train try 2 [success] code dag_version 3 params {"C":1}',
        `  read  dataset data "v2" <b> (csv) sha256:aaaaaaaaaaaa (artifact 1)`,
        `  wrote model model.onnx (onnx) sha256:bbbbbbbbbbbb (artifact 2)`,
        'artifacts without a recorded try:',
        '  dataset loose.csv (csv) sha256:cccccccccccc (artifact 3)',
        'model versions:',
        '  iris@2 [validated] sha256:bbbbbbbbbbbb (artifact 2 model.onnx), from ml/r1/train try 2',
      ].join('\n'),
    );
  });

  it('DOT: nodes per artifact, try and version; quotes escaped', () => {
    expect(renderLineage(graph, 'Lineage "x"', 'dot')).to.equal(
      [
        'digraph lineage {',
        '  label="Lineage \\"x\\"";',
        '  rankdir=LR;',
        '  a1 [shape=ellipse, label="data \\"v2\\" <b>\\\\ndataset aaaaaaaaaaaa"];',
        '  a2 [shape=ellipse, label="model.onnx\\\\nmodel bbbbbbbbbbbb"];',
        '  a3 [shape=ellipse, label="loose.csv\\\\ndataset cccccccccccc"];',
        '  x7 [shape=box, style=rounded, label="train try 2\\\\nml/r1\\\\nsuccess"];',
        '  m4 [shape=note, label="iris@2\\\\nvalidated"];',
        '  a1 -> x7;',
        '  x7 -> a2;',
        '  a2 -> m4 [style=dashed, label="registered"];',
        '}',
      ].join('\n'),
    );
  });

  it('Mermaid: labels with quotes and angle brackets as entities', () => {
    expect(renderLineage(graph, 'Lineage', 'mermaid')).to.equal(
      [
        'flowchart LR',
        '  %% Lineage',
        '  a1(["data #quot;v2#quot; #lt;b#gt;<br/>dataset aaaaaaaaaaaa"])',
        '  a2(["model.onnx<br/>model bbbbbbbbbbbb"])',
        '  a3(["loose.csv<br/>dataset cccccccccccc"])',
        '  x7["train try 2"]',
        '  m4{{"iris@2"}}',
        '  a1 --> x7',
        '  x7 --> a2',
        '  a2 -. registered .-> m4',
      ].join('\n'),
    );
  });

  it('merges graphs by id', () => {
    const merged = mergeLineage(
      { ...graph, artifacts: graph.artifacts.slice(0, 2) },
      { ...graph, artifacts: graph.artifacts.slice(1), events: [] },
    );
    expect(merged.artifacts.map((a) => a.id)).to.deep.equal([1, 2, 3]);
    expect(merged.events.map((e) => e.id)).to.deep.equal([10, 11]);
    expect(merged.executions).to.have.length(1);
  });
});
