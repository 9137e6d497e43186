/**
 * `updraft assets ...`: list, events <uri>, emit <uri> [--extra JSON] (Airflow 3's `airflow assets`
 * and its REST API's asset and asset-event fields; table or `-o json`).
 */
import type { Command } from 'commander';
import { AssetClient, AssetEventInputError, UnknownAssetError, type AssetEventRecord } from '../../client/assets.js';
import { runsOfAssetEvents } from '../../db/asset-triggered-run.repository.js';
import type { DatabaseHandle } from '../../db/connect.js';
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import type { Json } from '../../spec/dag-spec.js';
import { loadConfig } from '../../worker/config.js';
import { nonFiniteNumberMessage, nonFiniteNumberPath } from '../../client/trigger.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

const LIST_COLUMNS = [
  'name',
  'uri',
  'group',
  'extra',
  'scheduled_dags',
  'producing_tasks',
  'events',
  'last_asset_event',
] as const;
const EVENT_COLUMNS = ['id', 'timestamp', 'uri', 'source', 'extra', 'created_dagruns'] as const;
const EVENT_JSON_COLUMNS = [
  'id',
  'asset_id',
  'uri',
  'name',
  'group',
  'extra',
  'source_kind',
  'source_dag_id',
  'source_run_id',
  'source_task_id',
  'source_map_index',
  'source_watcher',
  'timestamp',
  'created_dagruns',
] as const;

async function withAssets<T>(fn: (assets: AssetClient, h: DatabaseHandle) => Promise<T>): Promise<T> {
  const h = await openCliDatabase(loadConfig());
  const assets = await AssetClient.connect({ db: h.db });
  try {
    return await fn(assets, h);
  } catch (err) {
    if (err instanceof UnknownAssetError || err instanceof AssetEventInputError) throw new CliError(err.message);
    throw err;
  } finally {
    await assets.close();
    await h.close();
  }
}

/** Who made an event, in one cell: dag.run.task[map], the watcher, or api/cli. */
function sourceOf(e: AssetEventRecord): string {
  if (e.source_kind === 'task')
    return `${e.source_dag_id}.${e.source_task_id}${e.source_map_index !== null && e.source_map_index >= 0 ? `[${e.source_map_index}]` : ''} (${e.source_run_id})`;
  if (e.source_kind === 'watcher') return `watcher ${e.source_watcher}`;
  return e.source_kind;
}

function parseExtra(raw: string | undefined): { [key: string]: Json } {
  if (raw === undefined) return {};
  let extra: unknown;
  try {
    extra = JSON.parse(raw);
  } catch (err) {
    // Not the parser's message: it quotes the input.
    throw new CliError(`--extra is not valid JSON: ${jsonSyntaxReason(err)} (example: --extra '{"rows": 1200}')`, 2);
  }
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
    throw new CliError(
      `--extra must be a JSON object like '{"rows": 1200}', got ${Array.isArray(extra) ? 'an array' : extra === null ? 'null' : typeof extra}`,
      2,
    );
  }
  const nonFinite = nonFiniteNumberPath(extra, 'extra');
  if (nonFinite !== null) throw new CliError(`--extra: ${nonFiniteNumberMessage(nonFinite)}`, 2);
  return extra as { [key: string]: Json };
}

function positiveInt(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) throw new CliError(`${flag} must be a positive integer, got "${raw}"`, 2);
  return n;
}

export function registerAssetsCommands(program: Command): void {
  const assets = program
    .command('assets')
    .description('Assets (Airflow 3): list them, their events, and emit an event');

  assets
    .command('list')
    .description(
      'List the assets the DAGs declare (outlets and asset schedules), who consumes and produces them, and their events',
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withAssets(async (client) => {
        const rows = (await client.assets()).map((a) => ({
          ...a,
          scheduled_dags: a.consuming_dags,
          events: a.event_count,
          last_asset_event: a.last_event_at,
          ...(format === 'table'
            ? { scheduled_dags: a.consuming_dags.join(', '), producing_tasks: a.producing_tasks.join(', ') }
            : {}),
        }));
        print(rows, LIST_COLUMNS, format);
      });
    });

  assets
    .command('events <uri>')
    .description("List an asset's events, newest first, with who made them and the runs they started")
    .option('--limit <n>', 'at most this many events', '25')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (uri: string, o: { limit: string; output?: string }) => {
      const format = parseOutput(o.output);
      const limit = positiveInt(o.limit, '--limit');
      await withAssets(async (client, h) => {
        const events = await client.events(uri, { limit });
        const runs = await runsOfAssetEvents(
          h.db,
          events.map((e) => e.id),
        );
        const rows = events.map((e) => {
          const created = runs.get(e.id) ?? [];
          return {
            ...e,
            source: sourceOf(e),
            created_dagruns: format === 'table' ? created.map((r) => `${r.dag_id} ${r.run_id}`).join(', ') : created,
          };
        });
        print(rows, format === 'table' ? EVENT_COLUMNS : EVENT_JSON_COLUMNS, format);
      });
    });

  assets
    .command('emit <uri>')
    .description(
      'Record an event for an asset (as if it was updated): the DAGs scheduled on it run when their condition is met',
    )
    .option('--extra <json>', 'a JSON object the event carries (the consuming run sees it in triggering_asset_events)')
    .option('--dedupe-key <key>', 'an idempotency key: emitting again with the same key records nothing new')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (uri: string, o: { extra?: string; dedupeKey?: string; output?: string }) => {
      const format = parseOutput(o.output);
      const extra = parseExtra(o.extra);
      await withAssets(async (client) => {
        const emitted = await client.emit(uri, {
          extra,
          source: 'cli',
          ...(o.dedupeKey !== undefined ? { dedupeKey: o.dedupeKey } : {}),
        });
        if (format === 'json') {
          process.stdout.write(`${JSON.stringify(emitted, null, 2)}\n`);
          return;
        }
        const e = emitted.event;
        if (emitted.duplicate) {
          process.stdout.write(
            `Asset event ${e.id} for '${e.uri}' was already recorded with this dedupe key at ${e.timestamp}; nothing new recorded\n`,
          );
          return;
        }
        const queued =
          emitted.queued_for.length > 0
            ? `queued for ${emitted.queued_for.join(', ')}`
            : 'no unpaused DAG is scheduled on it, so no run follows';
        process.stdout.write(`Asset event ${e.id} recorded for '${e.uri}' at ${e.timestamp}; ${queued}\n`);
      });
    });
}
