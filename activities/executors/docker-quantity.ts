/**
 * Kubernetes resource quantities ("500m", "2", "512Mi", "1.5Gi", "1e3") turned into the numbers the
 * Docker API takes (NanoCpus, Memory bytes). A task's `resources` use Kubernetes syntax so one
 * spec runs on both runtimes; this is the Docker side of that promise.
 */

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
  constructor(
    readonly field: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${field}: invalid quantity "${value}": ${reason}`);
  }
}

const SUFFIX_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

// Kubernetes' grammar: a signed decimal number, then either a suffix or a decimal exponent.
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** The value of a quantity as a plain number ("500m" → 0.5, "1Ki" → 1024, "1e3" → 1000). */
export function parseQuantity(value: string, field = 'quantity'): number {
  const match = QUANTITY.exec(value.trim());
  if (!match) {
    throw new QuantityError(
      field,
      value,
      'expected a number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...) or exponent',
    );
  }
  const [, number, exponent, suffix] = match;
  const base = Number(number);
  const multiplier = exponent !== undefined ? 10 ** Number(exponent.slice(1)) : (SUFFIX_MULTIPLIERS[suffix ?? ''] ?? 1);
  const result = base * multiplier;
  if (!Number.isFinite(result)) throw new QuantityError(field, value, 'the value is out of range');
  if (result < 0) throw new QuantityError(field, value, 'must not be negative');
  return result;
}

/** CPU cores as Docker NanoCpus ("500m" → 500_000_000). */
export function cpuToNanoCpus(value: string, field = 'resources.cpu'): number {
  const nano = Math.round(parseQuantity(value, field) * 1e9);
  if (nano <= 0) throw new QuantityError(field, value, 'must be greater than zero');
  return nano;
}

/** Memory as bytes, rounded up like Kubernetes does for fractional byte quantities. */
export function memoryToBytes(value: string, field = 'resources.memory'): number {
  const bytes = Math.ceil(parseQuantity(value, field));
  if (bytes <= 0) throw new QuantityError(field, value, 'must be greater than zero');
  return bytes;
}
