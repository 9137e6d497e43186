/** Renders a DagSpec's graph as text, Graphviz DOT or Mermaid (for `updraft dags show`). */
import type { DagSpec } from '../spec/dag-spec.js';

/** Layer of each task: 0 for roots, else 1 + the deepest upstream. */
function layers(spec: DagSpec): Map<string, number> {
  const layer = new Map<string, number>();
  for (const t of spec.tasks) {
    layer.set(
      t.task_id,
      t.upstream.reduce((m, u) => Math.max(m, (layer.get(u) ?? 0) + 1), 0),
    );
  }
  return layer;
}

export function renderText(spec: DagSpec): string {
  const layer = layers(spec);
  const width = Math.max(...spec.tasks.map((t) => t.task_id.length), 4);
  const lines = [`DAG ${spec.dag_id} (${spec.tasks.length} tasks)`];
  for (const t of spec.tasks) {
    const indent = '  '.repeat(layer.get(t.task_id)! + 1);
    const rule = t.trigger_rule === 'all_success' ? '' : ` [${t.trigger_rule}]`;
    const ups = t.upstream.length ? `  <- ${t.upstream.join(', ')}` : '';
    lines.push(`${indent}${t.task_id.padEnd(width)} (${t.operator})${rule}${ups}`);
  }
  return lines.join('\n');
}

function quote(id: string): string {
  return `"${id.replace(/"/g, '\\"')}"`;
}

export function renderDot(spec: DagSpec): string {
  const lines = [
    `digraph ${quote(spec.dag_id)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fillcolor="#f0f4ff"];',
  ];
  for (const t of spec.tasks) lines.push(`  ${quote(t.task_id)} [label=${quote(`${t.task_id}\\n${t.operator}`)}];`);
  for (const t of spec.tasks) for (const d of t.downstream) lines.push(`  ${quote(t.task_id)} -> ${quote(d)};`);
  lines.push('}');
  return lines.join('\n');
}

export function renderMermaid(spec: DagSpec): string {
  // Mermaid node ids must be simple; map task ids to n0, n1, ... and label them.
  const ids = new Map(spec.tasks.map((t, i) => [t.task_id, `n${i}`]));
  const lines = ['flowchart LR'];
  for (const t of spec.tasks) lines.push(`  ${ids.get(t.task_id)}["${t.task_id.replace(/"/g, '#quot;')}"]`);
  for (const t of spec.tasks) for (const d of t.downstream) lines.push(`  ${ids.get(t.task_id)} --> ${ids.get(d)}`);
  return lines.join('\n');
}
