/**
 * Raised when a semantics function gets an input it cannot interpret. These are programming
 * errors in the caller (the workflow or the compiler), so the message names the field and what
 * was expected rather than being recoverable data.
 */
export class SemanticsInputError extends Error {
  override readonly name = 'SemanticsInputError';
  constructor(
    message: string,
    /** The offending input field, e.g. `trigger_rule` or `tryNumber`. */
    readonly field: string,
  ) {
    super(message);
  }
}
