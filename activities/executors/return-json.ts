/**
 * The XCom return value a process, container or pod writes as JSON (return.json, or the
 * Kubernetes termination message). An invalid file is reported by size and parser reason only:
 * it is the task's own output and may be a secret (a token written where JSON was expected), and
 * the error ends up in the task log, the task instance and Temporal's history.
 */
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import type { Json } from '../../spec/dag-spec.js';

export class InvalidReturnJsonError extends Error {
  override readonly name = 'InvalidReturnJsonError';
}

/** Parses `text`; throws InvalidReturnJsonError `<where> is not valid JSON (N bytes): <reason>` without quoting it. */
export function parseReturnJson(text: string, where: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new InvalidReturnJsonError(
      `${where} is not valid JSON (${Buffer.byteLength(text, 'utf8')} bytes): ${jsonSyntaxReason(err)}`,
    );
  }
}
