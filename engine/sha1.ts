/**
 * SHA-1 of a string's UTF-8 bytes, as lowercase hex: Python's
 * `hashlib.sha1(s.encode()).hexdigest()`.
 *
 * Pure TypeScript on purpose: the DAG-run workflow runs in Temporal's sandbox, which has neither
 * `node:crypto` nor `Buffer`, and WebCrypto's digest is async and not guaranteed there. SHA-1 is
 * used only for Airflow's deterministic retry jitter, never for security.
 */

/**
 * UTF-8 encodes `text` the way `TextEncoder` does: surrogate pairs become one 4-byte sequence,
 * lone surrogates become U+FFFD (EF BF BD).
 */
export function utf8Encode(text: string): Uint8Array {
  // Upper bound: every UTF-16 code unit takes at most 3 bytes (a pair of units takes 4).
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) {
      out[n++] = cp;
    } else if (cp < 0x800) {
      out[n++] = 0xc0 | (cp >> 6);
      out[n++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[n++] = 0xe0 | (cp >> 12);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    } else {
      out[n++] = 0xf0 | (cp >> 18);
      out[n++] = 0x80 | ((cp >> 12) & 0x3f);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    }
  }
  return out.subarray(0, n);
}

const HEX = '0123456789abcdef';

function hex32(word: number): string {
  let s = '';
  for (let shift = 28; shift >= 0; shift -= 4) s += HEX[(word >>> shift) & 0xf];
  return s;
}

/** SHA-1 (FIPS 180-4) of arbitrary bytes, as 40 lowercase hex characters. */
export function sha1Bytes(bytes: Uint8Array): string {
  const len = bytes.length;
  // Message + 0x80 + zero padding + 64-bit big-endian bit length, to a multiple of 64 bytes.
  const blocks = ((len + 8) >>> 6) + 1;
  const padded = new Uint8Array(blocks * 64);
  padded.set(bytes);
  padded[len] = 0x80;
  const bitLenHigh = Math.floor(len / 0x20000000); // len * 8 / 2^32, exact for len < 2^53 / 8
  const bitLenLow = (len * 8) >>> 0;
  const end = padded.length;
  padded[end - 8] = bitLenHigh >>> 24;
  padded[end - 7] = bitLenHigh >>> 16;
  padded[end - 6] = bitLenHigh >>> 8;
  padded[end - 5] = bitLenHigh;
  padded[end - 4] = bitLenLow >>> 24;
  padded[end - 3] = bitLenLow >>> 16;
  padded[end - 2] = bitLenLow >>> 8;
  padded[end - 1] = bitLenLow;

  let h0 = 0x67452301;
  let h1 = 0xefcdab89;
  let h2 = 0x98badcfe;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0;
  const w = new Int32Array(80);

  for (let off = 0; off < end; off += 64) {
    for (let t = 0; t < 16; t++) {
      const p = off + t * 4;
      w[t] = (padded[p]! << 24) | (padded[p + 1]! << 16) | (padded[p + 2]! << 8) | padded[p + 3]!;
    }
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
      w[t] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  return hex32(h0) + hex32(h1) + hex32(h2) + hex32(h3) + hex32(h4);
}

/** SHA-1 of `text` encoded as UTF-8, as 40 lowercase hex characters. */
export function sha1Hex(text: string): string {
  return sha1Bytes(utf8Encode(text));
}
