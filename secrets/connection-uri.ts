/**
 * Connection URIs as Airflow writes and reads them (`--conn-uri`, `conn.X.get_uri()`):
 * `postgres://login:password@host:5432/schema?param=value`. Underscores in the type become hyphens
 * in the scheme and back. Pure.
 */
import type { ConnectionFields } from '../db/database.js';
import { jsonSyntaxReason } from './json-error.js';
import type { Json } from '../spec/dag-spec.js';

export class ConnectionUriError extends Error {
  override readonly name = 'ConnectionUriError';
}

export function connectionUri(c: ConnectionFields): string {
  let uri = `${c.conn_type.replace(/_/g, '-')}://`;
  if (c.login !== null || c.password !== null) {
    uri += encodeURIComponent(c.login ?? '');
    if (c.password !== null) uri += `:${encodeURIComponent(c.password)}`;
    uri += '@';
  }
  uri += c.host ?? '';
  if (c.port !== null) uri += `:${c.port}`;
  if (c.schema !== null) uri += `/${encodeURIComponent(c.schema)}`;
  const extra = c.extra ? (JSON.parse(c.extra) as Record<string, Json>) : {};
  const entries = Object.entries(extra);
  if (entries.length > 0) {
    const query = entries.every(([, v]) => typeof v === 'string')
      ? new URLSearchParams(entries as Array<[string, string]>)
      : new URLSearchParams({ __extra__: JSON.stringify(extra) });
    uri += `${c.schema === null ? '/' : ''}?${query.toString()}`;
  }
  return uri;
}

export function parseConnectionUri(uri: string): ConnectionFields {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ConnectionUriError(
      `--conn-uri "${redactUri(uri)}" is not a URI like postgres://login:password@host:5432/schema`,
    );
  }
  const type = url.protocol.replace(/:$/, '').replace(/-/g, '_');
  if (!type) throw new ConnectionUriError('--conn-uri has no scheme (the connection type)');
  const decode = (s: string): string | null => (s === '' ? null : decodeURIComponent(s));
  let extra: Record<string, Json> | null = null;
  const special = url.searchParams.get('__extra__');
  if (special !== null) {
    try {
      extra = JSON.parse(special) as Record<string, Json>;
    } catch (err) {
      throw new ConnectionUriError(`--conn-uri: __extra__ is not JSON: ${jsonSyntaxReason(err)}`);
    }
  } else if ([...url.searchParams.keys()].length > 0) {
    extra = Object.fromEntries(url.searchParams.entries());
  }
  const port = url.port === '' ? null : Number(url.port);
  return {
    conn_type: type,
    host: decode(url.hostname),
    schema: decode(url.pathname.replace(/^\//, '')),
    login: decode(url.username),
    password: decode(url.password),
    port,
    extra: extra === null ? null : JSON.stringify(extra),
  };
}

/** A URI with its password replaced, for messages. */
export function redactUri(uri: string): string {
  return uri.replace(/(\/\/[^:@/]*):[^@/]*@/, '$1:***@');
}
