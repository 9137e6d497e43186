/** Asserts that compiling throws the DagDefinitionError with exactly this message. */
import { expect } from 'chai';
import { DagDefinitionError } from '../../../sdk/errors.js';

export function expectDefinitionError(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(DagDefinitionError);
    expect((err as Error).message).to.equal(message);
    return;
  }
  throw new Error(`expected DagDefinitionError: ${message}`);
}
