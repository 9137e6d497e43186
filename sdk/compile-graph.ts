/**
 * The compiler's task-group edges: chain() links with a group at either end become edges to the
 * group's roots or from its leaves (Airflow's TaskGroup.get_roots/get_leaves), and a branch may
 * name a group directly downstream of it.
 */
import type { Fail } from './compile-fields.js';
import type { ChainEnd } from './dag.js';
import type { DeclaredGroup, DeclaredTask } from './task.js';

function isWithin(group: DeclaredGroup | null, ancestor: DeclaredGroup): boolean {
  for (let g = group; g !== null; g = g.parent) if (g === ancestor) return true;
  return false;
}

/** The groups strictly containing a chain end, innermost first. */
function containers(end: ChainEnd, byId: ReadonlyMap<string, DeclaredTask>): DeclaredGroup[] {
  const out: DeclaredGroup[] = [];
  let g = 'group' in end ? end.group.parent : (byId.get(end.task.taskId)?.group ?? null);
  for (; g !== null; g = g.parent) out.push(g);
  return out;
}

/**
 * Adds chain() edges. Task-to-task edges go in as they are; an edge with a group end links the
 * group's roots (downstream side) or leaves (upstream side), computed from the edges inside the
 * group. Those are final once every chain *inside* the group is linked, so group chains are
 * linked innermost first (deepest common enclosing group first); the order of chain() calls in
 * the DAG file does not matter, unlike Airflow's `>>`, which links what exists at that moment.
 */
export function linkChains(
  chains: ReadonlyArray<[ChainEnd, ChainEnd]>,
  tasks: readonly DeclaredTask[],
  byId: ReadonlyMap<string, DeclaredTask>,
  upstream: Map<string, Set<string>>,
  fail: Fail,
): void {
  const withGroups: Array<{ from: ChainEnd; to: ChainEnd; depth: number; order: number }> = [];
  chains.forEach(([from, to], order) => {
    for (const end of [from, to]) {
      if ('task' in end && !byId.has(end.task?.taskId))
        fail(`chain() references unknown task "${String(end.task?.taskId)}"`, undefined, 'chain');
    }
    if ('task' in from && 'task' in to) {
      if (from.task.taskId === to.task.taskId)
        fail(`chain() links task "${from.task.taskId}" to itself`, undefined, 'chain');
      upstream.get(to.task.taskId)!.add(from.task.taskId);
      return;
    }
    for (const [g, other] of [
      [from, to],
      [to, from],
    ] as const) {
      if (!('group' in g)) continue;
      const inside =
        'group' in other ? isWithin(other.group, g.group) : isWithin(byId.get(other.task.taskId)!.group, g.group);
      if (inside) {
        const what =
          'group' in other
            ? other.group === g.group
              ? 'itself'
              : `its own group "${other.group.groupId}"`
            : `its own task "${other.task.taskId}"`;
        fail(`chain() links task group "${g.group.groupId}" to ${what}`, undefined, 'chain');
      }
    }
    const a = containers(from, byId);
    const b = new Set(containers(to, byId));
    const common = a.find((g) => b.has(g));
    withGroups.push({ from, to, depth: common === undefined ? -1 : common.depth, order });
  });
  if (withGroups.length === 0) return;
  withGroups.sort((x, y) => y.depth - x.depth || x.order - y.order);

  const members = (g: DeclaredGroup): DeclaredTask[] => tasks.filter((t) => isWithin(t.group, g));
  const ends = (end: ChainEnd, side: 'roots' | 'leaves'): string[] => {
    if ('task' in end) return [end.task.taskId];
    const inGroup = members(end.group);
    return side === 'roots' ? groupRoots(inGroup, upstream) : groupLeaves(inGroup, upstream);
  };
  for (const { from, to } of withGroups) {
    const ups = ends(from, 'leaves');
    const downs = ends(to, 'roots');
    for (const d of downs) for (const u of ups) upstream.get(d)!.add(u);
  }
}

/** Tasks of the group with no upstream inside the group (Airflow's TaskGroup.get_roots). */
function groupRoots(inGroup: readonly DeclaredTask[], upstream: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const ids = new Set(inGroup.map((t) => t.taskId));
  return inGroup.filter((t) => ![...upstream.get(t.taskId)!].some((u) => ids.has(u))).map((t) => t.taskId);
}

/**
 * Tasks of the group with no downstream inside it, teardowns replaced by the work before them
 * (Airflow's TaskGroup.get_leaves): `group >> x` must not make x wait on a teardown alone.
 */
function groupLeaves(inGroup: readonly DeclaredTask[], upstream: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const byId = new Map(inGroup.map((t) => [t.taskId, t]));
  const downIn = new Map<string, string[]>(inGroup.map((t) => [t.taskId, []]));
  for (const t of inGroup) for (const u of upstream.get(t.taskId)!) downIn.get(u)?.push(t.taskId);
  const isTeardown = (id: string): boolean => byId.get(id)!.teardown !== null;
  const hasNonTeardownDownstream = (id: string, exclude: string): boolean =>
    downIn.get(id)!.some((d) => d !== exclude && !isTeardown(d));
  const out = new Set<string>();
  const viaTeardown = (id: string, seen: Set<string>): void => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const up of upstream.get(id)!) {
      if (!byId.has(up)) continue;
      if (isTeardown(up)) viaTeardown(up, seen);
      else if (isTeardown(id) && byId.get(up)!.setup)
        continue; // not through the teardown-to-setup edge
      else if (!hasNonTeardownDownstream(up, id)) out.add(up);
    }
  };
  for (const t of inGroup) {
    if (downIn.get(t.taskId)!.length > 0) continue;
    if (t.teardown === null) out.add(t.taskId);
    else viaTeardown(t.taskId, new Set());
  }
  return inGroup.map((t) => t.taskId).filter((id) => out.has(id));
}

/** Group id → its roots that are direct downstream of a branch (a branch may name such a group). */
export function branchGroups(
  direct: readonly string[],
  groups: readonly DeclaredGroup[],
  tasks: readonly DeclaredTask[],
  upstreamLists: ReadonlyMap<string, readonly string[]>,
): Record<string, string[]> {
  if (direct.length === 0 || groups.length === 0) return {};
  const directSet = new Set(direct);
  const out: Record<string, string[]> = {};
  const upstreamSets = new Map([...upstreamLists].map(([id, ups]) => [id, new Set(ups)]));
  for (const g of groups) {
    const roots = groupRoots(
      tasks.filter((t) => isWithin(t.group, g)),
      upstreamSets,
    ).filter((r) => directSet.has(r));
    if (roots.length > 0) out[g.groupId] = roots.sort();
  }
  return out;
}
