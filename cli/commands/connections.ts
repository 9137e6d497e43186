/** `updraft connections ...`: add, list, get, delete (Airflow's names and options). Passwords are never printed. */
import type { Command } from 'commander';
import { parseConnectionUri } from '../../secrets/connection-uri.js';
import { redactSensitive } from '../../secrets/sensitive.js';
import {
  addConnection,
  deleteConnection,
  getConnection,
  listConnections,
  type ConnectionInput,
  type ConnectionSummary,
  type ConnectionValue,
} from '../../secrets/store.js';
import type { Json } from '../../spec/dag-spec.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

interface AddOptions {
  connUri?: string;
  connType?: string;
  connHost?: string;
  connLogin?: string;
  connPassword?: string;
  connPort?: string;
  connSchema?: string;
  connExtra?: string;
  connDescription?: string;
}

const COLUMNS: Array<keyof ConnectionSummary> = [
  'conn_id',
  'conn_type',
  'description',
  'host',
  'port',
  'schema',
  'login',
  'is_encrypted',
  'is_extra_encrypted',
];
const GET_COLUMNS: Array<keyof ConnectionValue> = [
  'conn_id',
  'conn_type',
  'description',
  'host',
  'port',
  'schema',
  'login',
  'password',
  'extra',
];

function connectionInput(connId: string, o: AddOptions): ConnectionInput {
  const fields = ['connType', 'connHost', 'connLogin', 'connPassword', 'connPort', 'connSchema'] as const;
  if (o.connUri !== undefined) {
    const given = fields.filter((f) => o[f] !== undefined);
    if (given.length > 0) {
      throw new CliError(
        `--conn-uri cannot be combined with ${given.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`,
        2,
      );
    }
    let parsed;
    try {
      parsed = parseConnectionUri(o.connUri);
    } catch (err) {
      throw new CliError((err as Error).message, 2);
    }
    return { conn_id: connId, ...parsed, extra: o.connExtra ?? parsed.extra, description: o.connDescription ?? null };
  }
  if (o.connType === undefined) throw new CliError('connections add needs --conn-type (or --conn-uri)', 2);
  let port: number | null = null;
  if (o.connPort !== undefined) {
    port = Number(o.connPort);
    if (!/^\d+$/.test(o.connPort)) throw new CliError(`--conn-port must be a number, got "${o.connPort}"`, 2);
  }
  return {
    conn_id: connId,
    conn_type: o.connType,
    host: o.connHost ?? null,
    login: o.connLogin ?? null,
    password: o.connPassword ?? null,
    port,
    schema: o.connSchema ?? null,
    extra: o.connExtra ?? null,
    description: o.connDescription ?? null,
  };
}

export function registerConnectionsCommands(program: Command): void {
  const connections = program
    .command('connections')
    .description('Manage Connections (passwords and extras are encrypted with UPDRAFT_FERNET_KEY and masked in logs)');

  connections
    .command('add <conn_id>')
    .description('Add a connection (an existing conn_id is not overwritten)')
    .option('--conn-uri <uri>', 'the whole connection as a URI, e.g. postgres://login:password@host:5432/schema')
    .option('--conn-type <type>', 'connection type, e.g. postgres, http, aws')
    .option('--conn-host <host>', 'host')
    .option('--conn-login <login>', 'login')
    .option('--conn-password <password>', 'password (stored encrypted; needs UPDRAFT_FERNET_KEY)')
    .option('--conn-port <port>', 'port')
    .option('--conn-schema <schema>', 'schema (database name for databases)')
    .option('--conn-extra <json>', 'extra fields as a JSON object')
    .option('--conn-description <text>', 'description')
    .action(async (connId: string, o: AddOptions) => {
      const input = connectionInput(connId, o);
      const h = await openCliDatabase(loadConfig());
      try {
        await addConnection(h.db, input);
        process.stdout.write(`Successfully added conn_id ${connId}\n`);
      } finally {
        await h.close();
      }
    });

  connections
    .command('list')
    .description('List connections (passwords and extras are not printed)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { output?: string }) => {
      const format = parseOutput(o.output);
      const h = await openCliDatabase(loadConfig());
      try {
        print(await listConnections(h.db), COLUMNS, format);
      } finally {
        await h.close();
      }
    });

  connections
    .command('get <conn_id>')
    .description('Show a connection (the password as ***, sensitive extra fields as ***)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (connId: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      const h = await openCliDatabase(loadConfig());
      try {
        const c = await getConnection(h.db, connId);
        if (!c) throw new CliError(`Connection ${connId} not found (see updraft connections list)`);
        const extra = c.extra === null ? null : redactSensitive(JSON.parse(c.extra) as Json);
        print([{ ...c, password: c.password === null ? null : '***', extra }], GET_COLUMNS, format);
      } finally {
        await h.close();
      }
    });

  connections
    .command('delete <conn_id>')
    .description('Delete a connection')
    .action(async (connId: string) => {
      const h = await openCliDatabase(loadConfig());
      try {
        if (!(await deleteConnection(h.db, connId)))
          throw new CliError(`Did not find a connection with conn_id ${connId}`);
        process.stdout.write(`Successfully deleted conn_id ${connId}\n`);
      } finally {
        await h.close();
      }
    });
}
