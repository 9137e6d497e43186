/**
 * `updraft artifacts ...`: list (newest first, by type) and show (by sha256 or id: every recorded
 * name of the bytes, the tries that wrote and read them, the model versions built from them).
 * Read only.
 */
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { ARTIFACT_TYPES, type ArtifactRow, type ArtifactType, type Database } from '../../db/database.js';
import { findArtifactsBySha256, getArtifact, listArtifacts } from '../../db/artifact.repository.js';
import { ArtifactNotFoundError } from '../../db/ml-errors.js';
import { CliError, parseOutput, print } from '../output.js';
import { withRecord } from '../ml-record.js';

const COLUMNS = ['id', 'sha256', 'name', 'type', 'format', 'size', 'uri', 'created_at'] as const;

/** The artifact rows an argument names: a sha256 (every name and type of those bytes) or an id. */
export async function artifactsNamed(db: Kysely<Database>, target: string): Promise<ArtifactRow[]> {
  if (/^[0-9a-f]{64}$/.test(target)) {
    const rows = await findArtifactsBySha256(db, target);
    if (rows.length === 0) throw new ArtifactNotFoundError('artifact', `with sha256 ${target}`);
    return rows;
  }
  if (/^[0-9]+$/.test(target) && Number.isSafeInteger(Number(target))) {
    const row = await getArtifact(db, Number(target));
    if (row === undefined) throw new ArtifactNotFoundError('artifact', `with id ${target}`);
    return [row];
  }
  throw new CliError(
    `expected an artifact's sha256 (64 lowercase hex characters) or its id, got "${target}" (see \`updraft artifacts list\`)`,
    2,
  );
}

async function eventsOf(db: Kysely<Database>, ids: number[]) {
  return db
    .selectFrom('lineage_event as e')
    .innerJoin('execution as x', 'x.id', 'e.execution_id')
    .select([
      'e.artifact_id',
      'e.kind',
      'x.dag_id',
      'x.run_id',
      'x.task_id',
      'x.map_index',
      'x.try_number',
      'x.state',
      'e.created_at',
    ])
    .where('e.artifact_id', 'in', ids)
    .orderBy('e.id')
    .execute();
}

async function versionsOf(db: Kysely<Database>, ids: number[]) {
  return db
    .selectFrom('model_version as v')
    .innerJoin('registered_model as m', 'm.id', 'v.model_id')
    .select(['v.artifact_id', 'm.name as model', 'v.version', 'v.status'])
    .where('v.artifact_id', 'in', ids)
    .orderBy('v.id')
    .execute();
}

export function registerArtifactsCommands(program: Command): void {
  const artifacts = program
    .command('artifacts')
    .description('Artifacts in the lineage record: content-addressed data sets, models and reports');

  artifacts
    .command('list')
    .description('List artifacts, newest first')
    .option('--type <type>', `only this type (${ARTIFACT_TYPES.join(', ')})`)
    .option('--limit <n>', 'at most this many', '100')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { type?: string; limit: string; output?: string }) => {
      const format = parseOutput(o.output);
      if (o.type !== undefined && !(ARTIFACT_TYPES as readonly string[]).includes(o.type)) {
        throw new CliError(`--type must be one of ${ARTIFACT_TYPES.join(', ')}, got "${o.type}"`, 2);
      }
      if (!/^[0-9]+$/.test(o.limit) || Number(o.limit) < 1)
        throw new CliError(`--limit must be a positive integer, got "${o.limit}"`, 2);
      await withRecord(async (db) => {
        const rows = await listArtifacts(db, {
          limit: Number(o.limit),
          ...(o.type === undefined ? {} : { type: o.type as ArtifactType }),
        });
        print(rows, COLUMNS, format);
      });
    });

  artifacts
    .command('show <sha256_or_id>')
    .description('Show an artifact: its names, the tries that wrote and read it, the model versions built from it')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (target: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) => {
        const rows = await artifactsNamed(db, target);
        const ids = rows.map((r) => r.id);
        const events = await eventsOf(db, ids);
        const versions = await versionsOf(db, ids);
        if (format === 'json') {
          const out = rows.map((r) => ({
            ...r,
            events: events.filter((e) => e.artifact_id === r.id),
            model_versions: versions.filter((v) => v.artifact_id === r.id),
          }));
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          return;
        }
        print(rows, [...COLUMNS, 'metadata'], format);
        process.stdout.write('\n');
        print(
          events.map((e) => ({
            ...e,
            try: `${e.dag_id}/${e.run_id}/${e.task_id}${e.map_index >= 0 ? `[${e.map_index}]` : ''} try ${e.try_number}`,
          })),
          ['artifact_id', 'kind', 'try', 'state', 'created_at'],
          format,
        );
        if (versions.length > 0) {
          process.stdout.write('\n');
          print(
            versions.map((v) => ({ ...v, model_version: `${v.model}@${v.version}` })),
            ['artifact_id', 'model_version', 'status'],
            format,
          );
        }
      });
    });
}
