/**
 * `updraft models ...`: list, show, versions, history (read only) and promote, rollback (an alias
 * moved by compare-and-swap with the same audit row a model gate writes; actor $UPDRAFT_ACTOR or
 * the OS user). Bad input exits 2 and writes nothing.
 */
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import {
  DEFAULT_ALIAS,
  getModelVersion,
  getRegisteredModel,
  listModelVersions,
  listRegisteredModels,
  promotionHistory,
  rollbackAlias,
  setAlias,
  type AliasMoveResult,
  type ModelVersionWithAliases,
} from '../../db/model-registry.repository.js';
import { ModelNotFoundError } from '../../db/ml-errors.js';
import { CliError, parseOutput, print } from '../output.js';
import { actor, versionArgument, versionNumber, withRecord } from '../ml-record.js';

const aliasList = (aliases: Record<string, number>): string =>
  Object.entries(aliases)
    .map(([a, v]) => `${a}=${v}`)
    .join(', ');

function versionRow(v: ModelVersionWithAliases): Record<string, unknown> {
  return {
    ...v,
    model: v.model_name,
    aliases: v.aliases.join(', '),
    source:
      v.source_dag_id === null
        ? null
        : `${v.source_dag_id}/${v.source_run_id}/${v.source_task_id} try ${v.source_try_number}`,
  };
}

const VERSION_COLUMNS = [
  'version',
  'aliases',
  'status',
  'sha256',
  'format',
  'metrics',
  'source',
  'created_at',
] as const;

/** What a manual move did, in one line; a lost race is an error (the `lost` row is recorded). */
async function describeMove(
  db: Kysely<Database>,
  model: string,
  alias: string,
  r: AliasMoveResult,
  verb: string,
): Promise<string> {
  const to = `${model}@${r.current?.version ?? '?'}`;
  if (r.outcome === 'unchanged') return `${to} is already ${alias}; nothing changed`;
  if (r.outcome === 'lost') {
    throw new CliError(
      `another promotion moved "${alias}" first (it is at ${to} now); nothing changed — see \`updraft models history ${model}\` and retry`,
      1,
    );
  }
  const row = (await promotionHistory(db, model, alias)).find((p) => p.id === r.promotion!.id)!;
  return `${verb} ${to} to ${alias}${row.from_version === null ? '' : ` (was version ${row.from_version})`}; promotion log row ${row.id} by ${row.actor}`;
}

export function registerModelsCommands(program: Command): void {
  const models = program
    .command('models')
    .description(
      'The model registry: registered models, versions, aliases (champion, challenger) and the promotion log',
    );

  models
    .command('list')
    .description('List registered models with their latest version and aliases')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) => {
        const rows = (await listRegisteredModels(db)).map((m) => ({
          ...m,
          aliases: format === 'json' ? m.aliases : aliasList(m.aliases),
        }));
        print(rows, ['name', 'latest_version', 'aliases', 'description', 'created_at'], format);
      });
    });

  models
    .command('show <name>')
    .description('Show a registered model and the version each alias points at')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (name: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) => {
        const model = await getRegisteredModel(db, name);
        if (model === undefined) throw new ModelNotFoundError(name);
        const summary = (await listRegisteredModels(db)).find((m) => m.id === model.id)!;
        const aliases = await Promise.all(
          Object.entries(summary.aliases).map(async ([alias, version]) => {
            const v = await getModelVersion(db, name, version);
            return { alias, version, status: v.status, sha256: v.sha256, metrics: v.metrics };
          }),
        );
        if (format === 'json') {
          process.stdout.write(`${JSON.stringify({ ...summary, aliases }, null, 2)}\n`);
          return;
        }
        print(
          [{ ...summary, aliases: aliasList(summary.aliases) }],
          ['name', 'latest_version', 'aliases', 'description', 'created_at'],
          format,
        );
        process.stdout.write('\n');
        print(aliases, ['alias', 'version', 'status', 'sha256', 'metrics'], format);
      });
    });

  models
    .command('versions <name>')
    .description("List a model's versions, newest first, with aliases, status, metrics and source try")
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (name: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) =>
        print((await listModelVersions(db, name)).map(versionRow), ['model', ...VERSION_COLUMNS], format),
      );
    });

  models
    .command('promote <name> <version>')
    .description(
      "Move an alias (default champion) to a version by compare-and-swap, logged like a model gate's promotion",
    )
    .option('--alias <alias>', 'the alias to move', DEFAULT_ALIAS)
    .option('--reason <text>', 'why (kept in the promotion log)')
    .action(async (name: string, versionText: string, o: { alias: string; reason?: string }) => {
      const version = versionArgument(name, versionText, 'version');
      const who = actor();
      await withRecord(async (db) => {
        const before = await getRegisteredModel(db, name);
        if (before === undefined) throw new ModelNotFoundError(name);
        const r = await setAlias(db, {
          model: name,
          alias: o.alias,
          version,
          action: 'promote',
          actor: who,
          reason: o.reason ?? null,
        });
        process.stdout.write(`${await describeMove(db, name, o.alias, r, 'Promoted')}\n`);
      });
    });

  models
    .command('rollback <name>')
    .description('Move an alias (default champion) back: to --to <version>, or to the version it held before')
    .option('--to <version>', 'the version to roll back to')
    .option('--alias <alias>', 'the alias to move', DEFAULT_ALIAS)
    .option('--reason <text>', 'why (kept in the promotion log)')
    .action(async (name: string, o: { to?: string; alias: string; reason?: string }) => {
      const toVersion = o.to === undefined ? undefined : versionNumber(o.to, '--to');
      const who = actor();
      await withRecord(async (db) => {
        const r = await rollbackAlias(db, {
          model: name,
          alias: o.alias,
          ...(toVersion === undefined ? {} : { toVersion }),
          actor: who,
          reason: o.reason ?? null,
        });
        process.stdout.write(`${await describeMove(db, name, o.alias, r, 'Rolled back')}\n`);
      });
    });

  models
    .command('history <name>')
    .description('The promotion log of a model, oldest first (append-only: promote, rollback, set, lost)')
    .option('--alias <alias>', 'only this alias')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (name: string, o: { alias?: string; output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) => {
        const rows = await promotionHistory(db, name, o.alias);
        print(
          rows.map((r) => ({ ...r })),
          ['id', 'created_at', 'alias', 'action', 'from_version', 'to_version', 'evaluation_id', 'actor', 'reason'],
          format,
        );
      });
    });
}
