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
  /**
   * Destroys the input stream. Iterating `rows` to its end, or leaving that loop by `break` or a throw, closes it
   * already; call this when the table is dropped without its rows being read (a header the caller refuses), or
   * the stream (an S3 GetObject body) stays open, unread, with its connection.
   */
  close(): Promise<void>;
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
  // Ends the records generator (its `finally` destroys the streams): on a refused header, or by the caller.
  const close = async (): Promise<void> => {
    await records.return(undefined);
    if (!input.destroyed) input.destroy();
  };
  let first: IteratorResult<RawRecord>;
  try {
    first = await records.next();
  } catch (err) {
    await close();
    throw err;
  }
  if (first.done) return { columns: [], rows: empty(), close };
  const { line: headerLine, values: header, columns: jsonColumns } = first.value;
  let columns: string[];
  if (opts.format === 'csv') {
    columns = header.map((h) => (h ?? '').trim());
    try {
      checkHeader(columns, opts.file, headerLine);
    } catch (err) {
      await close();
      throw err;
    }
  } else {
    columns = jsonColumns!;
  }
  const file = opts.file;
  const headerRecord = first.value;
  async function* rows(): AsyncGenerator<TableRow> {
    try {
      if (opts.format === 'jsonl') yield { line: headerLine, values: alignJson(headerRecord.object!, columns, file, headerLine, headerLine) };
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
    } finally {
      await close();
    }
  }
  return { columns, rows: rows(), close };
}

/** A CSV header: no empty name, no name twice. */
function checkHeader(columns: string[], file: string, line: number): void {
  const seen = new Map<string, number>();
  columns.forEach((c, i) => {
    if (c === '') throw new ParseError(file, line, `header field ${i + 1} is empty`);
    if (seen.has(c)) throw new ParseError(file, line, `header names column "${c}" twice (fields ${seen.get(c)! + 1} and ${i + 1})`);
    seen.set(c, i);
  });
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

/** Bytes looked at before the first record is read: enough to tell an encoding or line-end problem. */
export const SNIFF_BYTES = 4096;

/**
 * The stream's chunks, the first ones gathered up to SNIFF_BYTES and checked with `sniff` before anything is
 * parsed: a file in another encoding fails on line 1 with what it is, not with a misleading parse error.
 */
async function* sniffed(src: Readable, opts: ReadOptions): AsyncGenerator<Buffer> {
  const gzip = opts.gzip ?? opts.file.endsWith('.gz');
  const head: Buffer[] = [];
  let headLength = 0;
  let checked = false;
  for await (const raw of src as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (checked) {
      yield chunk;
      continue;
    }
    head.push(chunk);
    headLength += chunk.length;
    if (headLength < SNIFF_BYTES) continue;
    checked = true;
    const all = Buffer.concat(head, headLength);
    const problem = sniff(all, gzip, false);
    if (problem) throw new ParseError(opts.file, 1, problem);
    yield all;
  }
  if (!checked && headLength > 0) {
    const all = Buffer.concat(head, headLength);
    const problem = sniff(all, gzip, true);
    if (problem) throw new ParseError(opts.file, 1, problem);
    yield all;
  }
}

/**
 * What the first bytes of a file say about it when it is not text relearn reads (UTF-8, LF or CRLF line ends):
 * gzip bytes under a name without `.gz`, a UTF-16 or UTF-32 byte order mark (or UTF-16 without one), or line ends
 * that are a CR alone. Undefined when nothing is wrong. `whole`: `head` is the whole file.
 */
export function sniff(head: Buffer, gzip: boolean, whole: boolean): string | undefined {
  const b = head;
  if (!gzip && b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    return 'the file is gzip-compressed (it starts with the gzip bytes 1f 8b), but its name does not end with .gz: name it with .gz at the end, or decompress it';
  }
  const bom = (bytes: number[]) => bytes.every((x, i) => b[i] === x);
  const convert = (encoding: string, how: string) => `the file is ${encoding} text (${how}); relearn reads UTF-8: convert it, e.g. iconv -f ${encoding.replace(' ', '')} -t UTF-8`;
  if (bom([0x00, 0x00, 0xfe, 0xff])) return convert('UTF-32 BE', 'it starts with the byte order mark 00 00 FE FF');
  if (bom([0xff, 0xfe, 0x00, 0x00])) return convert('UTF-32 LE', 'it starts with the byte order mark FF FE 00 00');
  if (bom([0xff, 0xfe])) return convert('UTF-16 LE', 'it starts with the byte order mark FF FE');
  if (bom([0xfe, 0xff])) return convert('UTF-16 BE', 'it starts with the byte order mark FE FF');
  // UTF-16 without a byte order mark: text that is ASCII has a zero in every other byte.
  const pairs = Math.min(b.length >> 1, 32);
  if (pairs >= 4) {
    let evenZero = 0;
    let oddZero = 0;
    for (let i = 0; i < pairs; i++) {
      if (b[2 * i] === 0) evenZero++;
      if (b[2 * i + 1] === 0) oddZero++;
    }
    if (oddZero === pairs && evenZero === 0) return convert('UTF-16 LE', 'every other byte is zero; it has no byte order mark');
    if (evenZero === pairs && oddZero === 0) return convert('UTF-16 BE', 'every other byte is zero; it has no byte order mark');
  }
  const cr = b.indexOf(CR);
  // A CR that is not the file's very last byte, and no LF anywhere in the head: lines end with CR alone.
  if (cr >= 0 && b.indexOf(LF) < 0 && !(whole && cr === b.length - 1)) {
    return "lines end with a CR alone (classic Mac OS line ends); relearn reads LF or CRLF line ends: convert them, e.g. tr '\\r' '\\n' < in.csv > out.csv";
  }
  return undefined;
}

function streamError(opts: ReadOptions, line: number, err: unknown): ParseError {
  const e = err as NodeJS.ErrnoException;
  const gzip = opts.gzip ?? opts.file.endsWith('.gz');
  const what = gzip && /incorrect header check/i.test(e.message)
    ? `the file's name ends with .gz, but it is not gzip-compressed (${e.message}): name it without .gz, or compress it`
    : gzip && (e.code?.startsWith('Z_') || /unexpected end of file/i.test(e.message))
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
 * file) of the record that starts on `line`. An unbalanced quote is reported on the line where the quoted field
 * opens (where the mistake is), not where the runaway field happens to stop: `recordStart` (the record's first
 * byte in `buf`) lets it find that line for CSV_INCOMPLETE_IN_QUOTES.
 */
export function csvScanError(code: number, out: CsvFields, buf: Buffer, file: string, line: number, recordStart?: number): ParseError {
  if (code === CSV_AFTER_QUOTE) {
    const b = buf[out.errorPos];
    const closeLine = line + out.extraLines;
    const openQuote = out.start[out.errorField - 1] - 1;
    const spanned = countLf(buf, openQuote, out.errorPos);
    if (spanned > 0) {
      // A quoted field that ran over line ends and "closed" on a quote that opened something else: its opening
      // quote is the one that is missing its partner.
      const next = b >= 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"` : `byte 0x${b.toString(16).padStart(2, '0')}`;
      return new ParseError(
        file,
        closeLine - spanned,
        `unbalanced quote: the quoted field ${out.errorField} that opens on this line runs on to line ${closeLine}, where a quote is followed by ${next}; close it, or write a quote inside a quoted field as ""`,
      );
    }
    const what = b === CR ? 'a CR that is not part of a CRLF line end'
      : b >= 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"; a quote inside a quoted field is written ""`
      : `byte 0x${b.toString(16).padStart(2, '0')}`;
    return new ParseError(file, closeLine, `unexpected character after the closing quote of field ${out.errorField} (${what})`);
  }
  if (code === CSV_INCOMPLETE_IN_QUOTES) {
    const open = recordStart === undefined ? -1 : unclosedQuote(buf, recordStart, buf.length);
    return new ParseError(file, open < 0 ? line : line + countLf(buf, recordStart!, open), 'unbalanced quote: the quoted field never closes before the end of the file');
  }
  return new ParseError(file, line, `cannot split the record (code ${code})`);
}

function countLf(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let k = buf.indexOf(LF, from); k >= 0 && k < to; k = buf.indexOf(LF, k + 1)) n++;
  return n;
}

/** The opening quote of the quoted field that is still open at `n`, in the record starting at `p` (or -1). */
function unclosedQuote(buf: Buffer, p: number, n: number): number {
  while (p < n) {
    if (buf[p] === QUOTE) {
      let q = p + 1;
      for (;;) {
        const idx = buf.indexOf(QUOTE, q);
        if (idx < 0 || idx >= n) return p;
        if (idx + 1 < n && buf[idx + 1] === QUOTE) {
          q = idx + 2;
          continue;
        }
        q = idx + 1;
        break;
      }
      if (q >= n || buf[q] !== COMMA) return -1; // the record ends here (or is malformed: reported elsewhere)
      p = q + 1;
      continue;
    }
    while (p < n && buf[p] !== COMMA && buf[p] !== LF) p++;
    if (p >= n || buf[p] === LF) return -1;
    p++;
  }
  return -1;
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
    for await (const raw of sniffed(src, opts)) {
      let chunk: Buffer = raw;
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
        if (!carryInQuotes) throw new ParseError(file, line, `line is longer than ${maxLine} bytes`);
        const open = unclosedQuote(carry, 0, carry.length);
        throw new ParseError(file, open < 0 ? line : line + countLf(carry, 0, open), `record is longer than ${maxLine} bytes: unbalanced quote (a quoted field opened here never closes)`);
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
      if (next < 0) throw csvScanError(next, fields, carry, file, line, pos);
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
    for await (const chunk of sniffed(src, opts)) {
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
