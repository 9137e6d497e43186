/**
 * Why a text is not JSON, without quoting the text. V8's messages echo the input
 * (`Unexpected token 'h', "hunter2-sec"... is not valid JSON`): a secret written as invalid JSON
 * leaked its first characters that way, and a prefix is not something the masker can recognise.
 * Only V8's fixed grammar phrases and the position are kept; anything else becomes a generic reason.
 */

const REASONS: ReadonlyArray<[RegExp, string]> = [
  [/^Unexpected end of JSON input/, 'unexpected end of input'],
  [/^Unexpected non-whitespace character after JSON/, 'unexpected text after the JSON value'],
  [/^Expected property name or '\}'/, "expected a property name or '}'"],
  [/^Expected double-quoted property name/, 'expected a double-quoted property name'],
  [/^Expected ',' or '\}' after property value/, "expected ',' or '}' after a property value"],
  [/^Expected ',' or '\]' after array element/, "expected ',' or ']' after an array element"],
  [/^Expected ':' after property name/, "expected ':' after a property name"],
  [/^Unterminated string/, 'unterminated string'],
  [/^Bad control character in string literal/, 'control character in a string'],
  [/^Bad escaped character/, 'bad escape sequence in a string'],
  [
    /^(Unterminated fractional number|No number after minus sign|Exponent part is missing a number)/,
    'malformed number',
  ],
  [/^Unexpected (token|number|string)/, 'unexpected token'],
];

/** A content-free reason for a JSON.parse failure: `expected ',' or '}' after a property value at position 9`. */
export function jsonSyntaxReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = REASONS.find(([re]) => re.test(message))?.[1] ?? 'not valid JSON';
  // The position is V8's number, never input; "(line L column C)" is newer V8's addition.
  const at = /\bat position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(message);
  if (!at) return reason;
  return `${reason} at position ${at[1]}${at[2] ? ` (line ${at[2]} column ${at[3]})` : ''}`;
}
