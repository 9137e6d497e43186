/**
 * The OpenLineage JSON schemas vendored in test/fixtures/openlineage (spec 2-0-2 and the facet
 * schemas Updraft emits), loaded into ajv (draft 2020-12): a validator returning each error.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { RUN_EVENT_SCHEMA_URL, type RunEvent } from '../../activities/lineage/openlineage.js';

const SCHEMAS = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'openlineage');

export async function loadValidator(): Promise<(event: unknown) => string[]> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const files = [
    ...(await readdir(SCHEMAS)).filter((f) => f.endsWith('.json')),
    ...(await readdir(path.join(SCHEMAS, 'facets'))).map((f) => path.join('facets', f)),
  ];
  for (const f of files) ajv.addSchema(JSON.parse(await readFile(path.join(SCHEMAS, f), 'utf8')) as object);
  const runEvent = ajv.getSchema(RUN_EVENT_SCHEMA_URL);
  const root = ajv.getSchema('https://openlineage.io/spec/2-0-2/OpenLineage.json');
  if (!runEvent || !root) throw new Error('the vendored 2-0-2 schema did not load');
  const errorsOf = (fn: typeof runEvent, where: string) =>
    (fn.errors ?? []).map((e) => `${where}${e.instancePath} ${e.message ?? ''}`);
  return (event: unknown) => {
    const errors: string[] = [];
    if (!runEvent(event)) errors.push(...errorsOf(runEvent, 'RunEvent'));
    if (!root(event)) errors.push(...errorsOf(root, 'OpenLineage.json'));
    // Each facet against the schema its _schemaURL names (which must be one we vendored).
    const facets = (event as RunEvent).run?.facets ?? {};
    for (const [name, facet] of Object.entries(facets)) {
      const url = (facet as { _schemaURL?: string })._schemaURL ?? '';
      const fn = ajv.getSchema(url);
      if (!fn) errors.push(`facet ${name}: no vendored schema for ${url}`);
      else if (!fn(facet)) errors.push(...errorsOf(fn, `facet ${name}`));
    }
    return errors;
  };
}
