/**
 * Typed errors of the ML record (lineage, metrics, model registry). Each names the field or record
 * at fault, what was expected, and what to do next. The repositories check input before their
 * transaction opens, and everything they write happens in one transaction, so a thrown error
 * leaves nothing half-written.
 */

/** A value handed to the ML record that breaks its rules; `field` names it (e.g. `metrics[2].name`). */
export class InvalidRecordFieldError extends Error {
  override readonly name: string = 'InvalidRecordFieldError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
  constructor(readonly model: string) {
    super(`registered model not found: "${model}" (list models with \`updraft models list\`)`);
  }
}

export class ModelVersionNotFoundError extends Error {
  override readonly name = 'ModelVersionNotFoundError';
  constructor(
    readonly model: string,
    readonly version: number,
    latest: number | null,
  ) {
    super(
      `model "${model}" has no version ${version} ` +
        (latest === null
          ? '(it has no versions yet)'
          : `(its versions are 1..${latest}; see \`updraft models versions ${model}\`)`),
    );
  }
}

/** A model version id that belongs to another registered model than the one named. */
export class VersionOfAnotherModelError extends Error {
  override readonly name = 'VersionOfAnotherModelError';
  constructor(
    readonly field: string,
    readonly model: string,
    /** How the caller named the version, e.g. `other_model@3` or `version id 17`. */
    readonly version: string,
    readonly actualModel: string,
  ) {
    super(
      `${field}: ${version} is a version of "${actualModel}", not of "${model}"; promote and evaluate versions of "${model}" only`,
    );
  }
}

export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
  constructor(
    readonly field: string,
    readonly ref: string,
  ) {
    super(`${field}: no artifact ${ref} is recorded (record it with the try that wrote it, or check the id/sha256)`);
  }
}

/** The same (sha256, name, type) recorded again with a different size: the bytes cannot match. */
export class ArtifactConflictError extends Error {
  override readonly name = 'ArtifactConflictError';
  constructor(
    readonly field: string,
    readonly sha256: string,
    recordedSize: number,
    givenSize: number,
  ) {
    super(
      `${field}: artifact ${sha256} is recorded with size ${recordedSize}, given ${givenSize}; the same hash must have the same size`,
    );
  }
}

export class AliasNotFoundError extends Error {
  override readonly name = 'AliasNotFoundError';
  constructor(
    readonly model: string,
    readonly alias: string,
  ) {
    super(`model "${model}" has no alias "${alias}" (see \`updraft models show ${model}\`)`);
  }
}

/** A rollback with no earlier version to go back to in the promotion log. */
export class NothingToRollBackError extends Error {
  override readonly name = 'NothingToRollBackError';
  constructor(
    readonly model: string,
    readonly alias: string,
    reason: string,
  ) {
    super(`cannot roll back "${model}@${alias}": ${reason} (give --to <version> to choose the version)`);
  }
}
