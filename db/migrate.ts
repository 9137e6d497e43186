import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  Migrator,
  NO_MIGRATIONS,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
} from 'kysely';
import { MigrationError, type MigrationDirection } from './errors.js';

export { MigrationError } from './errors.js';

/** Migrations take any schema (they are frozen in time), so any Kysely instance will do. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

/**
 * The compiled migrations: `dist/migrations/` beside `dist/db/` (and `migrations/` beside `db/`
 * when run from sources by a TypeScript loader).
 */
export const DEFAULT_MIGRATION_FOLDER = path.resolve(__dirname, '..', 'migrations');

const LOADABLE = /^(?<name>[^.].*?)\.(?<ext>js|cjs|ts|cts)$/;

/**
 * Loads every migration module in a folder, named after its file without extension. Files sort
 * by name, so names start with a timestamp. Where a `.js` and a `.ts` of the same name sit side
 * by side, the compiled `.js` wins.
 */
export class FolderMigrationProvider implements MigrationProvider {
  constructor(readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    let entries: string[];
    try {
      entries = await readdir(this.folder);
    } catch (err) {
      throw new MigrationError(
        'up',
        undefined,
        new Error(`cannot read migration folder ${this.folder}: ${String(err)}`),
      );
    }
    const files = new Map<string, string>();
    for (const entry of entries.sort()) {
      if (entry.endsWith('.d.ts') || entry.endsWith('.d.cts')) continue;
      const m = LOADABLE.exec(entry);
      const name = m?.groups?.['name'];
      const ext = m?.groups?.['ext'];
      if (name === undefined || ext === undefined) continue;
      const existing = files.get(name);
      if (existing === undefined || ext === 'js' || ext === 'cjs') files.set(name, entry);
    }
    const migrations: Record<string, Migration> = {};
    for (const [name, file] of files) {
      // require, not import(): the project is CommonJS and migrations compile to CommonJS.
      const mod = require(path.join(this.folder, file)) as Partial<Migration> & { default?: Partial<Migration> };
      const migration = typeof mod.up === 'function' ? mod : mod.default;
      if (migration === undefined || typeof migration.up !== 'function') {
        throw new MigrationError('up', name, new Error(`${file} must export an async function up(db)`));
      }
      if (migration.down !== undefined && typeof migration.down !== 'function') {
        throw new MigrationError('up', name, new Error(`${file}: down, when exported, must be a function`));
      }
      migrations[name] = { up: migration.up, ...(migration.down === undefined ? {} : { down: migration.down }) };
    }
    return migrations;
  }
}

export interface MigrateOptions {
  /** Folder of migration modules; default DEFAULT_MIGRATION_FOLDER. */
  readonly migrationFolder?: string;
}

function migratorFor(db: AnyKysely, opts: MigrateOptions): Migrator {
  return new Migrator({
    db,
    provider: new FolderMigrationProvider(opts.migrationFolder ?? DEFAULT_MIGRATION_FOLDER),
  });
}

/**
 * Kysely's Migrator reports failure as a value; turn it into a MigrationError naming the failed
 * migration, and return the names of the migrations that ran, in order.
 */
function unwrap(direction: MigrationDirection, resultSet: MigrationResultSet): string[] {
  const results = resultSet.results ?? [];
  if (resultSet.error !== undefined) {
    if (resultSet.error instanceof MigrationError) throw resultSet.error;
    const failed = results.find((r) => r.status === 'Error');
    throw new MigrationError(direction, failed?.migrationName, resultSet.error);
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies every pending migration in one transaction. Returns the names applied. */
export async function migrateToLatest(db: AnyKysely, opts: MigrateOptions = {}): Promise<string[]> {
  return unwrap('up', await migratorFor(db, opts).migrateToLatest());
}

export interface MigrateDownOptions extends MigrateOptions {
  /** Undo every migration instead of only the latest one. */
  readonly all?: boolean;
}

/** Undoes the latest migration (or all of them). Returns the names undone, latest first. */
export async function migrateDown(db: AnyKysely, opts: MigrateDownOptions = {}): Promise<string[]> {
  const migrator = migratorFor(db, opts);
  return unwrap('down', await (opts.all === true ? migrator.migrateTo(NO_MIGRATIONS) : migrator.migrateDown()));
}

/** Names of the migrations applied so far, in order. */
export async function appliedMigrations(db: AnyKysely, opts: MigrateOptions = {}): Promise<string[]> {
  const infos = await migratorFor(db, opts).getMigrations();
  return infos.filter((m) => m.executedAt !== undefined).map((m) => m.name);
}
