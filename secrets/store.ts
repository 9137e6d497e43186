/**
 * Variables and Connections with their secrets encrypted at rest. The repositories store rows as
 * given; this module decides what is encrypted and decrypts on the way out:
 * - a variable is encrypted whenever a key is configured, and must be when its name is sensitive
 *   (contains password, secret, token, api_key, ...): storing one without a key fails;
 * - a connection's password and extra are encrypted whenever a key is configured; storing a
 *   password, or an extra with sensitive fields, without a key fails.
 */
import { jsonSyntaxReason } from './json-error.js';
import type { Kysely } from 'kysely';
import type { ConnectionFields, Database } from '../db/database.js';
import {
  deleteConnection,
  getConnectionRow,
  insertConnection,
  listConnectionRows,
} from '../db/connection.repository.js';
import { deleteVariable, getVariableRow, listVariableRows, upsertVariable } from '../db/variable.repository.js';
import type { Json } from '../spec/dag-spec.js';
import { FERNET_KEY_ENV, SecretCipher, SecretKeyError, requireCipher } from './encryption.js';
import { isSensitiveName, sensitiveLeaves } from './sensitive.js';

export { deleteConnection, deleteVariable };

/** Which cipher to use; undefined: UPDRAFT_FERNET_KEY (null: no key). */
export interface CipherOption {
  cipher?: SecretCipher | null;
}

export class SecretInputError extends Error {
  override readonly name = 'SecretInputError';
}

const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

function cipherOf(opts: CipherOption): SecretCipher | null {
  return opts.cipher === undefined ? SecretCipher.fromEnv() : opts.cipher;
}

function readCipher(opts: CipherOption, what: string): SecretCipher {
  const cipher = cipherOf(opts);
  if (!cipher)
    throw new SecretKeyError(`${what} is stored encrypted: set ${FERNET_KEY_ENV} to the key it was stored with`);
  return cipher;
}

export interface VariableValue {
  key: string;
  val: string;
  description: string | null;
  is_encrypted: boolean;
}

export async function setVariable(
  db: Kysely<Database>,
  key: string,
  val: string,
  opts: CipherOption & { description?: string | null } = {},
): Promise<{ is_encrypted: boolean }> {
  if (typeof key !== 'string' || key.length === 0 || key.length > 250) {
    throw new SecretInputError('a variable key must be a non-empty string of at most 250 characters');
  }
  const sensitive = isSensitiveName(key);
  const cipher = sensitive
    ? requireCipher(cipherOf(opts), `variable "${key}" has a sensitive name, so storing it`)
    : cipherOf(opts);
  const is_encrypted = cipher !== null;
  await upsertVariable(db, {
    key,
    val: cipher ? cipher.encrypt(val, `variable:${key}`) : val,
    is_encrypted,
    description: opts.description ?? null,
  });
  return { is_encrypted };
}

/** The variable with its value decrypted, or undefined when it does not exist. */
export async function getVariable(
  db: Kysely<Database>,
  key: string,
  opts: CipherOption = {},
): Promise<VariableValue | undefined> {
  const row = await getVariableRow(db, key);
  if (!row) return undefined;
  const what = `variable "${key}"`;
  const val = row.is_encrypted ? readCipher(opts, what).decrypt(row.val, `variable:${key}`, what) : row.val;
  return { key: row.key, val, description: row.description, is_encrypted: row.is_encrypted };
}

/** Keys and descriptions only: listing never decrypts. */
export async function listVariables(db: Kysely<Database>): Promise<Array<Omit<VariableValue, 'val'>>> {
  return (await listVariableRows(db)).map((r) => ({
    key: r.key,
    description: r.description,
    is_encrypted: r.is_encrypted,
  }));
}

/** A connection in clear: its id and description, and its fields (db/database.ts ConnectionFields). */
export interface ConnectionValue extends ConnectionFields {
  conn_id: string;
  description: string | null;
}

/** What addConnection takes: conn_id and conn_type, any other field; extra also as an object. */
export type ConnectionInput = Pick<ConnectionValue, 'conn_id' | 'conn_type'> &
  Partial<Omit<ConnectionValue, 'conn_id' | 'conn_type' | 'extra'>> & {
    extra?: ConnectionValue['extra'] | Record<string, Json>;
  };

export type ConnectionSummary = Omit<ConnectionValue, 'password' | 'extra'> & {
  is_encrypted: boolean;
  is_extra_encrypted: boolean;
};

export async function addConnection(
  db: Kysely<Database>,
  input: ConnectionInput,
  opts: CipherOption = {},
): Promise<void> {
  const id = input.conn_id;
  if (typeof id !== 'string' || !ID_PATTERN.test(id) || id.length > 250) {
    throw new SecretInputError(
      `conn_id "${String(id)}" may contain only ASCII letters, digits, '-', '.' and '_' (at most 250 characters)`,
    );
  }
  if (typeof input.conn_type !== 'string' || input.conn_type.trim() === '') {
    throw new SecretInputError(`connection "${id}": conn_type is required (e.g. postgres, http, aws)`);
  }
  const port = input.port ?? null;
  if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new SecretInputError(`connection "${id}": port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const extra = extraText(id, input.extra ?? null);
  const password = input.password === '' ? null : (input.password ?? null);
  const cipher = cipherOf(opts);
  if (password !== null) requireCipher(cipher, `connection "${id}" has a password, so storing it`);
  if (extra !== null && sensitiveLeaves(JSON.parse(extra) as Json).length > 0) {
    requireCipher(cipher, `connection "${id}" has sensitive fields in extra, so storing it`);
  }
  await insertConnection(db, {
    conn_id: id,
    conn_type: input.conn_type.trim(),
    description: input.description ?? null,
    host: input.host ?? null,
    schema: input.schema ?? null,
    login: input.login ?? null,
    password: password !== null && cipher ? cipher.encrypt(password, `connection:${id}:password`) : password,
    port,
    extra: extra !== null && cipher ? cipher.encrypt(extra, `connection:${id}:extra`) : extra,
    is_encrypted: password !== null && cipher !== null,
    is_extra_encrypted: extra !== null && cipher !== null,
  });
}

function extraText(id: string, extra: string | Record<string, Json> | null): string | null {
  if (extra === null) return null;
  let parsed: unknown = extra;
  if (typeof extra === 'string') {
    if (extra.trim() === '') return null;
    try {
      parsed = JSON.parse(extra);
    } catch (err) {
      // Not the parser's message: it quotes the extra, which may hold a key.
      throw new SecretInputError(
        `connection "${id}": extra must be a JSON object like {"region": "eu-west-1"}: ${jsonSyntaxReason(err)}`,
      );
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretInputError(
      `connection "${id}": extra must be a JSON object like {"region": "eu-west-1"}, got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`}`,
    );
  }
  return JSON.stringify(parsed);
}

/** The connection with password and extra decrypted, or undefined when it does not exist. */
export async function getConnection(
  db: Kysely<Database>,
  connId: string,
  opts: CipherOption = {},
): Promise<ConnectionValue | undefined> {
  const row = await getConnectionRow(db, connId);
  if (!row) return undefined;
  const decrypt = (value: string | null, encrypted: boolean, field: 'password' | 'extra'): string | null => {
    if (value === null || !encrypted) return value;
    const what = `the ${field} of connection "${connId}"`;
    return readCipher(opts, what).decrypt(value, `connection:${connId}:${field}`, what);
  };
  const { is_encrypted, is_extra_encrypted, ...value } = row;
  return {
    ...value,
    password: decrypt(row.password, is_encrypted, 'password'),
    extra: decrypt(row.extra, is_extra_encrypted, 'extra'),
  };
}

/** Connections without password and extra: listing never decrypts. */
export async function listConnections(db: Kysely<Database>): Promise<ConnectionSummary[]> {
  return (await listConnectionRows(db)).map(({ password: _password, extra: _extra, ...summary }) => summary);
}
