/**
 * The layout rules are enforced, not just written down: a wrong-way import written into each code
 * folder, and an import cycle made only of `import type`, must each fail `eslint .` (run here
 * through ESLint's Node API with the repository's own eslint.config.mjs). Each probe also carries
 * imports its folder may make, which must pass, so a rule that flags everything fails too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..', '..');
const tag = `__lint_probe_${process.pid}__`;

interface Probe {
  /** Where the probe file goes, relative to the repository root (nested ones test '../../x'). */
  dir: string;
  allowed: string[];
  forbidden: string[];
}

const probes: Probe[] = [
  {
    dir: 'spec',
    allowed: ["import type { DagRunState } from './states.js';"],
    forbidden: ["import type { RunGraph } from '../engine/run-graph.js';", "import { sql } from 'kysely';"],
  },
  {
    dir: 'engine',
    allowed: ["import type { DagSpec } from '../spec/dag-spec.js';"],
    forbidden: ["import { dag } from '../sdk/dag.js';", "import fs from 'node:fs';"],
  },
  {
    dir: 'sdk',
    allowed: [
      "import { TriggerRule } from '../spec/trigger-rule.js';",
      "import { BranchError } from '../engine/control-flow.js';",
    ],
    forbidden: [
      "import fs from 'node:fs';",
      "import type { Database } from '../db/database.js';",
      "import { Pool } from 'pg';",
    ],
  },
  {
    dir: 'workflows',
    allowed: [
      "import type { ActivityDeps } from '../activities/index.js';",
      "import { proxyActivities } from '@temporalio/workflow';",
      "import type { DagSpec } from '../spec/dag-spec.js';",
    ],
    forbidden: [
      "import { createActivities } from '../activities/index.js';",
      "import { Client } from '@temporalio/client';",
      "import type { Database } from '../db/database.js';",
    ],
  },
  {
    dir: 'activities/executors',
    allowed: [
      "import type { Database } from '../../db/database.js';",
      "import { SecretMasker } from '../../secrets/masker.js';",
      "import type { RunTaskRequest } from '../../workflows/types.js';",
    ],
    forbidden: [
      "import { loadConfig } from '../../worker/config.js';",
      "import { dagRun } from '../../workflows/dag-run.js';",
      "import { proxyActivities } from '@temporalio/workflow';",
    ],
  },
  {
    dir: 'secrets',
    allowed: ["import type { Database } from '../db/database.js';"],
    forbidden: [
      "import { TaskLogWriter } from '../activities/task-log.js';",
      "import type { DagBuilder } from '../sdk/dag.js';",
    ],
  },
  {
    dir: 'db',
    allowed: [
      "import type { DagSpec } from '../spec/dag-spec.js';",
      "import { Pool } from 'pg';",
      "import { validateEvaluationResults } from '../engine/promotion.js';",
    ],
    forbidden: ["import { SecretMasker } from '../secrets/masker.js';", "import Docker from 'dockerode';"],
  },
  {
    dir: 'migrations',
    allowed: ["import { sql } from 'kysely';"],
    forbidden: ["import type { Database } from '../db/database.js';", "import fs from 'node:fs';"],
  },
  {
    dir: 'client',
    allowed: [
      "import type { dagRun } from '../workflows/dag-run.js';",
      "import { DAG_RUN_WORKFLOW } from '../workflows/types.js';",
      "import type { Database } from '../db/database.js';",
    ],
    forbidden: [
      "import { dagRun } from '../workflows/dag-run.js';",
      "import { createActivities } from '../activities/index.js';",
      "import { loadConfig } from '../worker/config.js';",
    ],
  },
  {
    dir: 'worker',
    allowed: [
      "import { createActivities } from '../activities/index.js';",
      "import { triggerDagRun } from '../client/trigger.js';",
    ],
    forbidden: ["import { main } from '../cli/main.js';"],
  },
  {
    dir: 'cli/commands',
    allowed: [
      "import { loadConfig } from '../../worker/config.js';",
      "import { triggerDagRun } from '../../client/trigger.js';",
    ],
    forbidden: [
      "import { createActivities } from '../../activities/index.js';",
      "import { DAG_RUN_WORKFLOW } from '../../workflows/types.js';",
    ],
  },
  {
    dir: 'dags',
    allowed: ["import { dag } from '../sdk/index.js';"],
    forbidden: ["import { compileDag } from '../sdk/compile.js';", "import { openDatabase } from '../db/connect.js';"],
  },
];

/** Two files that import only each other's types: a cycle the compiled code would not show. */
const cycle = [
  {
    file: `engine/${tag}cycle_a.ts`,
    text: `import type { B } from './${tag}cycle_b.js';\nexport interface A {\n  b?: B;\n}\n`,
  },
  { file: `engine/${tag}cycle_b.ts`, text: `export type { A as B } from './${tag}cycle_a.js';\n` },
];

const probeFile = (probe: Probe) => path.join(root, probe.dir, `${tag}.ts`);

describe('lint: folder import rules and import cycles', function () {
  this.timeout(600_000);
  let results: Map<string, ESLint.LintResult>;

  before(async () => {
    for (const probe of probes)
      fs.writeFileSync(probeFile(probe), `${[...probe.allowed, ...probe.forbidden].join('\n')}\n`);
    for (const c of cycle) fs.writeFileSync(path.join(root, c.file), c.text);
    try {
      const eslint = new ESLint({ cwd: root });
      const linted = await eslint.lintFiles([...probes.map(probeFile), ...cycle.map((c) => path.join(root, c.file))]);
      results = new Map(linted.map((r) => [path.relative(root, r.filePath), r]));
    } finally {
      for (const probe of probes) fs.rmSync(probeFile(probe), { force: true });
      for (const c of cycle) fs.rmSync(path.join(root, c.file), { force: true });
    }
  });

  for (const probe of probes) {
    it(`${probe.dir}/: reports each wrong-way import and only those`, () => {
      const result = results.get(path.relative(root, probeFile(probe)));
      expect(result, 'ESLint linted the probe').to.not.equal(undefined);
      const fatal = result!.messages.filter((m) => m.fatal);
      expect(fatal, 'the probe parsed').to.deep.equal([]);
      const flagged = result!.messages.filter((m) => m.ruleId === 'updraft/folder-imports');
      const expectedLines = probe.forbidden.map((_, i) => probe.allowed.length + i + 1);
      expect(
        flagged.map((m) => m.line),
        flagged.map((m) => m.message).join('\n'),
      ).to.deep.equal(expectedLines);
      const top = probe.dir.split('/')[0];
      for (const m of flagged) expect(m.message).to.match(new RegExp(`^${top}/ may not import `));
    });
  }

  it('reports a cycle of type-only imports in every file on it', () => {
    for (const c of cycle) {
      const result = results.get(c.file);
      expect(result, `ESLint linted ${c.file}`).to.not.equal(undefined);
      const flagged = result!.messages.filter((m) => m.ruleId === 'updraft/no-cycle');
      expect(flagged, `${c.file}: ${JSON.stringify(result!.messages)}`).to.have.length(1);
      expect(flagged[0]!.message)
        .to.contain('import cycle:')
        .and.contain(`${tag}cycle_a.ts`)
        .and.contain(`${tag}cycle_b.ts`);
    }
  });
});
