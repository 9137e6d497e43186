/** `updraft variables ...`: set, get, list, delete (Airflow's names and options). */
import type { Command } from 'commander';
import { deleteVariable, getVariable, listVariables, setVariable } from '../../secrets/store.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

export function registerVariablesCommands(program: Command): void {
  const variables = program
    .command('variables')
    .description(
      'Manage Variables (values with sensitive names are encrypted with UPDRAFT_FERNET_KEY and masked in logs)',
    );

  variables
    .command('set <key> <value>')
    .description('Create or replace a variable')
    .option('--description <text>', 'what the variable is for')
    .option('-j, --json', 'the value is JSON: check it and store it normalised')
    .action(async (key: string, value: string, o: { description?: string; json?: boolean }) => {
      let val = value;
      if (o.json) {
        try {
          val = JSON.stringify(JSON.parse(value));
        } catch (err) {
          throw new CliError(`--json: the value of "${key}" is not JSON: ${(err as Error).message}`, 2);
        }
      }
      const h = await openCliDatabase(loadConfig());
      try {
        const { is_encrypted } = await setVariable(h.db, key, val, { description: o.description ?? null });
        process.stdout.write(`Variable ${key} created${is_encrypted ? ' (encrypted)' : ''}\n`);
      } finally {
        await h.close();
      }
    });

  variables
    .command('get <key>')
    .description("Print a variable's value")
    .option('-j, --json', 'parse the value as JSON and print it indented')
    .option('-d, --default <value>', 'print this instead of failing when the variable does not exist')
    .action(async (key: string, o: { json?: boolean; default?: string }) => {
      const h = await openCliDatabase(loadConfig());
      try {
        const variable = await getVariable(h.db, key);
        if (!variable) {
          if (o.default !== undefined) {
            process.stdout.write(`${o.default}\n`);
            return;
          }
          throw new CliError(`Variable ${key} does not exist (see updraft variables list)`);
        }
        if (!o.json) {
          process.stdout.write(`${variable.val}\n`);
          return;
        }
        try {
          process.stdout.write(`${JSON.stringify(JSON.parse(variable.val), null, 2)}\n`);
        } catch (err) {
          throw new CliError(`--json: variable ${key} is not JSON: ${(err as Error).message}`);
        }
      } finally {
        await h.close();
      }
    });

  variables
    .command('list')
    .description('List variables (keys and descriptions; values are not printed)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      const h = await openCliDatabase(loadConfig());
      try {
        print(await listVariables(h.db), ['key', 'description', 'is_encrypted'], format);
      } finally {
        await h.close();
      }
    });

  variables
    .command('delete <key>')
    .description('Delete a variable')
    .action(async (key: string) => {
      const h = await openCliDatabase(loadConfig());
      try {
        if (!(await deleteVariable(h.db, key)))
          throw new CliError(`Variable ${key} does not exist (see updraft variables list)`);
        process.stdout.write(`Variable ${key} deleted\n`);
      } finally {
        await h.close();
      }
    });
}
