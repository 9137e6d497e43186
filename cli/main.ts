/** The `updraft` command. Airflow's command names and options where they exist. */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command, CommanderError } from 'commander';
import { registerAssetsCommands } from './commands/assets.js';
import { registerArtifactsCommands } from './commands/artifacts.js';
import { registerBackfillCommands } from './commands/backfill.js';
import { registerConnectionsCommands } from './commands/connections.js';
import { registerDagsCommands } from './commands/dags.js';
import { registerDevCommands } from './commands/dev.js';
import { registerLineageCommand } from './commands/lineage.js';
import { registerModelsCommands } from './commands/models.js';
import { registerPoolsCommands } from './commands/pools.js';
import { registerRunsCommands } from './commands/runs.js';
import { registerTasksCommands } from './commands/tasks.js';
import { registerVariablesCommands } from './commands/variables.js';
import { exitAfterDrain } from './exit.js';
import { CliError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('updraft')
    .description('Airflow-compatible workflows on Temporal')
    .version((require('../../package.json') as { version: string }).version)
    .showHelpAfterError()
    .exitOverride();
  registerDevCommands(program);
  registerDagsCommands(program);
  registerBackfillCommands(program);
  registerTasksCommands(program);
  registerVariablesCommands(program);
  registerConnectionsCommands(program);
  registerPoolsCommands(program);
  registerAssetsCommands(program);
  registerModelsCommands(program);
  registerArtifactsCommands(program);
  registerRunsCommands(program);
  registerLineageCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // The SDK logs worker state changes and every failed try (already in the task log); the CLI
  // shows its own progress instead. UPDRAFT_LOG_LEVEL=WARN brings them back.
  Runtime.install({ logger: new DefaultLogger((process.env.UPDRAFT_LOG_LEVEL as 'WARN' | undefined) ?? 'ERROR') });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `Error: ${err instanceof Error ? (process.env.UPDRAFT_DEBUG ? err.stack : err.message) : String(err)}\n`,
    );
    return 1;
  }
}

/**
 * Runs the command line and exits with its code. bin/updraft.js calls this explicitly: however the
 * CLI is started (`node bin/updraft.js`, `npx updraft`, `npm exec`, an `npm link` or global install,
 * where argv[1] is a symlink named `updraft`), no entry check on require.main or argv is needed.
 */
export async function run(argv: string[] = process.argv): Promise<never> {
  // A reader that stopped reading (`updraft … | head`) ends the command quietly, as SIGPIPE would.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
  return exitAfterDrain(await main(argv));
}

// `node dist/cli/main.js ...` also works.
if (require.main === module) void run();
