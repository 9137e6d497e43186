/**
 * Airflow 3's Asset(name | uri, group, extra) as data: the defaults (name ← uri, uri ← name,
 * group 'asset', extra {}), the identifier checks and the URI sanitizing Airflow applies when an
 * Asset is constructed (task-sdk definitions/asset: _sanitize_uri, _validate_identifier), so the
 * same asset written `s3://bucket/raw/` in one DAG and `s3://bucket/raw` in another is one asset.
 * Pure: no I/O.
 */
import type { AssetRef, Json } from '../../spec/dag-spec.js';

/** A bad asset definition; `field` is the part that is wrong ('uri', 'name', 'group', 'extra'). */
export class AssetDefinitionError extends Error {
  override readonly name = 'AssetDefinitionError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Airflow's default group (Asset.asset_type). */
export const DEFAULT_ASSET_GROUP = 'asset';
const MAX_IDENTIFIER = 1500;

export interface AssetInput {
  uri?: string;
  name?: string;
  group?: string;
  extra?: Record<string, Json> | null;
}

/**
 * An asset as the record stores it. `group` and `extra` are omitted when they hold the defaults,
 * so specs of DAGs written before groups existed keep their hash.
 */
export function normalizeAsset(input: AssetInput, where = 'asset'): AssetRef {
  if (input === null || typeof input !== 'object')
    throw new AssetDefinitionError(`${where}: expected an asset ({ uri } or { name }), got ${describe(input)}`, 'uri');
  const { uri: rawUri, name: rawName } = input;
  if (rawUri === undefined && rawName === undefined)
    throw new AssetDefinitionError(
      `${where}: an asset needs a uri or a name (Airflow's Asset() requires either 'name' or 'uri')`,
      'uri',
    );
  const name = identifier(rawName ?? rawUri, `${where}.name`, 'name', true);
  if (name === 'self' || name === 'context')
    throw new AssetDefinitionError(
      `${where}.name: prohibited name for asset: ${name} (it clashes with the task context); pick another name`,
      'name',
    );
  const uri = sanitizeAssetUri(identifier(rawUri ?? rawName, `${where}.uri`, 'uri', true), `${where}.uri`);
  const group =
    input.group === undefined ? DEFAULT_ASSET_GROUP : identifier(input.group, `${where}.group`, 'group', false);
  const extra = assetExtra(input.extra, `${where}.extra`);
  return {
    uri,
    name,
    ...(group !== DEFAULT_ASSET_GROUP ? { group } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
}

/** An asset's group, with the default filled in. */
export function assetGroup(asset: AssetRef): string {
  return asset.group ?? DEFAULT_ASSET_GROUP;
}

function identifier(value: unknown, where: string, field: string, nonEmpty: boolean): string {
  if (typeof value !== 'string')
    throw new AssetDefinitionError(`${where} must be a string, got ${describe(value)}`, field);
  if (value.length > MAX_IDENTIFIER)
    throw new AssetDefinitionError(`${where} cannot exceed ${MAX_IDENTIFIER} characters (got ${value.length})`, field);
  if (value.length > 0 && value.trim().length === 0)
    throw new AssetDefinitionError(`${where} cannot be just whitespace`, field);
  if (nonEmpty && value.length === 0) throw new AssetDefinitionError(`${where} cannot be empty`, field);
  return value;
}

/** The extra of an asset or event: a JSON object (Airflow: dict[str, JsonValue]); null means {}. */
export function assetExtra(value: unknown, where: string): Record<string, Json> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new AssetDefinitionError(`${where} must be a JSON object like {"rows": 10}, got ${describe(value)}`, 'extra');
  const bad = jsonProblem(value, where);
  if (bad !== null)
    throw new AssetDefinitionError(
      `${bad}; an extra holds only JSON values (strings, finite numbers, booleans, null, arrays, plain objects)`,
      'extra',
    );
  return JSON.parse(JSON.stringify(value)) as Record<string, Json>;
}

/** Where a value stops being JSON ('extra.when is a Date'), or null when it is JSON. */
function jsonProblem(value: unknown, where: string, seen: Set<unknown> = new Set()): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${where} is ${String(value)}`;
  if (typeof value !== 'object') return `${where} is ${typeof value}`;
  if (seen.has(value)) return `${where} refers back to itself`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const p = jsonProblem(value[i], `${where}[${i}]`, seen);
        if (p !== null) return p;
      }
      return null;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null)
      return `${where} is a ${(value as object).constructor?.name ?? 'non-plain object'}`;
    for (const [k, v] of Object.entries(value)) {
      const p = jsonProblem(v, `${where}.${k}`, seen);
      if (p !== null) return p;
    }
    return null;
  } finally {
    seen.delete(value);
  }
}

// ---------------------------------------------------------------------------------------------
// URI sanitizing: a port of Python's urlsplit/urlunsplit and Airflow's _sanitize_uri.

interface SplitUri {
  scheme: string;
  netloc: string;
  path: string;
  query: string;
  fragment: string;
}

/**
 * Airflow's _sanitize_uri: a value without scheme and netloc is a plain identifier and kept as
 * is; `x-` schemes are the user's and kept as is; `airflow` is reserved. Otherwise the scheme is
 * lowercased, credentials dropped, the query sorted, trailing slashes and the fragment removed,
 * then the scheme's own rule applies (s3/gs need a bucket).
 */
export function sanitizeAssetUri(uri: string, where = 'uri'): string {
  const parsed = urlsplit(uri, where);
  if (parsed.scheme === '' && parsed.netloc === '') return uri;
  if (parsed.scheme === '') return uri;
  if (parsed.scheme.startsWith('x-')) return uri;
  if (parsed.scheme === 'airflow')
    throw new AssetDefinitionError(
      `${where}: asset scheme 'airflow' is reserved (got '${uri}'); use another scheme, or 'x-<name>' for your own`,
      'uri',
    );
  const at = parsed.netloc.lastIndexOf('@');
  const netloc = at === -1 ? parsed.netloc : parsed.netloc.slice(at + 1);
  const query = parsed.query === '' ? '' : urlencode(parseQsl(parsed.query).sort(comparePairs));
  const clean: SplitUri = {
    scheme: parsed.scheme,
    netloc,
    path: parsed.path.replace(/\/+$/, '') || '/',
    query,
    fragment: '',
  };
  SCHEME_RULES[clean.scheme]?.(clean, uri, where);
  return urlunsplit(clean);
}

/** Provider URI rules Airflow ships (amazon: s3, google: gs/gcs): a bucket is required. */
const SCHEME_RULES: Record<string, (u: SplitUri, uri: string, where: string) => void> = {
  s3: needsBucket,
  gs: needsBucket,
  gcs: needsBucket,
};

function needsBucket(u: SplitUri, uri: string, where: string): void {
  if (u.netloc === '')
    throw new AssetDefinitionError(
      `${where}: URI format ${u.scheme}:// must contain a bucket name (got '${uri}'), e.g. ${u.scheme}://my-bucket/path`,
      'uri',
    );
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

/** Python's urllib.parse.urlsplit, allow_fragments=True. */
export function urlsplit(input: string, where = 'uri'): SplitUri {
  // urlsplit strips leading C0 controls and spaces and drops tabs and newlines anywhere.
  let start = 0;
  while (start < input.length && input.charCodeAt(start) <= 0x20) start++;
  let url = input.slice(start).replace(/[\t\r\n]/g, '');
  let scheme = '';
  const colon = url.indexOf(':');
  if (colon > 0 && SCHEME.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  let netloc = '';
  if (url.startsWith('//')) {
    const rest = url.slice(2);
    const end = rest.search(/[/?#]/);
    netloc = end === -1 ? rest : rest.slice(0, end);
    url = end === -1 ? '' : rest.slice(end);
    if (netloc.includes('[') !== netloc.includes(']'))
      throw new AssetDefinitionError(`${where}: invalid IPv6 URL '${input}' (unbalanced brackets in the host)`, 'uri');
  }
  let fragment = '';
  const hash = url.indexOf('#');
  if (hash !== -1) {
    fragment = url.slice(hash + 1);
    url = url.slice(0, hash);
  }
  let query = '';
  const q = url.indexOf('?');
  if (q !== -1) {
    query = url.slice(q + 1);
    url = url.slice(0, q);
  }
  return { scheme, netloc, path: url, query, fragment };
}

/** Python's uses_netloc: schemes that get `//` even with an empty host (file:///x). */
const USES_NETLOC = new Set([
  '',
  'ftp',
  'http',
  'gopher',
  'nntp',
  'telnet',
  'imap',
  'wais',
  'file',
  'mms',
  'https',
  'shttp',
  'snews',
  'prospero',
  'rtsp',
  'rtsps',
  'rtspu',
  'rsync',
  'svn',
  'svn+ssh',
  'sftp',
  'nfs',
  'git',
  'git+ssh',
  'ws',
  'wss',
  'itms-services',
]);

/**
 * Python's urllib.parse.urlunsplit as of 3.11 (the interpreter the committed Airflow table was made
 * with): a scheme in uses_netloc gets `//` and a rooted path even without a host (`file:x` →
 * `file:///x`).
 */
function urlunsplit(u: SplitUri): string {
  let url = u.path;
  if (u.netloc !== '' || (u.scheme !== '' && USES_NETLOC.has(u.scheme) && !url.startsWith('//'))) {
    if (url !== '' && !url.startsWith('/')) url = `/${url}`;
    url = `//${u.netloc}${url}`;
  }
  if (u.scheme !== '') url = `${u.scheme}:${url}`;
  if (u.query !== '') url = `${url}?${u.query}`;
  if (u.fragment !== '') url = `${url}#${u.fragment}`;
  return url;
}

type Pair = [string, string];

/** Python's parse_qsl with its defaults: blank values and pairs without '=' are dropped. */
function parseQsl(query: string): Pair[] {
  const out: Pair[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1 || eq === part.length - 1) continue;
    out.push([unquotePlus(part.slice(0, eq)), unquotePlus(part.slice(eq + 1))]);
  }
  return out;
}

function comparePairs(a: Pair, b: Pair): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** Python's urlencode with quote_plus: letters, digits and `_.-~` stay; space is '+'. */
function urlencode(pairs: Pair[]): string {
  const quote = (s: string): string =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, '+');
  return pairs.map(([k, v]) => `${quote(k)}=${quote(v)}`).join('&');
}

const UTF8 = new TextEncoder();

/** Python's unquote_plus: '+' is a space, %XX are UTF-8 bytes, bad sequences become U+FFFD. */
function unquotePlus(s: string): string {
  const text = s.replace(/\+/g, ' ');
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const cp = text.codePointAt(i)!;
      if (cp > 0xffff) i++;
      bytes.push(...UTF8.encode(String.fromCodePoint(cp)));
    }
  }
  return new TextDecoder('utf-8').decode(new Uint8Array(bytes));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `'${v}'` : typeof v;
}
