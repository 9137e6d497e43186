/**
 * The workflow code must bundle for Temporal's sandbox: a stray node or I/O import fails here in CI
 * rather than when a worker starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { bundleWorkflowCode } from '@temporalio/worker';
import { tempDir } from '../helpers/servers.js';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

describe('workflow bundle', function () {
  this.timeout(120_000);

  it('bundles workflows/index.js for the sandbox', async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: path.resolve(__dirname, '..', '..', 'workflows', 'index.js'),
      logger: quiet,
    });
    expect(bundle.code).to.contain('dagRun');
  });

  it('rejects a workflow module that imports a node API', async () => {
    const dir = tempDir('bad-workflow');
    const file = path.join(dir, 'index.js');
    fs.writeFileSync(
      file,
      "const fs = require('fs');\nexports.bad = async () => fs.readFileSync('/etc/hostname', 'utf8');\n",
    );
    let error: unknown;
    try {
      await bundleWorkflowCode({ workflowsPath: file, logger: quiet });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.contain('Webpack finished with errors');
  });
});
