/**
 * Renders a lineage graph (db/lineage.repository.ts LineageGraph) as text, Graphviz DOT or
 * Mermaid, for `updraft lineage`. Pure: the same graph always renders the same output. Artifacts
 * are nodes `a<id>`, task tries `x<id>`, model versions `m<id>`; an input event is an edge
 * artifact → try, an output event try → artifact, a registration artifact → version.
 */
import type { ArtifactRow, ExecutionRow, LineageEventRow, ModelVersionRow } from '../db/database.js';

export interface RenderableLineage {
  readonly artifacts: readonly ArtifactRow[];
  readonly executions: readonly ExecutionRow[];
  readonly events: readonly LineageEventRow[];
  readonly modelVersions: ReadonlyArray<ModelVersionRow & { model_name: string }>;
}

export const LINEAGE_FORMATS = ['text', 'dot', 'mermaid'] as const;
export type LineageFormat = (typeof LINEAGE_FORMATS)[number];

const short = (sha: string): string => sha.slice(0, 12);
const tryName = (x: ExecutionRow): string =>
  `${x.dag_id}/${x.run_id}/${x.task_id}${x.map_index >= 0 ? `[${x.map_index}]` : ''} try ${x.try_number}`;
const artifactName = (a: ArtifactRow): string => `${a.type} ${a.name}${a.format ? ` (${a.format})` : ''}`;
const codeVersion = (x: ExecutionRow): string =>
  x.dag_version_id !== null
    ? ` code dag_version ${x.dag_version_id}${x.code_version ? ` ${x.code_version}` : ''}`
    : x.code_version
      ? ` code ${x.code_version}`
      : '';

function byId<T extends { id: number }>(rows: readonly T[]): Map<number, T> {
  return new Map(rows.map((r) => [r.id, r]));
}

/** One line per try with what it read and wrote, then the model versions and any artifact no try touched. */
export function renderLineageText(g: RenderableLineage, title: string): string {
  const artifacts = byId(g.artifacts);
  const lines = [
    `${title}: ${g.artifacts.length} artifact(s), ${g.executions.length} task tr${g.executions.length === 1 ? 'y' : 'ies'}, ${g.modelVersions.length} model version(s)`,
  ];
  const runs = [...new Set(g.executions.map((x) => `${x.dag_id}/${x.run_id}`))];
  if (runs.length > 0) lines.push(`runs: ${runs.join(', ')}`);
  const touched = new Set<number>();
  for (const x of g.executions) {
    const params = Object.keys(x.params ?? {}).length > 0 ? ` params ${JSON.stringify(x.params)}` : '';
    lines.push(`${tryName(x)} [${x.state}]${codeVersion(x)}${params}`);
    for (const kind of ['input', 'output'] as const) {
      for (const e of g.events.filter((ev) => ev.execution_id === x.id && ev.kind === kind)) {
        const a = artifacts.get(e.artifact_id);
        if (a === undefined) continue;
        touched.add(a.id);
        lines.push(
          `  ${kind === 'input' ? 'read ' : 'wrote'} ${artifactName(a)} sha256:${short(a.sha256)} (artifact ${a.id})`,
        );
      }
    }
  }
  const untouched = g.artifacts.filter((a) => !touched.has(a.id));
  if (untouched.length > 0) {
    lines.push('artifacts without a recorded try:');
    for (const a of untouched) lines.push(`  ${artifactName(a)} sha256:${short(a.sha256)} (artifact ${a.id})`);
  }
  if (g.modelVersions.length > 0) {
    lines.push('model versions:');
    for (const v of g.modelVersions) {
      const a = artifacts.get(v.artifact_id);
      const source =
        v.source_dag_id === null
          ? ''
          : `, from ${v.source_dag_id}/${v.source_run_id}/${v.source_task_id} try ${v.source_try_number}`;
      lines.push(
        `  ${v.model_name}@${v.version} [${v.status}] sha256:${short(v.sha256)}${a ? ` (artifact ${a.id} ${a.name})` : ''}${source}`,
      );
    }
  }
  return lines.join('\n');
}

function dotQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderLineageDot(g: RenderableLineage, title: string): string {
  const lines = [`digraph lineage {`, `  label=${dotQuote(title)};`, '  rankdir=LR;'];
  for (const a of g.artifacts)
    lines.push(`  a${a.id} [shape=ellipse, label=${dotQuote(`${a.name}\\n${a.type} ${short(a.sha256)}`)}];`);
  for (const x of g.executions)
    lines.push(
      `  x${x.id} [shape=box, style=rounded, label=${dotQuote(`${x.task_id} try ${x.try_number}\\n${x.dag_id}/${x.run_id}\\n${x.state}`)}];`,
    );
  for (const v of g.modelVersions)
    lines.push(`  m${v.id} [shape=note, label=${dotQuote(`${v.model_name}@${v.version}\\n${v.status}`)}];`);
  for (const e of g.events)
    lines.push(
      e.kind === 'input' ? `  a${e.artifact_id} -> x${e.execution_id};` : `  x${e.execution_id} -> a${e.artifact_id};`,
    );
  for (const v of g.modelVersions) lines.push(`  a${v.artifact_id} -> m${v.id} [style=dashed, label="registered"];`);
  lines.push('}');
  return lines.join('\n');
}

/** A Mermaid label of lines: quotes and angle brackets as entities (they would end the label or open HTML). */
function mermaidLabel(...parts: string[]): string {
  return `"${parts.map((s) => s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')).join('<br/>')}"`;
}

export function renderLineageMermaid(g: RenderableLineage, title: string): string {
  const lines = ['flowchart LR', `  %% ${title.replace(/\n/g, ' ')}`];
  for (const a of g.artifacts) lines.push(`  a${a.id}([${mermaidLabel(a.name, `${a.type} ${short(a.sha256)}`)}])`);
  for (const x of g.executions) lines.push(`  x${x.id}[${mermaidLabel(`${x.task_id} try ${x.try_number}`)}]`);
  for (const v of g.modelVersions) lines.push(`  m${v.id}{{${mermaidLabel(`${v.model_name}@${v.version}`)}}}`);
  for (const e of g.events)
    lines.push(
      e.kind === 'input' ? `  a${e.artifact_id} --> x${e.execution_id}` : `  x${e.execution_id} --> a${e.artifact_id}`,
    );
  for (const v of g.modelVersions) lines.push(`  a${v.artifact_id} -. registered .-> m${v.id}`);
  return lines.join('\n');
}

export function renderLineage(g: RenderableLineage, title: string, format: LineageFormat): string {
  switch (format) {
    case 'text':
      return renderLineageText(g, title);
    case 'dot':
      return renderLineageDot(g, title);
    case 'mermaid':
      return renderLineageMermaid(g, title);
  }
}

/** The union of lineage graphs (an artifact's upstream and downstream), each row once, by id. */
export function mergeLineage(...graphs: RenderableLineage[]): RenderableLineage {
  const union = <T extends { id: number }>(pick: (g: RenderableLineage) => readonly T[]): T[] =>
    [...new Map(graphs.flatMap(pick).map((r) => [r.id, r])).values()].sort((a, b) => a.id - b.id);
  return {
    artifacts: union((g) => g.artifacts),
    executions: union((g) => g.executions),
    events: union((g) => g.events),
    modelVersions: union((g) => g.modelVersions),
  };
}
