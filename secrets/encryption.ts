/**
 * Encryption at rest for Variables and Connections: AES-256-GCM with the key in
 * UPDRAFT_FERNET_KEY (Airflow calls its key `fernet_key`; the role is the same). Several keys
 * separated by commas rotate keys: the first encrypts, any of them decrypts.
 *
 * A stored value is `v1:` + base64(iv | ciphertext | tag). The row it belongs to (e.g.
 * `variable:<key>`) is the GCM associated data, so a ciphertext copied into another row does not
 * decrypt there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const FERNET_KEY_ENV = 'UPDRAFT_FERNET_KEY';
const GENERATE_HINT = `generate one with: node -e "console.log(crypto.randomBytes(32).toString('base64'))"`;
const PREFIX = 'v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key is missing or malformed. */
export class SecretKeyError extends Error {
  override readonly name = 'SecretKeyError';
}

/** A stored secret that cannot be decrypted (wrong key, or a tampered value). */
export class SecretDecryptError extends Error {
  override readonly name = 'SecretDecryptError';
}

export class SecretCipher {
  private constructor(private readonly keys: Buffer[]) {}

  /** Parses a key list (`key[,older_key...]`), each base64 (or base64url) of 32 bytes. */
  static fromKeyList(value: string): SecretCipher {
    const parts = value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    if (parts.length === 0) throw new SecretKeyError(`${FERNET_KEY_ENV} is empty; ${GENERATE_HINT}`);
    const keys = parts.map((p, i) => {
      const which = parts.length > 1 ? ` (key ${i + 1})` : '';
      if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(p)) {
        throw new SecretKeyError(
          `${FERNET_KEY_ENV}${which} must be 32 random bytes in base64 (44 characters); ${GENERATE_HINT}`,
        );
      }
      const key = Buffer.from(p, 'base64');
      if (key.length !== 32)
        throw new SecretKeyError(
          `${FERNET_KEY_ENV}${which} decodes to ${key.length} bytes, expected 32; ${GENERATE_HINT}`,
        );
      return key;
    });
    return new SecretCipher(keys);
  }

  /** The cipher from UPDRAFT_FERNET_KEY, or null when it is unset. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SecretCipher | null {
    const value = env[FERNET_KEY_ENV];
    if (value === undefined || value.trim() === '') return null;
    return SecretCipher.fromKeyList(value);
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  }

  /** Decrypts with the first key that authenticates; `what` names the value in errors. */
  decrypt(token: string, associatedData: string, what: string): string {
    if (!token.startsWith(PREFIX))
      throw new SecretDecryptError(`${what} is not an encrypted value this version understands`);
    const raw = Buffer.from(token.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretDecryptError(`${what}: the stored value is truncated`);
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(associatedData, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        // Authentication failed: try the next (older) key.
      }
    }
    throw new SecretDecryptError(
      `cannot decrypt ${what}: ${FERNET_KEY_ENV} does not hold the key it was encrypted with (or the stored value was altered)`,
    );
  }
}

/** The cipher, failing with how to set the key when there is none; `what` says what needs it. */
export function requireCipher(cipher: SecretCipher | null, what: string): SecretCipher {
  if (cipher) return cipher;
  throw new SecretKeyError(`${what} needs an encryption key: set ${FERNET_KEY_ENV} (${GENERATE_HINT})`);
}
