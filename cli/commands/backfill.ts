/**
 * `updraft backfill create <dag_id> --from-date --to-date [...]`: Airflow 3's backfill (see
 * client/backfill.ts for the rules). The runs are created queued and start as the backfill's
 * max_active_runs allows, on the workers of the running stack.
 */
import type { Command } from 'commander';
import { BackfillError, REPROCESS_BEHAVIORS, createBackfill } from '../../client/backfill.js';
import type { ReprocessBehavior } from '../../engine/timetables/index.js';
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import type { Json } from '../../spec/dag-spec.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase, openCliTemporal } from '../runtime.js';

/** ISO 8601; a date alone is midnight UTC (Airflow's CLI parses naive dates as UTC). */
export function parseCliDate(value: string, option: string): Date {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new CliError(
      `${option} must be an ISO 8601 date or date-time (2025-01-01, 2025-01-01T06:00:00Z, 2025-01-01T06:00:00+01:00), got "${value}"`,
      2,
    );
  }
  return d;
}

export function registerBackfillCommands(program: Command): void {
  const backfill = program.command('backfill').description('Run a DAG for past dates (Airflow 3 backfills)');
  backfill
    .command('create <dag_id>')
    .description(
      "Create runs for the DAG's schedule between two logical dates (inclusive); they start as --max-active-runs allows",
    )
    .requiredOption('--from-date <date>', 'earliest logical date (ISO 8601; a date alone is midnight UTC)')
    .requiredOption('--to-date <date>', 'latest logical date (inclusive)')
    .option(
      '--reprocess-behavior <behavior>',
      `a date that already has a run: ${REPROCESS_BEHAVIORS.join('|')} (none: keep it; failed: re-run failed ones; completed: re-run failed and successful ones)`,
      'none',
    )
    .option('--max-active-runs <n>', "runs of this backfill at once (default: the DAG's max_active_runs)")
    .option('--run-backwards', 'newest logical date first')
    .option('--dag-run-conf <json>', 'JSON object given to every run as conf')
    .option('--dry-run', 'list the runs it would create, create nothing')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      async (
        dagId: string,
        o: {
          fromDate: string;
          toDate: string;
          reprocessBehavior: string;
          maxActiveRuns?: string;
          runBackwards?: boolean;
          dagRunConf?: string;
          dryRun?: boolean;
          output?: string;
        },
      ) => {
        const format = parseOutput(o.output);
        const fromDate = parseCliDate(o.fromDate, '--from-date');
        const toDate = parseCliDate(o.toDate, '--to-date');
        if (!(REPROCESS_BEHAVIORS as readonly string[]).includes(o.reprocessBehavior)) {
          throw new CliError(
            `--reprocess-behavior must be one of ${REPROCESS_BEHAVIORS.join(', ')}, got "${o.reprocessBehavior}"`,
            2,
          );
        }
        const maxActiveRuns = o.maxActiveRuns === undefined ? undefined : Number(o.maxActiveRuns);
        if (maxActiveRuns !== undefined && (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1)) {
          throw new CliError(`--max-active-runs must be an integer >= 1, got "${o.maxActiveRuns}"`, 2);
        }
        let conf: Record<string, Json> | undefined;
        if (o.dagRunConf !== undefined) {
          try {
            conf = JSON.parse(o.dagRunConf) as Record<string, Json>;
          } catch (err) {
            throw new CliError(`--dag-run-conf is not valid JSON: ${jsonSyntaxReason(err)}`, 2);
          }
          if (typeof conf !== 'object' || conf === null || Array.isArray(conf))
            throw new CliError('--dag-run-conf must be a JSON object like {"key": "value"}', 2);
        }
        const config = loadConfig();
        const h = await openCliDatabase(config);
        const t = o.dryRun ? null : await openCliTemporal(config);
        try {
          const outcome = await createBackfill(h.db, t?.client ?? null, {
            dagId,
            fromDate,
            toDate,
            reprocessBehavior: o.reprocessBehavior as ReprocessBehavior,
            maxActiveRuns,
            runBackwards: o.runBackwards === true,
            dryRun: o.dryRun === true,
            conf,
            runOptions: config.run,
            logsFolder: config.logsFolder,
          }).catch((err) => {
            if (err instanceof BackfillError) throw new CliError(err.message);
            throw err;
          });
          print(
            outcome.runs.map((r) => ({ ...r })),
            ['logical_date', 'run_id', 'action', 'reason'],
            format,
          );
          if (format === 'table') {
            const created = outcome.runs.filter((r) => r.action !== 'skip').length;
            process.stderr.write(
              outcome.backfillId === null
                ? `Dry run: ${created} run(s) would be created or re-run, at most ${outcome.maxActiveRuns} at a time\n`
                : `Backfill ${outcome.backfillId}: ${created} run(s) queued, at most ${outcome.maxActiveRuns} at a time (updraft dags list-runs ${dagId})\n`,
            );
          }
        } finally {
          await t?.close();
          await h.close();
        }
      },
    );
}
