/**
 * What the ML record commands (models, artifacts, runs metrics, lineage) share: a database opened
 * for the command, the ML record's typed errors as exit code 2 (bad input: nothing was written),
 * argument parsing, and who acts for a manual promotion.
 */
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import {
  AliasNotFoundError,
  ArtifactNotFoundError,
  InvalidRecordFieldError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  NothingToRollBackError,
  VersionOfAnotherModelError,
} from '../db/ml-errors.js';
import { EvaluationInputError } from '../engine/promotion.js';
import { loadConfig } from '../worker/config.js';
import { CliError } from './output.js';
import { openCliDatabase } from './runtime.js';

const BAD_INPUT = [
  AliasNotFoundError,
  ArtifactNotFoundError,
  InvalidRecordFieldError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  NothingToRollBackError,
  VersionOfAnotherModelError,
  EvaluationInputError,
];

/** Runs `fn` on the database; the record's input errors become exit code 2 with their message. */
export async function withRecord<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const h = await openCliDatabase(loadConfig());
  try {
    return await fn(h.db);
  } catch (err) {
    if (BAD_INPUT.some((E) => err instanceof E)) throw new CliError((err as Error).message, 2);
    throw err;
  } finally {
    await h.close();
  }
}

/** Who a manual promotion is recorded as: $UPDRAFT_ACTOR, else the OS user. */
export function actor(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.UPDRAFT_ACTOR?.trim();
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}

/** A version number argument (>= 1), or exit 2 naming the argument. */
export function versionNumber(text: string, what: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new CliError(`${what} must be a version number >= 1, got "${text}"`, 2);
  }
  return Number(text);
}

/** `3` or `model@3` for a version of `model`: the number, and the model it names. */
export function versionArgument(model: string, text: string, what: string): { model: string; version: number } {
  const at = text.lastIndexOf('@');
  if (at < 0) return { model, version: versionNumber(text, what) };
  return { model: text.slice(0, at), version: versionNumber(text.slice(at + 1), what) };
}
