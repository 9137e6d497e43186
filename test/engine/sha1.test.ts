import { expect } from 'chai';
import { sha1Bytes, sha1Hex, utf8Encode } from '../../engine/index.js';

describe('semantics/sha1', () => {
  // Expected digests from Python: hashlib.sha1(s.encode()).hexdigest().
  const vectors: ReadonlyArray<[string, string]> = [
    ['', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ['abc', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '84983e441c3bd26ebaae4aa1f95129e5e54670f1'],
    ['héllo wörld €', 'e8d02b6e2c8ba427cea42c9e54e133943a3486f4'],
    ['日本語', 'c12140a0ffb4e56481b4fe0a7a25040c2eafa9ca'],
    ['😀 emoji', '2d93e0214ecc327b880fba19fc7272e6ab20f9fd'],
    // Padding boundaries: 55 bytes fit one block, 56 and 64 need a second one.
    ['x'.repeat(55), 'cef734ba81a024479e09eb5a75b6ddae62e6abf1'],
    ['x'.repeat(56), '901305367c259952f4e7af8323f480d59f81335b'],
    ['x'.repeat(63), '0ddc4e0cccd9a12850deb5abb0853a4425559fec'],
    ['x'.repeat(64), 'bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163'],
  ];
  for (const [input, digest] of vectors) {
    it(`hashes ${JSON.stringify(input.length > 20 ? `${input.slice(0, 20)}…(${input.length})` : input)}`, () => {
      expect(sha1Hex(input)).to.equal(digest);
    });
  }

  it('hashes one million "a" (FIPS 180 long-message vector)', () => {
    expect(sha1Hex('a'.repeat(1_000_000))).to.equal('34aa973cd4c4daa4f61eeb2bdbad27316534016f');
  });

  it('encodes UTF-8 like TextEncoder, including surrogate pairs and lone surrogates', () => {
    const samples = ['', 'abc', 'é', '€', '日本語', '😀', 'a\ud800b', '\udc00', 'x\ud83d'];
    const encoder = new TextEncoder();
    for (const s of samples) {
      expect(Array.from(utf8Encode(s)), JSON.stringify(s)).to.deep.equal(Array.from(encoder.encode(s)));
    }
  });

  it('hashes raw bytes', () => {
    expect(sha1Bytes(new Uint8Array([0x61, 0x62, 0x63]))).to.equal('a9993e364706816aba3e25717850c26c9cd0d89d');
  });
});
