import { isAscii, isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

/**
 * Streaming readers for the tabular files relearn handles: CSV (RFC 4180: quoted fields, escaped quotes,
 * CRLF or LF, a UTF-8 BOM; split by `splitRecord`, which the statistics engine uses too) and JSON Lines,
 * either optionally gzipped. Memory is bounded by the longest line (capped by `maxLineBytes`), whatever the
 * file size. Every problem is a ParseError that names the file and the line (and the column where there is
 * one), raised as soon as the bad line is reached.
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

/** Field flags: the field was quoted; it contains `""` escapes (its bytes need unescaping). */
export const F_QUOTED = 1;
export const F_ESCAPED = 2;

// splitRecord results besides an end position (>= 0):
/** The buffer ends before the record does (never returned at `eof`). */
export const CSV_INCOMPLETE = -1;
/** The buffer ends inside a quoted field; at `eof` this is an unbalanced quote. */
export const CSV_INCOMPLETE_IN_QUOTES = -2;
/** A byte other than `,`, LF or CRLF follows a closing quote (field `errorField`, byte at `errorPos`). */
export const CSV_AFTER_QUOTE = -3;
/** The record has more fields than the arrays hold (`count` of them were found). */
export const CSV_TOO_MANY_FIELDS = -4;

/**
 * The field boundaries of one CSV record, written by `splitRecord` into arrays the caller owns (and reuses
 * record after record): field i is bytes [start[i], end[i]) of the buffer, without its quotes; `flags[i]`
 * holds F_QUOTED / F_ESCAPED. The capacity is the arrays' length.
 */
export class CsvFields {
  start: Int32Array;
  end: Int32Array;
  flags: Uint8Array;
  /** Fields found. */
  count = 0;
  /** Line ends inside quoted fields of the record (the next record starts `1 + extraLines` lines later). */
  extraLines = 0;
  /** For CSV_AFTER_QUOTE: the 1-based field whose closing quote is followed by `buf[errorPos]`. */
  errorField = 0;
  errorPos = 0;

  constructor(capacity: number) {
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** Doubles the capacity (the boundaries found so far are kept). */
  grow(): void {
    const n = this.start.length * 2;
    const s = new Int32Array(n);
    const e = new Int32Array(n);
    const f = new Uint8Array(n);
    s.set(this.start);
    e.set(this.end);
    f.set(this.flags);
    this.start = s;
    this.end = e;
    this.flags = f;
  }
}

/**
 * Finds the fields of the CSV record that starts at `buf[p]` (RFC 4180), looking no further than `buf[n - 1]`.
 * Returns the position after the record's line end, or a negative CSV_* code. Unless `eof`, a record that
 * may go on past `n` is CSV_INCOMPLETE(_IN_QUOTES): call again from the same `p` with more bytes.
 *
 * One behaviour for every reader (readRows/openTable and the statistics scanner):
 * - A line ends with LF or CRLF; a CR is part of the line end only right before LF, or as the file's very
 *   last byte. Anywhere else a CR is data in an unquoted field (`1\r,2` is "1\r" and "2"), and after a
 *   closing quote it is an error like any other byte (`"x"\r,2`): RFC 4180 has no bare-CR separator, and
 *   dropping it silently would change a value. (Go's encoding/csv does the same.)
 * - Inside quotes everything is data (commas, LF, CRLF); `""` is one quote. After the closing quote comes
 *   `,`, a line end or the end of the file, or CSV_AFTER_QUOTE.
 * - A quote inside an unquoted field (`5'10"`) is data, as are spaces around fields.
 * - The end of the file ends the last record (no line end needed); a quoted field still open there is
 *   CSV_INCOMPLETE_IN_QUOTES.
 * - A blank line is one empty unquoted field (callers skip it).
 */
export function splitRecord(buf: Buffer, p: number, n: number, eof: boolean, out: CsvFields): number {
  const fs = out.start;
  const fe = out.end;
  const ff = out.flags;
  const cap = fs.length;
  let nf = 0;
  let extra = 0;
  for (;;) {
    if (nf === cap) {
      out.count = nf;
      out.extraLines = extra;
      return CSV_TOO_MANY_FIELDS;
    }
    if (p < n && buf[p] === QUOTE) {
      let q = p + 1;
      let flags = F_QUOTED;
      for (;;) {
        const idx = buf.indexOf(QUOTE, q);
        if (idx < 0 || idx >= n) return CSV_INCOMPLETE_IN_QUOTES;
        if (idx + 1 >= n) {
          // `"` as the last byte seen: a closing quote, or the first of `""` in the next bytes.
          if (!eof) return CSV_INCOMPLETE_IN_QUOTES;
        } else if (buf[idx + 1] === QUOTE) {
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
      if (p >= n) {
        if (eof) break;
        return CSV_INCOMPLETE;
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
      if (b === CR) {
        if (p + 1 < n) {
          if (buf[p + 1] === LF) {
            p += 2;
            break;
          }
        } else if (eof) {
          p++;
          break;
        } else {
          return CSV_INCOMPLETE;
        }
      }
      out.count = nf;
      out.extraLines = extra;
      out.errorField = nf;
      out.errorPos = p;
      return CSV_AFTER_QUOTE;
    }
    let q = p;
    while (q < n) {
      const c = buf[q];
      if (c === COMMA || c === LF) break;
      q++;
    }
    if (q >= n && !eof) return CSV_INCOMPLETE;
    fs[nf] = p;
    // The CR of a CRLF, or the file's last byte, is not data.
    fe[nf] = q > p && buf[q - 1] === CR && (q >= n || buf[q] === LF) ? q - 1 : q;
    ff[nf] = 0;
    nf++;
    if (q >= n) {
      p = q;
      break;
    }
    p = q + 1;
    if (buf[q] === LF) break;
  }
  out.count = nf;
  out.extraLines = extra;
  return p;
}

/**
 * The ParseError for a splitRecord error code (CSV_AFTER_QUOTE, or CSV_INCOMPLETE_IN_QUOTES at the end of the
 * file) of the record that starts on `line`.
 */
export function csvScanError(code: number, out: CsvFields, buf: Buffer, file: string, line: number): ParseError {
  if (code === CSV_AFTER_QUOTE) {
    const b = buf[out.errorPos];
    const what = b === CR ? 'a CR that is not part of a CRLF line end'
      : b >= 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"; a quote inside a quoted field is written ""`
      : `byte 0x${b.toString(16).padStart(2, '0')}`;
    return new ParseError(file, line + out.extraLines, `unexpected character after the closing quote of field ${out.errorField} (${what})`);
  }
  if (code === CSV_INCOMPLETE_IN_QUOTES) return new ParseError(file, line, 'unbalanced quote: the quoted field never closes before the end of the file');
  return new ParseError(file, line, `cannot split the record (code ${code})`);
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
  const fields = new CsvFields(64);
  /** splitRecord, growing `fields` for wide records. */
  const split = (buf: Buffer, pos: number, eof: boolean): number => {
    for (;;) {
      const next = splitRecord(buf, pos, buf.length, eof, fields);
      if (next !== CSV_TOO_MANY_FIELDS) return next;
      fields.grow();
    }
  };

  /** The record [start, end) just split, as values; undefined for a blank line. */
  const values = (buf: Buffer, start: number, end: number, recordLine: number): Value[] | undefined => {
    if (end - start > maxLine) throw new ParseError(file, recordLine, `line is longer than ${maxLine} bytes`);
    const nf = fields.count;
    const fs = fields.start;
    const fe = fields.end;
    const ff = fields.flags;
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
        const next = split(buf, pos, false);
        if (next === CSV_AFTER_QUOTE) throw csvScanError(next, fields, buf, file, line);
        if (next < 0) {
          carryInQuotes = next === CSV_INCOMPLETE_IN_QUOTES;
          break;
        }
        const recordLine = line;
        line += 1 + fields.extraLines;
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
      const next = split(carry, pos, true);
      if (next < 0) throw csvScanError(next, fields, carry, file, line);
      const recordLine = line;
      line += 1 + fields.extraLines;
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
