/**
 * XCom by value and by reference: `small` travels inline through Temporal, `big` (over the 64 KiB
 * inline limit) is stored in Postgres and resolved by the consuming activities. The consumers
 * return digests so the test can check that what arrived is intact.
 */
import { createHash } from 'node:crypto';
import { dag } from '../../../../sdk/index.js';

/** ~160 KiB of deterministic, non-repeating-looking text (corruption anywhere changes the digest). */
export function bigBlob(): string {
  let seed = 12345;
  let out = '';
  for (let i = 0; i < 160 * 1024; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out += String.fromCharCode(33 + (seed % 90));
  }
  return out;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export const SMALL = { kind: 'small', values: [1, 2, 3], nested: { ok: true, label: 'é ü ✓' } };

export default dag({ dagId: 'wf_xcom', tags: ['test'] }, (d) => {
  const small = d.task({ taskId: 'small' }, () => SMALL);
  const big = d.task({ taskId: 'big' }, () => ({ blob: bigBlob() }));
  const check = d.task({ taskId: 'check' }, (i: { small: typeof SMALL; big: { blob: string } }) => ({
    small: i.small,
    bigLength: i.big.blob.length,
    bigDigest: sha256(i.big.blob),
  }));
  // A process gets an input this large only as a file (UPDRAFT_INPUT would overflow the environment).
  const checkFile = d.process<{ blob: string }, { digest: string; inlineEnv: boolean }>({
    taskId: 'check_file',
    argv: [
      'sh',
      '-c',
      'digest=$(sha256sum "$UPDRAFT_INPUT_FILE" | cut -d" " -f1); ' +
        'if [ -n "${UPDRAFT_INPUT+x}" ]; then inline=true; else inline=false; fi; ' +
        'printf \'{"digest":"%s","inlineEnv":%s}\' "$digest" "$inline" > "$UPDRAFT_XCOM_DIR/return.json"',
    ],
  });
  const blob = big();
  check({ small: small(), big: blob });
  checkFile(blob);
});
