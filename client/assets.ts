/**
 * Emitting asset events from any program: a data loader, a notebook, another scheduler.
 *
 *   const assets = await AssetClient.connect({ databaseUrl: process.env.DATABASE_URL });
 *   await assets.emit('s3://lake/raw/orders', { extra: { rows: 1200 }, dedupeKey: 'load-2026-12-06' });
 *   await assets.close();
 *
 * Every event takes the same path, an AssetEventTransport. Today's transport writes through the
 * database (db/asset-event.repository.ts). The REST API's webhook (`POST /api/v2/assets/events`,
 * not built yet) will be both a second transport for this client (HTTP to a server) and, on the
 * server, a caller of the database transport: assetEventRequestFromBody turns its JSON body into the
 * same request, and an Idempotency-Key header becomes the dedupe key.
 */
import type { Kysely } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import type { Database } from '../db/database.js';
import {
  AssetEventInputError,
  emitAssetEvent,
  listAssetEvents,
  type AssetEventRecord,
  type EmitAssetEventRequest,
  type EmittedAssetEvent,
  type ListAssetEventsOptions,
} from '../db/asset-event.repository.js';
import { listAssets, type AssetSummary } from '../db/asset.repository.js';
import type { Json } from '../spec/dag-spec.js';

export { UnknownAssetError, AssetEventInputError } from '../db/asset-event.repository.js';
export type { AssetEventRecord, EmittedAssetEvent } from '../db/asset-event.repository.js';

/** Where an emit goes: the database, or (later) an Updraft server's REST API. */
export interface AssetEventTransport {
  emit(request: EmitAssetEventRequest): Promise<EmittedAssetEvent>;
  listEvents(opts: ListAssetEventsOptions): Promise<AssetEventRecord[]>;
  listAssets(): Promise<AssetSummary[]>;
  close(): Promise<void>;
}

/** Events written straight into the record; `owned`: close() also closes the database. */
export function databaseTransport(db: Kysely<Database>, owned?: DatabaseHandle): AssetEventTransport {
  return {
    emit: (request) => emitAssetEvent(db, request),
    listEvents: (opts) => listAssetEvents(db, opts),
    listAssets: () => listAssets(db),
    close: async () => owned?.close(),
  };
}

export class AssetClientConfigError extends Error {
  override readonly name = 'AssetClientConfigError';
}

export interface AssetClientOptions {
  /** An open database (a worker, a test). */
  db?: Kysely<Database>;
  /** A postgres:// URL; default DATABASE_URL. `updraft dev` prints the URL of its embedded database. */
  databaseUrl?: string;
  /** Any other transport. */
  transport?: AssetEventTransport;
}

export interface EmitOptions {
  extra?: { [key: string]: Json };
  /** Same key, same asset: one event however often the call is retried. */
  dedupeKey?: string;
  /** Who emits: 'api' (a program, the default) or 'cli' (`updraft assets emit`). */
  source?: 'api' | 'cli';
}

export class AssetClient {
  private constructor(private readonly transport: AssetEventTransport) {}

  static async connect(opts: AssetClientOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<AssetClient> {
    if (opts.transport) return new AssetClient(opts.transport);
    if (opts.db) return new AssetClient(databaseTransport(opts.db));
    const url = opts.databaseUrl ?? env['DATABASE_URL'];
    if (url === undefined || url === '') {
      throw new AssetClientConfigError(
        'AssetClient.connect: no database to emit into; pass { databaseUrl: "postgres://..." } or set DATABASE_URL ' +
          '(with `updraft dev` running, use the database URL it prints), or pass { db } from an open Updraft database',
      );
    }
    const handle = await openDatabase({ url });
    return new AssetClient(databaseTransport(handle.db, handle));
  }

  /** Records an update of the asset; its consuming DAGs' runs follow. Unknown uri: UnknownAssetError. */
  emit(uri: string, opts: EmitOptions = {}): Promise<EmittedAssetEvent> {
    const kind = opts.source ?? 'api';
    if (kind !== 'api' && kind !== 'cli')
      throw new AssetEventInputError(`source must be 'api' or 'cli', got ${JSON.stringify(kind)}`);
    return this.transport.emit({ uri, extra: opts.extra ?? {}, source: { kind }, dedupeKey: opts.dedupeKey ?? null });
  }

  events(uri: string, opts: Omit<ListAssetEventsOptions, 'uri'> = {}): Promise<AssetEventRecord[]> {
    return this.transport.listEvents({ ...opts, uri });
  }

  assets(): Promise<AssetSummary[]> {
    return this.transport.listAssets();
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/** One-shot: connect, emit, close. */
export async function emitAsset(uri: string, opts: EmitOptions & AssetClientOptions = {}): Promise<EmittedAssetEvent> {
  const client = await AssetClient.connect(opts);
  try {
    return await client.emit(uri, opts);
  } finally {
    await client.close();
  }
}

/**
 * The REST webhook's body as an emit request (Airflow 3's `POST /assets/events` body, with the
 * asset named by uri): `{ "uri": "s3://...", "extra": { ... } }`. The Idempotency-Key header, when
 * sent, is the dedupe key.
 */
export function assetEventRequestFromBody(body: unknown, idempotencyKey?: string | null): EmitAssetEventRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new AssetEventInputError('request body must be a JSON object like {"uri": "s3://bucket/path", "extra": {}}');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => k !== 'uri' && k !== 'extra');
  if (unknown.length > 0)
    throw new AssetEventInputError(
      `request body: unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')} (expected "uri" and optionally "extra")`,
    );
  if (typeof b.uri !== 'string')
    throw new AssetEventInputError(`request body: "uri" must be the asset's uri, got ${JSON.stringify(b.uri)}`);
  if (
    idempotencyKey !== undefined &&
    idempotencyKey !== null &&
    (idempotencyKey === '' || idempotencyKey.length > 255)
  ) {
    throw new AssetEventInputError('Idempotency-Key must be 1 to 255 characters');
  }
  return {
    uri: b.uri,
    extra: (b.extra ?? {}) as { [key: string]: Json },
    source: { kind: 'api' },
    dedupeKey: idempotencyKey ?? null,
  };
}
