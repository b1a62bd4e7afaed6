import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

/**
 * Reads one file out of a gzip'd tar archive, streaming, without writing to disk. It replaces the `tar`
 * package in the Lambda bundles (84 KB of the 500 KB budget) for the one thing a stage needs: SageMaker's
 * output.tar.gz holds predictions.jsonl. It reads what GNU tar, Python's tarfile (ustar, GNU and pax, its
 * default) and node-tar write: ustar names with a prefix, pax `path`/`size` records, GNU long names ('L'),
 * base-256 sizes. It does not extract, follow links or write anything.
 */

const BLOCK = 512;

/** Bytes of a stream in order, read `n` at a time or skipped, with the offset reached (for errors). */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes consumed so far (of the uncompressed archive). */
  offset = 0;
  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.chunks.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }

  /** Exactly `n` bytes, or undefined if the stream ends first (with what was left kept for `left`). */
  async read(n: number): Promise<Buffer | undefined> {
    if (this.buf.length < n) {
      const parts = [this.buf];
      let len = this.buf.length;
      while (len < n && !this.ended) {
        const r = await this.chunks.next();
        if (r.done) this.ended = true;
        else {
          parts.push(r.value);
          len += r.value.length;
        }
      }
      this.buf = Buffer.concat(parts, len);
      if (len < n) return undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return out;
  }

  /** Skips `n` bytes; false if the stream ends first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.more())) return false;
      const k = Math.min(n, this.buf.length);
      this.buf = this.buf.subarray(k);
      this.offset += k;
      n -= k;
    }
    return true;
  }

  /** Reads to the end of the stream (tar pads its end-of-archive marker to a 10 KiB record). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }
}

/** A NUL-terminated header field as text. */
function text(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** A numeric header field: octal text, or GNU/star base-256 when the high bit of its first byte is set. */
function number(field: Buffer, what: string, where: () => string): number {
  if (field[0] & 0x80) {
    if (field[0] & 0x40) throw new Error(`${where()}: negative ${what} in a tar header`);
    let v = field[0] & 0x3f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    if (!Number.isSafeInteger(v)) throw new Error(`${where()}: ${what} in a tar header is too large`);
    return v;
  }
  const s = text(field).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`${where()}: ${what} "${s}" in a tar header is not an octal number`);
  return parseInt(s, 8);
}

/** The header checksum: the sum of its bytes with the checksum field counted as spaces (unsigned, or signed as old tars wrote it). */
function checksumMatches(h: Buffer, expected: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return expected === unsigned || expected === signed;
}

/** pax extended header records, "<length> <key>=<value>\n" each (POSIX.1-2001). */
function paxRecords(data: Buffer, where: () => string): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    const len = space < 0 ? NaN : Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= space - pos || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new Error(`${where()}: malformed pax extended header record`);
    }
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw new Error(`${where()}: malformed pax extended header record`);
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;
/** Typeflags with no data after the header whatever their size field says (links, devices, directories, FIFOs). */
const NO_DATA = new Set(['1', '2', '3', '4', '5', '6']);
const REGULAR = new Set(['0', '\0', '7']);

/**
 * The contents of the regular file `fileName` (or of any `.../fileName`; a leading "./" is ignored) in a
 * gzip'd tar stream; undefined if the archive has no such file. A later entry of the same name wins, as
 * when tar extracts. Bad input fails with `label` and the byte offset of the bad header in the archive.
 */
export async function readFileFromTarGz(body: Readable, fileName: string, label = 'archive'): Promise<Buffer | undefined> {
  const gunzip = createGunzip();
  const pumping = pipeline(body, gunzip);
  pumping.catch(() => undefined); // the same error reaches the reader through gunzip
  const reader = new ByteReader(gunzip[Symbol.asyncIterator]());
  let found: Buffer | undefined;
  let at = 0;
  const where = () => `${label}: byte ${at}`;
  try {
    let pax = new Map<string, string>();
    let longName: string | undefined;
    for (;;) {
      at = reader.offset;
      const h = await reader.read(BLOCK);
      if (!h) {
        if (reader.offset === 0 && at === 0) throw new Error(`${label}: empty archive`);
        break; // no end-of-archive marker: what was read is all there is (as tar reads it)
      }
      if (h.every((b) => b === 0)) break; // end of archive
      const sum = number(h.subarray(148, 156), 'checksum', where);
      if (!checksumMatches(h, sum)) throw new Error(`${where()}: tar header checksum mismatch (not a tar archive, or a corrupt one)`);
      const type = String.fromCharCode(h[156]);
      let size = number(h.subarray(124, 136), 'size', where);
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        const data = await reader.read(size);
        if (!data || !(await reader.skip(padded(size) - size))) throw new Error(`${where()}: archive ends inside an extended header`);
        if (type === 'x') pax = paxRecords(data, where);
        else if (type === 'L') longName = text(data);
        // 'g' (global pax defaults) and 'K' (GNU long link target) say nothing about which file this is.
        continue;
      }
      let name = text(h.subarray(0, 100));
      if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
        const prefix = text(h.subarray(345, 500));
        if (prefix) name = `${prefix}/${name}`;
      }
      name = pax.get('path') ?? longName ?? name;
      if (pax.has('size')) {
        size = Number(pax.get('size'));
        if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${where()}: bad pax size "${pax.get('size')}"`);
      }
      pax = new Map();
      longName = undefined;
      if (NO_DATA.has(type)) continue;
      name = name.replace(/^(\.\/)+/, '');
      if (REGULAR.has(type) && (name === fileName || name.endsWith(`/${fileName}`))) {
        const data = await reader.read(size);
        if (!data) throw new Error(`${where()}: archive ends inside ${name} (${size} bytes expected)`);
        found = Buffer.from(data);
        if (!(await reader.skip(padded(size) - size))) throw new Error(`${where()}: archive ends inside ${name}`);
      } else if (!(await reader.skip(padded(size)))) {
        throw new Error(`${where()}: archive ends inside ${name} (${size} bytes expected)`);
      }
    }
    await reader.drain();
    await pumping;
  } catch (err) {
    body.destroy();
    gunzip.destroy();
    const e = err as NodeJS.ErrnoException;
    if (e.code?.startsWith('Z_')) throw new Error(`${label}: not a readable gzip stream (${e.message})`, { cause: err });
    throw err;
  }
  return found;
}
