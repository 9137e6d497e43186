'use strict';
// Mocha's spec output plus a closing `N passed, N failed, N skipped` line that CI tools read.
// With UPDRAFT_TEST_STATS_FILE set, the counts are also appended there as JSON, so a test run made
// of several mocha phases can print one combined closing line (scripts/test.sh).
const fs = require('node:fs');
const Mocha = require('mocha');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || this.stats;
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
      if (process.env.UPDRAFT_TEST_STATS_FILE) {
        fs.appendFileSync(
          process.env.UPDRAFT_TEST_STATS_FILE,
          `${JSON.stringify({ passes: s.passes, failures: s.failures, pending: s.pending })}\n`,
        );
      }
    });
  }
}
module.exports = SpecWithSummary;
