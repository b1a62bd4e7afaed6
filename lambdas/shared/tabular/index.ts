import { isAscii, isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

/**
 * Streaming readers for the tabular files relearn handles: CSV (RFC 4180: quoted fields, escaped quotes,
 * CRLF or LF, a UTF-8 BOM) and JSON Lines, either optionally gzipped. Memory is bounded by the longest
 * line (capped by `maxLineBytes`), whatever the file size. Every problem is a ParseError that names the
 * file and the line (and the column where there is one), raised as soon as the bad line is reached.
 *
 * Values: an empty unquoted CSV field is `null`; a quoted empty field (`""`) is the empty string.
 * In JSON Lines, `null` and a missing key are `null`, numbers and booleans are their JSON text, and nested
 * objects or arrays their JSON.
 */

/** A file that cannot be read as the table it claims to be. */
export class ParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    readonly column?: string,
    options?: { cause?: unknown },
  ) {
    super(`${file} line ${line}${column !== undefined ? `, column "${column}"` : ''}: ${detail}`, options);
    this.name = 'ParseError';
  }
}

export type TableFormat = 'csv' | 'jsonl';

export interface ReadOptions {
  readonly format: TableFormat;
  /** The file's name (an S3 key): used in error messages and, without `gzip`, to detect `.gz`. */
  readonly file: string;
  /** @default - true when `file` ends with `.gz` */
  readonly gzip?: boolean;
  /** Longest accepted line (record) in bytes. @default 1 MiB */
  readonly maxLineBytes?: number;
}

export type Value = string | null;

export interface TableRow {
  /** 1-based line of the file where the record starts (the CSV header is line 1). */
  readonly line: number;
  readonly values: Value[];
}

export interface Table {
  /** Column names: the CSV header, or the keys of the first JSON line. */
  readonly columns: string[];
  readonly rows: AsyncGenerator<TableRow>;
}

export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

/**
 * Reads rows as objects keyed by column. Streaming: one row at a time.
 */
export async function* readRows(input: Readable, opts: ReadOptions): AsyncGenerator<{ line: number; row: Record<string, Value> }> {
  const table = await openTable(input, opts);
  for await (const { line, values } of table.rows) {
    const row: Record<string, Value> = {};
    for (let i = 0; i < table.columns.length; i++) row[table.columns[i]] = values[i];
    yield { line, row };
  }
}

/**
 * Opens a table: reads up to the header (or the first JSON line) and returns the columns plus a
 * generator over the remaining rows as arrays aligned with `columns`.
 * A file with no header (empty) has `columns: []` and no rows.
 */
export async function openTable(input: Readable, opts: ReadOptions): Promise<Table> {
  const records = opts.format === 'csv' ? csvRecords(input, opts) : jsonlRecords(input, opts);
  const first = await records.next();
  if (first.done) return { columns: [], rows: empty() };
  const { line: headerLine, values: header, columns: jsonColumns } = first.value;
  let columns: string[];
  if (opts.format === 'csv') {
    columns = header.map((h) => (h ?? '').trim());
    const seen = new Set<string>();
    columns.forEach((c, i) => {
      if (c === '') throw new ParseError(opts.file, headerLine, `header field ${i + 1} is empty`);
      if (seen.has(c)) throw new ParseError(opts.file, headerLine, `header names column "${c}" twice`);
      seen.add(c);
    });
  } else {
    columns = jsonColumns!;
  }
  const file = opts.file;
  async function* rows(): AsyncGenerator<TableRow> {
    if (opts.format === 'jsonl') yield { line: headerLine, values: alignJson(first.value.object!, columns, file, headerLine, headerLine) };
    for await (const rec of records) {
      if (opts.format === 'csv') {
        if (rec.values.length !== columns.length) {
          throw new ParseError(file, rec.line, `ragged row: ${rec.values.length} fields, but the header (line ${headerLine}) has ${columns.length}`);
        }
        yield { line: rec.line, values: rec.values };
      } else {
        yield { line: rec.line, values: alignJson(rec.object!, columns, file, rec.line, headerLine) };
      }
    }
  }
  return { columns, rows: rows() };
}

async function* empty(): AsyncGenerator<TableRow> {}

interface RawRecord {
  line: number;
  values: Value[];
  columns?: string[];
  object?: Record<string, unknown>;
}

/** The decompressed byte stream, with stream errors (truncated gzip, S3 reset) surfacing in iteration. */
function byteStream(input: Readable, opts: ReadOptions): Readable {
  const gzip = opts.gzip ?? opts.file.endsWith('.gz');
  if (!gzip) return input;
  const gunzip = createGunzip();
  pipeline(input, gunzip, () => undefined);
  return gunzip;
}

function streamError(opts: ReadOptions, line: number, err: unknown): ParseError {
  const e = err as NodeJS.ErrnoException;
  const gzip = opts.gzip ?? opts.file.endsWith('.gz');
  const what = gzip && (e.code?.startsWith('Z_') || /unexpected end of file|incorrect header/i.test(e.message))
    ? `gzip stream is corrupt or truncated (${e.message})`
    : `read failed (${e.message})`;
  return new ParseError(opts.file, line, what, undefined, { cause: err });
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Field boundaries of the record being split (grown as needed). */
let fs = new Int32Array(64);
let fe = new Int32Array(64);
let ff = new Uint8Array(64);
const F_QUOTED = 1;
const F_ESCAPED = 2;
/** splitRecord results besides an end position. */
const INCOMPLETE = -1;
const INCOMPLETE_IN_QUOTES = -2;

interface Split {
  fields: number;
  /** Line ends inside quoted fields. */
  extraLines: number;
  /** Where the bad byte is, for errors. */
  errorField: number;
}
const split: Split = { fields: 0, extraLines: 0, errorField: 0 };

/**
 * Finds the fields of the record that starts at `p` (RFC 4180): returns the position after its line end,
 * INCOMPLETE / INCOMPLETE_IN_QUOTES when `buf` ends first (unless `eof`), or -3 for text after a closing quote.
 */
function splitRecord(buf: Buffer, p: number, eof: boolean): number {
  const n = buf.length;
  let nf = 0;
  let extra = 0;
  for (;;) {
    if (nf === fs.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      fs = grow(fs);
      fe = grow(fe);
      const f2 = new Uint8Array(ff.length * 2);
      f2.set(ff);
      ff = f2;
    }
    if (p < n && buf[p] === QUOTE) {
      let q = p + 1;
      let flags = F_QUOTED;
      for (;;) {
        const idx = buf.indexOf(QUOTE, q);
        if (idx < 0) return INCOMPLETE_IN_QUOTES;
        if (idx + 1 >= n && !eof) return INCOMPLETE_IN_QUOTES;
        if (idx + 1 < n && buf[idx + 1] === QUOTE) {
          flags = F_QUOTED | F_ESCAPED;
          q = idx + 2;
          continue;
        }
        q = idx;
        break;
      }
      for (let k = buf.indexOf(LF, p + 1); k >= 0 && k < q; k = buf.indexOf(LF, k + 1)) extra++;
      fs[nf] = p + 1;
      fe[nf] = q;
      ff[nf] = flags;
      nf++;
      p = q + 1;
      if (p < n && buf[p] === CR && (p + 1 >= n || buf[p + 1] === LF)) p++;
      if (p >= n) {
        if (eof) break;
        return INCOMPLETE;
      }
      const b = buf[p];
      if (b === COMMA) {
        p++;
        continue;
      }
      if (b === LF) {
        p++;
        break;
      }
      split.errorField = nf;
      split.extraLines = extra;
      return -3;
    }
    let q = p;
    while (q < n) {
      const c = buf[q];
      if (c === COMMA || c === LF) break;
      q++;
    }
    if (q >= n && !eof) return INCOMPLETE;
    fs[nf] = p;
    fe[nf] = q > p && buf[q - 1] === CR && (q < n || eof) ? q - 1 : q; // CRLF: the CR is not data
    ff[nf] = 0;
    nf++;
    if (q >= n) {
      p = q;
      break;
    }
    p = q + 1;
    if (buf[q] === LF) break;
  }
  split.fields = nf;
  split.extraLines = extra;
  return p;
}

/**
 * CSV records as arrays of values. Complete records are split where they lie in the chunk (a record cut by a
 * chunk boundary is carried over), each record is checked as UTF-8 natively, and ASCII values are cut as
 * one-byte strings, so that Ingest, Evaluate and VerifyServing read tens of MB/s, not a byte at a time.
 */
async function* csvRecords(input: Readable, opts: ReadOptions): AsyncGenerator<RawRecord> {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const file = opts.file;
  let carry: Buffer | undefined;
  let carryInQuotes = false;
  let line = 1; // line where the next record starts
  let started = false;

  /** The record [start, end) just split, as values; undefined for a blank line. */
  const values = (buf: Buffer, start: number, end: number, recordLine: number): Value[] | undefined => {
    if (end - start > maxLine) throw new ParseError(file, recordLine, `line is longer than ${maxLine} bytes`);
    const nf = split.fields;
    if (nf === 1 && fe[0] === fs[0] && ff[0] === 0) return undefined;
    const ascii = isAscii(buf.subarray(start, end));
    if (!ascii && !isUtf8(buf.subarray(start, end))) {
      for (let i = 0; i < nf; i++) {
        if (!isUtf8(buf.subarray(fs[i], fe[i]))) throw new ParseError(file, recordLine, `field ${i + 1} is not valid UTF-8`);
      }
      throw new ParseError(file, recordLine, 'not valid UTF-8');
    }
    const out: Value[] = new Array(nf);
    for (let i = 0; i < nf; i++) {
      const a = fs[i];
      const b = fe[i];
      if (a === b) {
        out[i] = ff[i] & F_QUOTED ? '' : null;
        continue;
      }
      const v = buf.toString(ascii ? 'latin1' : 'utf8', a, b);
      out[i] = ff[i] & F_ESCAPED ? v.replace(/""/g, '"') : v;
    }
    return out;
  };

  const src = byteStream(input, opts);
  try {
    for await (const raw of src as AsyncIterable<Buffer>) {
      let chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw) : raw;
      if (!started && chunk.length > 0) {
        started = true;
        // A UTF-8 BOM (Excel's CSV export) is not part of the first column's name.
        if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      }
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      let pos = 0;
      for (;;) {
        const next = splitRecord(buf, pos, false);
        if (next === -3) throw new ParseError(file, line + split.extraLines, `unexpected character after the closing quote of field ${split.errorField}`);
        if (next < 0) {
          carryInQuotes = next === INCOMPLETE_IN_QUOTES;
          break;
        }
        const recordLine = line;
        line += 1 + split.extraLines;
        const v = values(buf, pos, next, recordLine);
        pos = next;
        if (v) yield { line: recordLine, values: v };
      }
      carry = pos < buf.length ? Buffer.from(buf.subarray(pos)) : undefined;
      if (carry && carry.length > maxLine) {
        throw new ParseError(file, line, carryInQuotes
          ? `record is longer than ${maxLine} bytes: unbalanced quote (a quoted field opened here never closes)`
          : `line is longer than ${maxLine} bytes`);
      }
    }
  } catch (err) {
    if (err instanceof ParseError) throw err;
    throw streamError(opts, line, err);
  } finally {
    if (!src.destroyed) src.destroy();
    if (!input.destroyed) input.destroy();
  }
  if (carry) {
    let pos = 0;
    while (pos < carry.length) {
      const next = splitRecord(carry, pos, true);
      if (next === INCOMPLETE_IN_QUOTES) throw new ParseError(file, line, 'unbalanced quote: the quoted field never closes before the end of the file');
      if (next === -3) throw new ParseError(file, line + split.extraLines, `unexpected character after the closing quote of field ${split.errorField}`);
      const recordLine = line;
      line += 1 + split.extraLines;
      const v = values(carry, pos, next, recordLine);
      pos = next;
      if (v) yield { line: recordLine, values: v };
    }
  }
}

/** JSON Lines: each non-blank line must be a JSON object. */
async function* jsonlRecords(input: Readable, opts: ReadOptions): AsyncGenerator<RawRecord> {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const file = opts.file;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let line = 0;
  let first = true;
  const parse = (bytes: Buffer, lineNo: number): RawRecord | undefined => {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new ParseError(file, lineNo, 'not valid UTF-8');
    }
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.trim() === '') return undefined;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new ParseError(file, lineNo, `not valid JSON (${(err as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new ParseError(file, lineNo, `a JSON line must be an object, but got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
    }
    const o = obj as Record<string, unknown>;
    return { line: lineNo, values: [], columns: Object.keys(o), object: o };
  };
  const src = byteStream(input, opts);
  try {
    for await (const raw of src as AsyncIterable<Buffer>) {
      const chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw) : raw;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(LF, start);
        if (nl < 0) {
          pending.push(chunk.subarray(start));
          pendingLen += chunk.length - start;
          if (pendingLen > maxLine) throw new ParseError(file, line + 1, `line is longer than ${maxLine} bytes`);
          break;
        }
        line++;
        let bytes = chunk.subarray(start, nl);
        if (pendingLen > 0) {
          pending.push(bytes);
          bytes = Buffer.concat(pending, pendingLen + bytes.length);
          pending = [];
          pendingLen = 0;
        }
        if (bytes.length > maxLine) throw new ParseError(file, line, `line is longer than ${maxLine} bytes`);
        const rec = parse(bytes, line);
        if (rec) yield rec;
        start = nl + 1;
      }
    }
  } catch (err) {
    if (err instanceof ParseError) throw err;
    throw streamError(opts, line + 1, err);
  } finally {
    if (!src.destroyed) src.destroy();
    if (!input.destroyed) input.destroy();
  }
  if (pendingLen > 0) {
    const rec = parse(Buffer.concat(pending, pendingLen), line + 1);
    if (rec) yield rec;
  }
}

function alignJson(o: Record<string, unknown>, columns: string[], file: string, line: number, firstLine: number): Value[] {
  const values: Value[] = new Array(columns.length);
  let seen = 0;
  for (let i = 0; i < columns.length; i++) {
    const v = o[columns[i]];
    if (v !== undefined) seen++;
    values[i] = jsonValue(v);
  }
  if (seen !== Object.keys(o).length) {
    const extra = Object.keys(o).find((k) => !columns.includes(k));
    throw new ParseError(file, line, `key "${extra}" is not among the keys of the first line (line ${firstLine})`);
  }
  return values;
}

function jsonValue(v: unknown): Value {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** One CSV line (with its `\n`), quoting only the fields that need it; `null` is an empty field. */
export function writeCsvRow(values: Value[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null) continue;
    if (v === '' ) out += '""';
    else if (/[",\r\n]/.test(v) || v.charCodeAt(0) === 0xfeff) out += `"${v.replace(/"/g, '""')}"`;
    else out += v;
  }
  return out + '\n';
}
