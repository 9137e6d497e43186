/** `updraft pools ...`: list, get, set, delete (Airflow's names; slots -1 is unlimited). */
import type { Command } from 'commander';
import { PoolError, deletePool, getPool, listPools, setPool, type PoolWithUsage } from '../../db/pool.repository.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

const COLUMNS = [
  'pool',
  'slots',
  'running_slots',
  'queued_slots',
  'open_slots',
  'description',
  'include_deferred',
] as const;

function rowOf(p: PoolWithUsage): Record<string, unknown> {
  return { ...p, slots: p.slots === -1 ? 'unlimited' : p.slots, open_slots: p.open_slots ?? 'unlimited' };
}

async function withDatabase<T>(fn: (db: Awaited<ReturnType<typeof openCliDatabase>>['db']) => Promise<T>): Promise<T> {
  const h = await openCliDatabase(loadConfig());
  try {
    return await fn(h.db);
  } catch (err) {
    if (err instanceof PoolError) throw new CliError(err.message);
    throw err;
  } finally {
    await h.close();
  }
}

export function registerPoolsCommands(program: Command): void {
  const pools = program
    .command('pools')
    .description('Manage pools: named slot budgets tasks ask for with pool / poolSlots');

  pools
    .command('list')
    .description('List pools with their slots in use (running), asked for by waiting tasks (queued) and free (open)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withDatabase(async (db) => print((await listPools(db)).map(rowOf), COLUMNS, format));
    });

  pools
    .command('get <pool>')
    .description('Show one pool')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (name: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withDatabase(async (db) => {
        const pool = await getPool(db, name);
        if (!pool) throw new CliError(`Pool ${name} does not exist (see updraft pools list)`);
        print([rowOf(pool)], COLUMNS, format);
      });
    });

  pools
    .command('set <pool> <slots> [description]')
    .description('Create or update a pool (slots "unlimited", or -1 after `--`: no limit)')
    .option('--description <text>', 'what the pool is for')
    .option('--include-deferred', 'count deferred tasks as occupying slots')
    .action(
      async (
        name: string,
        slotsText: string,
        positional: string | undefined,
        o: { description?: string; includeDeferred?: boolean },
      ) => {
        // Commander reads a bare -1 as an option, hence the `unlimited` spelling (or `-- -1`).
        const slots = slotsText === 'unlimited' ? -1 : Number(slotsText);
        if ((slotsText !== 'unlimited' && !/^-?\d+$/.test(slotsText)) || slots < -1) {
          throw new CliError(`slots must be an integer >= 0, or "unlimited" (-1), got "${slotsText}"`, 2);
        }
        const description = o.description ?? positional;
        await withDatabase(async (db) => {
          const pool = await setPool(db, name, {
            slots,
            ...(description === undefined ? {} : { description }),
            ...(o.includeDeferred === undefined ? {} : { include_deferred: o.includeDeferred }),
          });
          process.stdout.write(`Pool ${pool.pool} set: ${pool.slots === -1 ? 'unlimited' : pool.slots} slot(s)\n`);
        });
      },
    );

  pools
    .command('delete <pool>')
    .description('Delete a pool (default_pool cannot be deleted); tasks naming it then fail')
    .action(async (name: string) => {
      await withDatabase(async (db) => {
        if (!(await deletePool(db, name))) throw new CliError(`Pool ${name} does not exist (see updraft pools list)`);
        process.stdout.write(`Pool ${name} deleted\n`);
      });
    });
}
