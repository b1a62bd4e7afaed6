/**
 * MurmurHash3 (x86, 32-bit) over a byte range. Every sketch hashes UTF-8 bytes with this one function,
 * so statistics computed by different shards (or from strings and from raw bytes) agree.
 */
export function murmur3(buf: Uint8Array, start: number, end: number, seed = 0): number {
  let h = seed | 0;
  const len = end - start;
  const end4 = start + (len & ~3);
  let i = start;
  for (; i < end4; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= buf[i + 2] << 16;
    if (rest >= 2) k ^= buf[i + 1] << 8;
    k ^= buf[i];
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  return fmix32(h);
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
/** The hash of a string's UTF-8 bytes (equal to murmur3 over the same bytes in a file). */
export function hashString(s: string): number {
  const b = encoder.encode(s);
  return murmur3(b, 0, b.length);
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/**
 * The hash of a number's value (numeric columns hash values, not their text: "1.0" and "1" are one
 * distinct value, and no pass over the bytes is needed). -0 counts as 0.
 */
export function hashNumber(x: number): number {
  f64[0] = x + 0;
  return fmix32(u32[0] ^ Math.imul(u32[1] ^ 0x5bd1e995, 0x9e3779b1));
}
