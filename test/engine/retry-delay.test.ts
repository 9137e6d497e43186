import { expect } from 'chai';
import {
  MAX_RETRY_DELAY_SECONDS,
  SemanticsInputError,
  formatLogicalDateForHash,
  retryDelaySeconds,
} from '../../engine/index.js';
import type { RetryDelayInput } from '../../engine/index.js';

const JAN1 = '2024-01-01T00:00:00+00:00';
const MICROS = '2024-03-15T12:30:45.123456Z';

function input(over: Partial<RetryDelayInput>): RetryDelayInput {
  return {
    dagId: 'd',
    taskId: 't',
    logicalDate: JAN1,
    tryNumber: 1,
    retryDelay: 300,
    exponentialBackoff: true,
    maxRetryDelay: null,
    ...over,
  };
}

describe('semantics/retry-delay', () => {
  describe('formatLogicalDateForHash (Python str(datetime) of a UTC datetime)', () => {
    const cases: ReadonlyArray<[string | null, string]> = [
      [JAN1, '2024-01-01 00:00:00+00:00'],
      ['2024-01-01T00:00:00Z', '2024-01-01 00:00:00+00:00'],
      ['2024-01-01T00:00:00', '2024-01-01 00:00:00+00:00'],
      ['2024-01-01', '2024-01-01 00:00:00+00:00'],
      [MICROS, '2024-03-15 12:30:45.123456+00:00'],
      ['2024-03-15T12:30:45.5Z', '2024-03-15 12:30:45.500000+00:00'],
      ['2024-03-15T12:30:45.000Z', '2024-03-15 12:30:45+00:00'],
      ['2024-06-01T02:00:00+02:00', '2024-06-01 00:00:00+00:00'],
      ['2024-01-01T01:30:00+0530', '2023-12-31 20:00:00+00:00'],
      ['2024-12-31T23:00:00-05:00', '2025-01-01 04:00:00+00:00'],
      [null, 'None'],
    ];
    for (const [iso, expected] of cases) {
      it(`${String(iso)} -> ${expected}`, () => {
        expect(formatLogicalDateForHash(iso)).to.equal(expected);
      });
    }

    it('rejects a string that is not an ISO date-time, naming the field', () => {
      expect(() => formatLogicalDateForHash('yesterday'))
        .to.throw(SemanticsInputError)
        .with.property(
          'message',
          'logicalDate: expected an ISO-8601 date-time such as 2024-01-01T00:00:00+00:00, got "yesterday"',
        );
    });

    it('rejects an impossible date instead of rolling it over', () => {
      expect(() => formatLogicalDateForHash('2024-02-30T00:00:00Z'))
        .to.throw(SemanticsInputError)
        .with.property('message', 'logicalDate: not a valid date-time: "2024-02-30T00:00:00Z"');
    });
  });

  describe('retryDelaySeconds (Airflow 3.x TaskInstance.next_retry_datetime)', () => {
    // Expected values computed by running Airflow 3's next_retry_datetime arithmetic in Python
    // (math.ceil, hashlib.sha1, f"{dag_id}#{task_id}#{logical_date}#{try_number}", MAX_RETRY_DELAY).
    const table: ReadonlyArray<[string, Partial<RetryDelayInput>, number]> = [
      ['no backoff: retry_delay as is', { exponentialBackoff: false }, 300],
      ['no backoff keeps fractions', { exponentialBackoff: false, retryDelay: 45.5 }, 45.5],
      ['no backoff ignores max_retry_delay', { exponentialBackoff: false, maxRetryDelay: 10 }, 300],
      ['try 1: base 300, in [300, 600)', { tryNumber: 1 }, 521],
      ['try 2: base 600', { tryNumber: 2 }, 817],
      ['try 3: base 1200', { tryNumber: 3 }, 1518],
      ['try 5: base 4800', { tryNumber: 5 }, 9117],
      ['try 8: base 38400', { tryNumber: 8 }, 66801],
      ['fractional retry_delay is ceiled', { retryDelay: 45.5 }, 63],
      ['retry_delay 0: min_backoff floored to 1', { retryDelay: 0 }, 1],
      ['retry_delay 0.3: ceil to 1', { retryDelay: 0.3 }, 1],
      ['max_retry_delay caps', { tryNumber: 3, maxRetryDelay: 1000 }, 1000],
      ['max_retry_delay above the value leaves it', { tryNumber: 1, maxRetryDelay: 600 }, 521],
      ['max_retry_delay 0 means no cap (Airflow: falsy)', { tryNumber: 3, maxRetryDelay: 0 }, 1518],
      ['global cap through the hash (50000 + jitter > 86400)', { retryDelay: 50_000 }, 86_400],
      ['global cap applies under a larger max_retry_delay', { retryDelay: 50_000, maxRetryDelay: 90_000 }, 86_400],
      ['under the global cap', { retryDelay: 60_000 }, 67_121],
      ['global cap once the base alone exceeds it', { tryNumber: 12, retryDelay: 60 }, 86_400],
      ['huge try numbers do not overflow', { tryNumber: 2000, retryDelay: 60 }, 86_400],
      [
        'microsecond logical date, try 1',
        { dagId: 'example_dag', taskId: 'flaky_task', logicalDate: MICROS, retryDelay: 10 },
        14,
      ],
      [
        'microsecond logical date, try 2',
        { dagId: 'example_dag', taskId: 'flaky_task', logicalDate: MICROS, retryDelay: 10, tryNumber: 2 },
        33,
      ],
      [
        'microsecond logical date, try 3',
        { dagId: 'example_dag', taskId: 'flaky_task', logicalDate: MICROS, retryDelay: 10, tryNumber: 3 },
        48,
      ],
      [
        'null logical date hashes "None"',
        { dagId: 'example_dag', taskId: 'flaky_task', logicalDate: null, retryDelay: 10 },
        18,
      ],
      ['non-ASCII ids hash as UTF-8', { dagId: 'dâg', taskId: 'tâsk', tryNumber: 4, retryDelay: 7 }, 99],
      ['offsets are converted to UTC before hashing', { logicalDate: '2024-06-01T02:00:00+02:00', tryNumber: 2 }, 871],
    ];
    for (const [name, over, expected] of table) {
      it(name, () => {
        expect(retryDelaySeconds(input(over))).to.equal(expected);
      });
    }

    it('stays within [base, 2*base) for many task ids', () => {
      for (let i = 0; i < 200; i++) {
        const d = retryDelaySeconds(input({ taskId: `task_${i}`, tryNumber: 2, retryDelay: 30 }));
        expect(d).to.be.at.least(60).and.below(120);
        expect(Number.isInteger(d)).to.equal(true);
      }
    });

    it('exports the global cap', () => {
      expect(MAX_RETRY_DELAY_SECONDS).to.equal(86_400);
    });

    it('rejects a try number below 1', () => {
      expect(() => retryDelaySeconds(input({ tryNumber: 0 })))
        .to.throw(SemanticsInputError)
        .with.property('message', 'tryNumber: expected an integer >= 1, got 0');
    });

    it('rejects a negative retry delay', () => {
      expect(() => retryDelaySeconds(input({ retryDelay: -1 })))
        .to.throw(SemanticsInputError)
        .with.property('message', 'retryDelay: expected a finite number of seconds >= 0, got -1');
    });

    it('rejects a negative max retry delay', () => {
      expect(() => retryDelaySeconds(input({ maxRetryDelay: -5 })))
        .to.throw(SemanticsInputError)
        .with.property('message', 'maxRetryDelay: expected null or a finite number of seconds >= 0, got -5');
    });
  });
});
