import { sql, type Kysely } from 'kysely';

/**
 * The ML record, part 3: reproducibility of registered model versions (issue 10 item 7;
 * docs/step-outputs.md#reproducibility). A version registered from a task try records the
 * fingerprint of what produced it (the sha256s of the try's input artifacts and its params) and,
 * when an earlier version of the same model has the same fingerprint, whether the bytes are the
 * same, with the step's own `reproducible` flag or the reason they are not.
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('model_version').addColumn('reproducibility', 'jsonb').execute();
  // "The previous version from the same inputs and params": by model, then fingerprint.
  await sql`create index model_version_fingerprint_idx on model_version (model_id, (reproducibility->>'fingerprint'), version)`.execute(
    db,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists model_version_fingerprint_idx`.execute(db);
  await db.schema.alterTable('model_version').dropColumn('reproducibility').execute();
}
