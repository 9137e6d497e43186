/**
 * jsonSyntaxReason (secrets/json-error.ts): why a text is not JSON, never quoting the text. V8's
 * own messages echo up to the first 10 characters of the input (or all of a short one).
 */
import { expect } from 'chai';
import { jsonSyntaxReason } from '../../secrets/json-error.js';

function reasonFor(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return jsonSyntaxReason(err);
  }
  throw new Error(`${text} parsed`);
}

describe('jsonSyntaxReason', function () {
  const cases: Array<[string, string]> = [
    ['hunter2-secret-value-long', 'unexpected token'],
    ['short', 'unexpected token'],
    ['{"key": hunter2secret}', 'unexpected token'],
    ['', 'unexpected end of input'],
    ['{"a": "x"', "expected ',' or '}' after a property value at position 9"],
    ['{"a":1} hunter2', 'unexpected text after the JSON value at position 8'],
    ['[1,2', "expected ',' or ']' after an array element at position 4"],
    ['{hunter2}', "expected a property name or '}' at position 1"],
    ['"hunter2', 'unterminated string at position 8'],
    ['"a\u0001"', 'control character in a string at position 2'],
    ['"\\q"', 'bad escape sequence in a string at position 2'],
    ['-', 'malformed number at position 1'],
    ['{"a" 1}', "expected ':' after a property name at position 5"],
  ];
  for (const [text, reason] of cases) {
    it(`${JSON.stringify(text)} → ${reason}`, function () {
      const got = reasonFor(text);
      expect(got).to.equal(reason);
      for (const word of text.match(/[a-z0-9]{3,}/g) ?? []) expect(got).to.not.contain(word);
    });
  }

  it('turns an unknown message into a generic reason rather than echo it', function () {
    expect(jsonSyntaxReason(new SyntaxError('Weird "hunter2-secret" thing'))).to.equal('not valid JSON');
  });
});
