import type { JsonText } from './database.js';
import { InvalidJsonValueError } from './errors.js';

/**
 * Serializes a value for a jsonb parameter. `field` names the value in errors. JSON cannot carry
 * `undefined` at the top level, and jsonb rejects the NUL character, so both fail here with a
 * message naming the field rather than later as a driver error.
 */
export function toJsonb(value: unknown, field: string): JsonText {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new InvalidJsonValueError(field, err instanceof Error ? err.message : String(err));
  }
  if (text === undefined) {
    throw new InvalidJsonValueError(field, `got ${typeof value}`);
  }
  // An escaped NUL is `\u0000` after an even number of backslashes (an odd count escapes the `\`).
  if (/(?:^|[^\\])(?:\\\\)*\\u0000/.test(text)) {
    throw new InvalidJsonValueError(field, 'strings must not contain the NUL character (\\u0000)');
  }
  return text as JsonText;
}

/** Size of the JSON text in UTF-8 bytes (what counts against XCom size limits). */
export function jsonByteLength(text: JsonText): number {
  return Buffer.byteLength(text, 'utf8');
}
