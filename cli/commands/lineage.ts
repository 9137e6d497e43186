/**
 * `updraft lineage <artifact sha256 | model@version | model@alias | dag_id run_id>`: the lineage
 * graph as text, DOT or Mermaid (cli/lineage-render.ts), or JSON with `-o json`. A model version
 * shows what it was built from (upstream) by default; an artifact both ways; a DAG run its tries
 * with what each read and wrote. Read only.
 */
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { getDagRun } from '../../db/dag-run.repository.js';
import { downstreamOfArtifacts, lineageOfRun, upstreamOfArtifacts } from '../../db/lineage.repository.js';
import { AliasNotFoundError } from '../../db/ml-errors.js';
import { getModelVersion, resolveAlias, upstreamOfModelVersion } from '../../db/model-registry.repository.js';
import {
  LINEAGE_FORMATS,
  mergeLineage,
  renderLineage,
  type LineageFormat,
  type RenderableLineage,
} from '../lineage-render.js';
import { CliError, parseOutput } from '../output.js';
import { artifactsNamed } from './artifacts.js';
import { versionNumber, withRecord } from '../ml-record.js';

type Direction = 'upstream' | 'downstream' | 'both';

async function lineageOf(
  db: Kysely<Database>,
  target: string,
  runId: string | undefined,
  direction: Direction | null,
): Promise<{ graph: RenderableLineage; title: string }> {
  if (runId !== undefined) {
    if (direction !== null)
      throw new CliError('--upstream/--downstream apply to an artifact or a model version, not to a DAG run', 2);
    const graph = await lineageOfRun(db, target, runId);
    if (graph.executions.length === 0 && (await getDagRun(db, target, runId)) === undefined) {
      throw new CliError(
        `no DAG run "${runId}" of "${target}" is recorded (see \`updraft dags list-runs ${target}\`)`,
        2,
      );
    }
    return { graph, title: `Lineage of DAG run ${target}/${runId}` };
  }
  const at = target.lastIndexOf('@');
  if (at > 0) {
    const model = target.slice(0, at);
    const ref = target.slice(at + 1);
    let version: number;
    if (/^[0-9]+$/.test(ref)) {
      version = versionNumber(ref, 'the version');
    } else {
      const aliased = await resolveAlias(db, model, ref);
      if (aliased === undefined) throw new AliasNotFoundError(model, ref);
      version = aliased.version;
    }
    const dir = direction ?? 'upstream';
    const mv = await getModelVersion(db, model, version);
    const up = dir === 'downstream' ? null : await upstreamOfModelVersion(db, model, version);
    const down = dir === 'upstream' ? null : await downstreamOfArtifacts(db, [mv.artifact_id]);
    return {
      graph: mergeLineage(...[up, down].filter((g): g is NonNullable<typeof g> => g !== null)),
      title: `Lineage of ${model}@${version} (${dir})`,
    };
  }
  if (/^[0-9a-f]{64}$/.test(target)) {
    const ids = (await artifactsNamed(db, target)).map((a) => a.id);
    const dir = direction ?? 'both';
    const up = dir === 'downstream' ? null : await upstreamOfArtifacts(db, ids);
    const down = dir === 'upstream' ? null : await downstreamOfArtifacts(db, ids);
    return {
      graph: mergeLineage(...[up, down].filter((g): g is NonNullable<typeof g> => g !== null)),
      title: `Lineage of artifact ${target.slice(0, 12)} (${dir})`,
    };
  }
  throw new CliError(
    `expected an artifact sha256 (64 lowercase hex), model@version (or model@alias), or "dag_id run_id"; got "${target}"`,
    2,
  );
}

export function registerLineageCommand(program: Command): void {
  program
    .command('lineage <target> [run_id]')
    .description(
      'Lineage of an artifact (sha256), a model version (model@version or model@alias) or a DAG run (dag_id run_id)',
    )
    .option('--upstream', 'what it was built from (default for a model version)')
    .option('--downstream', 'what was built from it')
    .option('--format <format>', `how to draw it: ${LINEAGE_FORMATS.join(', ')}`, 'text')
    .option('-o, --output <format>', "json prints the graph's rows instead of a drawing")
    .action(
      async (
        target: string,
        runId: string | undefined,
        o: { upstream?: boolean; downstream?: boolean; format: string; output?: string },
      ) => {
        if (!(LINEAGE_FORMATS as readonly string[]).includes(o.format)) {
          throw new CliError(`--format must be one of ${LINEAGE_FORMATS.join(', ')}, got "${o.format}"`, 2);
        }
        const json = o.output !== undefined && parseOutput(o.output) === 'json';
        const direction: Direction | null =
          o.upstream && o.downstream ? 'both' : o.upstream ? 'upstream' : o.downstream ? 'downstream' : null;
        await withRecord(async (db) => {
          const { graph, title } = await lineageOf(db, target, runId, direction);
          process.stdout.write(
            json
              ? `${JSON.stringify({ title, ...graph }, null, 2)}\n`
              : `${renderLineage(graph, title, o.format as LineageFormat)}\n`,
          );
        });
      },
    );
}
