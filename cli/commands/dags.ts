/**
 * `updraft dags ...`: list, list-import-errors, show, details, trigger, test, list-runs, state,
 * set-run-state, reserialize, check. The read commands read the stored parse result (the worker's
 * DAG processor keeps it current); only reserialize, check and test read the DAGs folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import {
  getDag,
  getDagVersionByNumber,
  getLatestDagVersion,
  listDagVersions,
  listDags,
  listDagsWithVersion,
} from '../../db/dag.repository.js';
import { getDagRun, listDagRuns } from '../../db/dag-run.repository.js';
import { listImportErrors } from '../../db/import-error.repository.js';
import { renderDot, renderMermaid, renderText } from '../../sdk/graph-render.js';
import { nonFiniteNumberMessage, nonFiniteNumberPath, triggerDagRun, TriggerError } from '../../client/trigger.js';
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import { DagRunState, DagRunTriggeredBy } from '../../spec/states.js';
import { loadConfig, type UpdraftConfig } from '../../worker/config.js';
import { DagBag, listDagFiles } from '../../worker/dag-bag.js';
import { syncDagBag } from '../../worker/dag-sync.js';
import { startStack } from '../../worker/stack.js';
import { freePort, isPortFree } from '../../worker/temporal-server.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase, openCliTemporal, readDevInfo, stackDagsFolder, workflowUiUrl } from '../runtime.js';
import { runOperatorCommand } from '../operator-action.js';
import { watchRun } from '../watch-run.js';
import { nextRunAfter, registerScheduleCommands } from './dag-schedule.js';

const NOTHING_PARSED =
  'No parse of the DAGs folder is stored yet: start `updraft dev` (its worker parses the folder and keeps it current) ' +
  'or run `updraft dags reserialize`';

/** Why a DAG is not in the stored parse result, and what to do. */
async function dagNotStored(db: Kysely<Database>, dagId: string): Promise<string> {
  const errors = await listImportErrors(db);
  const broken = errors.length ? ` (${errors.length} file(s) failed to load: updraft dags list-import-errors)` : '';
  return (
    `DAG "${dagId}" not found in the last parse of the DAGs folder${broken}. A running \`updraft dev\` picks up a new file ` +
    'within seconds; without one, run `updraft dags reserialize`'
  );
}

/** The files `dags check` checks: every DAG file, one file, or the file of one stored DAG. */
async function dagFilesToCheck(config: UpdraftConfig, folder: string, target: string | undefined): Promise<string[]> {
  if (target === undefined) {
    if (!fs.existsSync(folder)) throw new CliError(`DAGs folder ${folder} does not exist (set UPDRAFT_DAGS_FOLDER)`);
    const files = listDagFiles(folder);
    if (files.length === 0) throw new CliError(`no DAG files in ${folder}`);
    return files;
  }
  for (const candidate of [path.resolve(target), path.resolve(folder, target)]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return [candidate];
  }
  const h = await openCliDatabase(config);
  try {
    const dag = await getDag(h.db, target);
    if (!dag)
      throw new CliError(
        `"${target}" is neither a file nor a DAG of the last parse (updraft dags list); pass the DAG file's path`,
      );
    return [path.join(folder, dag.fileloc)];
  } finally {
    await h.close();
  }
}

function parseConf(raw: string | undefined): unknown {
  if (raw === undefined) return {};
  let conf: unknown;
  try {
    conf = JSON.parse(raw);
  } catch (err) {
    // Not the parser's message: it quotes the input, which may hold a token.
    throw new CliError(`--conf is not valid JSON: ${jsonSyntaxReason(err)} (example: --conf '{"rows": 10}')`, 2);
  }
  const nonFinite = nonFiniteNumberPath(conf, 'conf');
  if (nonFinite !== null) throw new CliError(`--conf: ${nonFiniteNumberMessage(nonFinite)}`, 2);
  return conf;
}

const RUN_STATES: readonly string[] = Object.values(DagRunState);

export function registerDagsCommands(program: Command): void {
  const dags = program.command('dags').description('Manage DAGs and DAG runs');
  registerScheduleCommands(dags);

  dags
    .command('list')
    .description('List the DAGs of the last parse of the DAGs folder (stored by the worker or `dags reserialize`)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        // The stored parse result, as `airflow dags list` reads it: no file is imported here.
        const dagRows = await listDagsWithVersion(h.db, { is_active: true });
        const errors = await listImportErrors(h.db);
        const now = new Date();
        const rows = [];
        for (const d of dagRows) {
          rows.push({
            ...d,
            filepath: d.fileloc,
            owner: d.owners,
            version: d.version_number,
            next_dagrun: d.schedule === null ? null : await nextRunAfter(h.db, d.dag_id, now),
          });
        }
        print(
          rows,
          ['dag_id', 'filepath', 'owner', 'version', 'schedule', 'is_paused', 'next_dagrun'],
          parseOutput(o.output),
        );
        if (rows.length === 0 && errors.length === 0) process.stderr.write(`${NOTHING_PARSED}\n`);
        if (errors.length > 0)
          process.stderr.write('Failed to load all files. For details, run `updraft dags list-import-errors`\n');
      } finally {
        await h.close();
      }
    });

  dags
    .command('list-import-errors')
    .description('List files that failed to load at the last parse (exits 1 when there are any)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const errors = await listImportErrors(h.db);
        print(
          errors.map((e) => ({ filepath: e.filename, error: e.stacktrace })),
          ['filepath', 'error'],
          parseOutput(o.output),
        );
        if (errors.length > 0) process.exitCode = 1;
        else if ((await listDags(h.db)).length === 0) process.stderr.write(`${NOTHING_PARSED}\n`);
      } finally {
        await h.close();
      }
    });

  dags
    .command('set-run-state <dag_id> <run_id> <state>')
    .description(
      'Mark a DAG run success or failed: unfinished tasks are marked (running tries stopped), teardowns still run',
    )
    .option('--dry-run', 'list what would change, change nothing')
    .option('-w, --wait', 'wait for the run to end and print its task states')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      async (dagId: string, runId: string, state: string, o: { dryRun?: boolean; wait?: boolean; output?: string }) => {
        const format = parseOutput(o.output);
        if (state !== 'success' && state !== 'failed')
          throw new CliError(`state must be success or failed, got "${state}"`, 2);
        await runOperatorCommand({
          dagId,
          runId,
          format,
          wait: o.wait,
          action: { kind: 'set_run_state', state, dry_run: o.dryRun === true },
        });
      },
    );

  dags
    .command('reserialize')
    .description(
      "Parse the DAGs folder (the running stack's) now and store every DAG version, active flag and import error",
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      const config = loadConfig();
      const folder = stackDagsFolder(config);
      const h = await openCliDatabase(config);
      try {
        const bag = await DagBag.load(folder, { importTimeoutMs: config.dagbagImportTimeoutSeconds * 1000 });
        const r = await syncDagBag(h.db, bag);
        if (format === 'json') {
          process.stdout.write(
            `${JSON.stringify({ dags_folder: folder, dags: r.dags, import_errors: r.importErrors, new_versions: r.newVersions, deactivated: r.deactivated }, null, 2)}\n`,
          );
          return;
        }
        for (const v of r.newVersions)
          process.stdout.write(`${v.filename}: DAG ${v.dagId} version ${v.versionNumber}\n`);
        process.stdout.write(
          `${r.dags} DAG(s) stored from ${folder}, ${r.newVersions.length} new version(s), ` +
            `${r.deactivated} marked inactive, ${r.importErrors} import error(s)${r.importErrors ? ' (updraft dags list-import-errors)' : ''}\n`,
        );
      } finally {
        await h.close();
      }
    });

  dags
    .command('show <dag_id>')
    .description('Show a DAG (its latest stored version, or --dag-version N) as text, Graphviz DOT or Mermaid')
    .option('-f, --format <format>', 'text, dot or mermaid', 'text')
    .option('--dag-version <n>', 'a stored version number (default: the latest; see `dags list-versions`)')
    .action(async (dagId: string, o: { format: string; dagVersion?: string }) => {
      const render = { text: renderText, dot: renderDot, mermaid: renderMermaid }[o.format];
      if (!render) throw new CliError(`--format must be text, dot or mermaid, got "${o.format}"`, 2);
      const number = o.dagVersion === undefined ? null : Number(o.dagVersion);
      if (number !== null && (!Number.isInteger(number) || number < 1))
        throw new CliError(`--dag-version must be a version number (1, 2, ...), got "${o.dagVersion}"`, 2);
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const dag = await getDag(h.db, dagId);
        if (!dag) throw new CliError(await dagNotStored(h.db, dagId));
        const version =
          number === null ? await getLatestDagVersion(h.db, dagId) : await getDagVersionByNumber(h.db, dagId, number);
        if (!version)
          throw new CliError(
            `DAG "${dagId}" has no version ${number ?? ''} stored (see \`updraft dags list-versions ${dagId}\`)`,
          );
        if (!dag.is_active)
          process.stderr.write(
            `DAG "${dagId}" is inactive: ${dag.fileloc} no longer defines it (the last version it had is shown)\n`,
          );
        process.stdout.write(`${render(version.spec)}\n`);
      } finally {
        await h.close();
      }
    });

  dags
    .command('list-versions <dag_id>')
    .description("List a DAG's stored versions, oldest first: each is a spec and the code it was parsed from")
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        if (!(await getDag(h.db, dagId))) throw new CliError(await dagNotStored(h.db, dagId));
        const rows = (await listDagVersions(h.db, dagId)).map((v) => ({
          version: v.version_number,
          created_at: v.created_at,
          spec_hash: v.spec_hash.slice(0, 12),
          code_hash: v.code_hash === null ? '(not kept)' : v.code_hash.slice(0, 12),
        }));
        print(rows, ['version', 'created_at', 'spec_hash', 'code_hash'], format);
      } finally {
        await h.close();
      }
    });

  dags
    .command('check [dag_id_or_file]')
    .description(
      "Type-check the DAG files (the running stack's folder) with the TypeScript compiler: mis-typed edges, wrong options",
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (target: string | undefined, o: { output?: string }) => {
      const format = parseOutput(o.output);
      const config = loadConfig();
      const folder = stackDagsFolder(config);
      const files = await dagFilesToCheck(config, folder, target);
      const { typecheckDagFiles, formatTypeProblem } = await import('../dag-typecheck.js');
      const result = typecheckDagFiles(folder, files);
      if (format === 'json') {
        print(
          result.problems.map((p) => ({ ...p, file: path.relative(process.cwd(), p.file) })),
          ['file', 'line', 'column', 'code', 'message'],
          format,
        );
      } else {
        for (const p of result.problems) process.stdout.write(`${formatTypeProblem(p)}\n`);
        const fileCount = new Set(result.problems.map((p) => p.file)).size;
        process.stdout.write(
          result.problems.length === 0
            ? `No type errors in ${files.length} DAG file(s) of ${folder}\n`
            : `${result.problems.length} type error(s) in ${fileCount} file(s)\n`,
        );
      }
      if (result.problems.length > 0) process.exitCode = 1;
    });

  dags
    .command('trigger <dag_id>')
    .description('Start a DAG run')
    .option('-c, --conf <json>', 'JSON object passed to the run as conf')
    .option('-r, --run-id <run_id>', 'run id (default manual__<timestamp with microseconds>)')
    .option('-w, --wait', 'show task states live until the run ends; the exit code says how it ended')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, o: { conf?: string; runId?: string; wait?: boolean; output?: string }) => {
      const format = parseOutput(o.output);
      const config = loadConfig();
      const conf = parseConf(o.conf);
      const h = await openCliDatabase(config);
      const t = await openCliTemporal(config);
      try {
        const run = await triggerDagRun(h.db, t.client, {
          dagId,
          runId: o.runId,
          conf,
          runOptions: config.run,
          logsFolder: config.logsFolder,
        }).catch((err) => {
          if (err instanceof TriggerError) throw new CliError(err.message);
          throw err;
        });
        const ui = t.uiUrl ? workflowUiUrl(t.uiUrl, config.namespace, run.workflowId) : null;
        // Airflow 3 keeps a paused DAG's runs queued, manual ones too.
        if ((await getDag(h.db, dagId))?.is_paused)
          process.stderr.write(
            `DAG "${dagId}" is paused: the run stays queued until it is unpaused (updraft dags unpause ${dagId})\n`,
          );
        if (!o.wait) {
          print(
            [{ dag_id: dagId, run_id: run.runId, state: 'queued', workflow_id: run.workflowId, ui }],
            ['dag_id', 'run_id', 'state', 'workflow_id', 'ui'],
            format,
          );
          return;
        }
        const state = await watchRun(h.db, dagId, run.runId, {
          format,
          live: format === 'table' && process.stdout.isTTY === true,
        });
        if (ui && format === 'table') process.stdout.write(`Temporal UI: ${ui}\n`);
        if (state !== 'success') process.exitCode = 1;
      } finally {
        await t.close();
        await h.close();
      }
    });

  dags
    .command('test <dag_id>')
    .description('Run a DAG once, in-process, on the embedded servers (no `updraft dev` needed)')
    .option('-c, --conf <json>', 'JSON object passed to the run as conf')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, o: { conf?: string; output?: string }) => {
      const format = parseOutput(o.output);
      const config = loadConfig();
      const conf = parseConf(o.conf);
      if (readDevInfo(config)) {
        throw new CliError(
          '`updraft dev` is running and holds the embedded database; use `updraft dags trigger ' +
            dagId +
            ' --wait` instead',
        );
      }
      const progress = (line: string): void => {
        if (format === 'table') process.stderr.write(`${line}\n`);
      };
      // Use the dev ports when free so the run lands in the same Temporal history `updraft dev` shows.
      const port = (await isPortFree(config.devTemporalPort)) ? config.devTemporalPort : await freePort();
      const ui = await isPortFree(config.devUiPort);
      const stack = await startStack({
        // One run of one DAG: no schedules are made or fired by this short-lived stack.
        config: { ...config, devTemporalPort: port, scheduler: false },
        dagProcessor: false,
        embeddedTemporal: 'persistent',
        ui,
        log: progress,
        holder: `updraft dags test ${dagId}`,
        // One run of one DAG: no watchers, no runs of other DAGs (outlet events are still recorded).
        assets: false,
      });
      try {
        if (!stack.bag.get(dagId)) {
          const broken = stack.bag.importErrors.length
            ? ` (${stack.bag.importErrors.length} file(s) failed to load: updraft dags list-import-errors)`
            : '';
          throw new CliError(`DAG "${dagId}" not found in ${config.dagsFolder}${broken}`);
        }
        const run = await triggerDagRun(stack.database.db, stack.client, {
          dagId,
          conf,
          // Runs even when the DAG is paused, as Airflow's `dags test` does.
          triggeredBy: DagRunTriggeredBy.TEST,
          runOptions: config.run,
          logsFolder: config.logsFolder,
        }).catch((err) => {
          if (err instanceof TriggerError) throw new CliError(err.message);
          throw err;
        });
        const state = await watchRun(stack.database.db, dagId, run.runId, {
          format,
          live: format === 'table' && process.stdout.isTTY === true,
        });
        if (format === 'table') {
          process.stdout.write(
            `\nTask logs: ${config.logsFolder}/dag_id=${dagId}/ (or: updraft tasks logs ${dagId} ${run.runId} <task_id>)\n`,
          );
          const url = workflowUiUrl(
            stack.uiUrl ?? `http://127.0.0.1:${config.devUiPort}`,
            config.namespace,
            run.workflowId,
          );
          process.stdout.write(
            `Temporal UI: ${url}\n  (served while \`updraft dev\` runs; it keeps this run's history)\n`,
          );
        }
        if (state !== 'success') process.exitCode = 1;
      } finally {
        await stack.stop();
      }
    });

  dags
    .command('list-runs <dag_id>')
    .description("List a DAG's runs, newest first")
    .option('--state <state>', `only runs in this state (${RUN_STATES.join(', ')})`)
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, o: { state?: string; output?: string }) => {
      if (o.state !== undefined && !RUN_STATES.includes(o.state)) {
        throw new CliError(
          `--state must be one of ${RUN_STATES.join(', ')} (Airflow's DAG run states), got "${o.state}"`,
          2,
        );
      }
      const format = parseOutput(o.output);
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        if (!(await getDag(h.db, dagId))) throw new CliError(`DAG "${dagId}" not found`);
        const runs = await listDagRuns(h.db, dagId, { state: o.state, limit: 100 });
        print(runs, ['dag_id', 'run_id', 'state', 'run_type', 'logical_date', 'start_date', 'end_date'], format);
      } finally {
        await h.close();
      }
    });

  dags
    .command('state <dag_id> <run_id>')
    .description("Print a DAG run's state")
    .action(async (dagId: string, runId: string) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const run = await getDagRun(h.db, dagId, runId);
        if (!run)
          throw new CliError(`DAG run "${runId}" of DAG "${dagId}" not found (see updraft dags list-runs ${dagId})`);
        const conf =
          run.conf && Object.keys(run.conf as object).length > 0 ? `, ${JSON.stringify({ conf: run.conf })}` : '';
        process.stdout.write(`${run.state}${conf}\n`);
      } finally {
        await h.close();
      }
    });

  dags
    .command('details <dag_id>')
    .description("Print a DAG's latest compiled spec (JSON)")
    .action(async (dagId: string) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const v = await getLatestDagVersion(h.db, dagId);
        if (!v) throw new CliError(`DAG "${dagId}" not found`);
        process.stdout.write(
          `${JSON.stringify({ version: v.version_number, hash: v.spec_hash, spec: v.spec }, null, 2)}\n`,
        );
      } finally {
        await h.close();
      }
    });
}
