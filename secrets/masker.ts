/**
 * Replaces secret values with `***` in log lines and error messages (Airflow's secrets masker).
 * One masker per try: it learns the secrets the try's rendering touched (connection passwords,
 * sensitive variables, sensitive fields of a connection's extra) and chains a configured masker.
 */

/**
 * Shorter secrets are not masked: masking "abc" everywhere would wreck logs and reveal more than
 * it hides. Airflow's `[logging] min_length_masked_secret` default.
 */
export const MIN_MASKED_LENGTH = 5;
export const MASK = '***';

/** Rewrites one log line or message so no known secret shows; task logs and errors pass through one. */
export type Masker = (line: string) => string;

export class SecretMasker {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | null = null;

  constructor(private readonly base?: Masker) {}

  /**
   * Registers a secret, with the forms it takes in URLs and JSON. Multi-line secrets (private
   * keys) also register each line, since logs are written line by line.
   */
  add(secret: string | null | undefined): void {
    if (typeof secret !== 'string') return;
    const forms = new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]);
    if (secret.includes('\n')) for (const line of secret.split(/\r?\n/)) forms.add(line.trim());
    let changed = false;
    for (const form of forms) {
      if (form.length < MIN_MASKED_LENGTH || this.secrets.has(form)) continue;
      this.secrets.add(form);
      changed = true;
    }
    if (changed) this.pattern = null;
  }

  get size(): number {
    return this.secrets.size;
  }

  /** Masks a line (or any text); bound so it can be passed as a Masker. */
  readonly mask = (text: string): string => {
    const input = this.base ? this.base(text) : text;
    if (this.secrets.size === 0) return input;
    // Longest first, so a secret that contains another is masked whole.
    this.pattern ??= new RegExp(
      [...this.secrets]
        .sort((a, b) => b.length - a.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return input.replace(this.pattern, MASK);
  };
}
