/** Table output for people, JSON for scripts (`--output json`), like Airflow's CLI. */
export type OutputFormat = 'table' | 'json';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function parseOutput(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table' || value === 'plain') return 'table';
  if (value === 'json') return 'json';
  throw new CliError(`--output must be "table" or "json", got "${value}"`, 2);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function renderTable(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  if (rows.length === 0) return 'No data found';
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [
    line([...columns]),
    widths.map((w) => '='.repeat(w)).join('=+='),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join('\n');
}

export function print(
  rows: ReadonlyArray<Record<string, unknown>>,
  columns: readonly string[],
  format: OutputFormat,
): void {
  if (format === 'json') {
    process.stdout.write(
      `${JSON.stringify(
        rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null]))),
        null,
        2,
      )}\n`,
    );
  } else {
    process.stdout.write(`${renderTable(rows, columns)}\n`);
  }
}
