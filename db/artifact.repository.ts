import { sql, type Kysely } from 'kysely';
import { ARTIFACT_TYPES, type ArtifactRow, type ArtifactType, type Database, type JsonValue } from './database.js';
import { toJsonb } from './json.js';
import { ArtifactConflictError, InvalidRecordFieldError } from './ml-errors.js';
import { chunkForParameters, inTransaction } from './transaction.js';

/**
 * Artifacts: content-addressed bytes (sha256) under a name and type. One row per
 * (sha256, name, type); recording the same triple again returns the existing row (the first
 * recording's uri and metadata are kept: the bytes are the same).
 */

export interface ArtifactInput {
  readonly sha256: string;
  /** Where the store keeps the bytes (`file:///...`, `s3://bucket/key`). */
  readonly uri: string;
  readonly name: string;
  readonly type: ArtifactType;
  readonly format?: string | null;
  readonly size: number;
  readonly metadata?: { readonly [key: string]: JsonValue };
}

const SHA256 = /^[0-9a-f]{64}$/;
const FORMAT = /^[A-Za-z0-9_.+-]{1,50}$/;

/** Checks one artifact, naming `field` in the error; returns it normalized. */
export function checkArtifactInput(a: ArtifactInput, field: string): ArtifactInput {
  if (typeof a !== 'object' || a === null) throw new InvalidRecordFieldError(field, 'expected an artifact object');
  if (typeof a.sha256 !== 'string' || !SHA256.test(a.sha256)) {
    throw new InvalidRecordFieldError(
      `${field}.sha256`,
      `expected 64 lowercase hex characters, got ${JSON.stringify(a.sha256)}`,
    );
  }
  if (typeof a.uri !== 'string' || a.uri === '')
    throw new InvalidRecordFieldError(`${field}.uri`, 'expected the store uri of the bytes');
  if (typeof a.name !== 'string' || a.name.length < 1 || a.name.length > 250) {
    throw new InvalidRecordFieldError(`${field}.name`, `expected 1..250 characters, got ${JSON.stringify(a.name)}`);
  }
  if (!(ARTIFACT_TYPES as readonly string[]).includes(a.type)) {
    throw new InvalidRecordFieldError(
      `${field}.type`,
      `expected one of ${ARTIFACT_TYPES.join(', ')}, got ${JSON.stringify(a.type)}`,
    );
  }
  if (a.format !== undefined && a.format !== null && (typeof a.format !== 'string' || !FORMAT.test(a.format))) {
    throw new InvalidRecordFieldError(
      `${field}.format`,
      `expected a short format name such as onnx or csv, got ${JSON.stringify(a.format)}`,
    );
  }
  if (!Number.isSafeInteger(a.size) || a.size < 0) {
    throw new InvalidRecordFieldError(
      `${field}.size`,
      `expected a byte count (an integer >= 0), got ${JSON.stringify(a.size)}`,
    );
  }
  if (
    a.metadata !== undefined &&
    (typeof a.metadata !== 'object' || a.metadata === null || Array.isArray(a.metadata))
  ) {
    throw new InvalidRecordFieldError(`${field}.metadata`, 'expected a JSON object');
  }
  return a;
}

function keyOf(a: ArtifactInput): string {
  return `${a.sha256}\u0000${a.type}\u0000${a.name}`;
}

/**
 * Records artifacts (inserting the missing ones) and returns their rows in input order. A triple
 * recorded before with another size is an ArtifactConflictError, and nothing is written.
 */
export async function recordArtifacts(
  db: Kysely<Database>,
  inputs: readonly ArtifactInput[],
  field = 'artifacts',
): Promise<ArtifactRow[]> {
  inputs.forEach((a, i) => checkArtifactInput(a, `${field}[${i}]`));
  if (inputs.length === 0) return [];
  // One row per key: ON CONFLICT DO UPDATE may not touch the same row twice in a statement.
  const unique = new Map<string, { input: ArtifactInput; index: number }>();
  inputs.forEach((input, index) => {
    const k = keyOf(input);
    const seen = unique.get(k);
    if (seen === undefined) unique.set(k, { input, index });
    else if (seen.input.size !== input.size) {
      throw new ArtifactConflictError(`${field}[${index}]`, input.sha256, seen.input.size, input.size);
    }
  });
  const values = [...unique.values()];
  return inTransaction(db, async (trx) => {
    const byKey = new Map<string, ArtifactRow>();
    for (const chunk of chunkForParameters(values, 7)) {
      const rows = await trx
        .insertInto('artifact')
        .values(
          chunk.map(({ input: a, index }) => ({
            sha256: a.sha256,
            uri: a.uri,
            name: a.name,
            type: a.type,
            format: a.format ?? null,
            size: a.size,
            metadata: toJsonb(a.metadata ?? {}, `${field}[${index}].metadata`),
          })),
        )
        // A no-op update, so the existing row comes back through RETURNING.
        .onConflict((oc) => oc.columns(['sha256', 'name', 'type']).doUpdateSet({ sha256: sql.ref('excluded.sha256') }))
        .returningAll()
        .execute();
      for (const row of rows) byKey.set(`${row.sha256}\u0000${row.type}\u0000${row.name}`, row);
    }
    return inputs.map((input, i) => {
      const row = byKey.get(keyOf(input));
      if (row === undefined) throw new Error(`recordArtifacts: no row came back for ${field}[${i}]`);
      if (row.size !== input.size)
        throw new ArtifactConflictError(`${field}[${i}]`, input.sha256, row.size, input.size);
      return row;
    });
  });
}

export async function recordArtifact(
  db: Kysely<Database>,
  input: ArtifactInput,
  field = 'artifact',
): Promise<ArtifactRow> {
  const [row] = await recordArtifacts(db, [input], field);
  if (row === undefined) throw new Error('recordArtifact: no row');
  return row;
}

export async function getArtifact(db: Kysely<Database>, id: number): Promise<ArtifactRow | undefined> {
  return db.selectFrom('artifact').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every artifact row with these bytes (one per name/type it was recorded under), oldest first. */
export async function findArtifactsBySha256(db: Kysely<Database>, sha256: string): Promise<ArtifactRow[]> {
  return db.selectFrom('artifact').selectAll().where('sha256', '=', sha256).orderBy('id').execute();
}

export interface ListArtifactsOptions {
  readonly type?: ArtifactType;
  /** Page size; default 100. */
  readonly limit?: number;
  /** Keyset paging: rows with a smaller id than this one. */
  readonly beforeId?: number;
}

/** Artifacts, newest first. */
export async function listArtifacts(db: Kysely<Database>, opts: ListArtifactsOptions = {}): Promise<ArtifactRow[]> {
  let q = db
    .selectFrom('artifact')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(opts.limit ?? 100);
  if (opts.type !== undefined) q = q.where('type', '=', opts.type);
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  return q.execute();
}
