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

/** CSV records as arrays of values, byte by byte (so a multi-byte character split across chunks is safe). */
async function* csvRecords(input: Readable, opts: ReadOptions): AsyncGenerator<RawRecord> {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const file = opts.file;
  let field = Buffer.allocUnsafe(256);
  let fieldLen = 0;
  let fieldQuoted = false;
  let inQuotes = false;
  let quotePending = false; // saw a quote inside a quoted field: closing, or the first half of ""
  let crPending = false;
  let values: Value[] = [];
  let recordBytes = 0;
  let line = 1; // physical line we are on
  let recordLine = 1; // line where the current record started
  let quoteLine = 1;
  let bomChecked = false;

  const push = (b: number) => {
    if (fieldLen === field.length) {
      const bigger = Buffer.allocUnsafe(field.length * 2);
      field.copy(bigger, 0, 0, fieldLen);
      field = bigger;
    }
    field[fieldLen++] = b;
  };
  const endField = () => {
    let v: Value;
    if (fieldLen === 0) v = fieldQuoted ? '' : null;
    else {
      try {
        v = utf8.decode(field.subarray(0, fieldLen));
      } catch {
        throw new ParseError(file, recordLine, `field ${values.length + 1} is not valid UTF-8`);
      }
    }
    values.push(v);
    fieldLen = 0;
    fieldQuoted = false;
  };
  const endRecord = (): RawRecord | undefined => {
    endField();
    const rec = values;
    values = [];
    recordBytes = 0;
    const startedAt = recordLine;
    recordLine = line;
    // A blank line is not a record.
    if (rec.length === 1 && rec[0] === null) return undefined;
    return { line: startedAt, values: rec };
  };

  const src = byteStream(input, opts);
  try {
    for await (const raw of src as AsyncIterable<Buffer>) {
      let chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw) : raw;
      if (!bomChecked && chunk.length > 0) {
        // A UTF-8 BOM (Excel's CSV export) is not part of the first column's name.
        if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
        bomChecked = true;
      }
      const n = chunk.length;
      for (let i = 0; i < n; i++) {
        const b = chunk[i];
        if (++recordBytes > maxLine) {
          throw new ParseError(file, recordLine, inQuotes
            ? `record is longer than ${maxLine} bytes: unbalanced quote (the quoted field opened on line ${quoteLine} never closes)`
            : `line is longer than ${maxLine} bytes`);
        }
        if (inQuotes) {
          if (quotePending) {
            quotePending = false;
            if (b === QUOTE) {
              push(QUOTE);
              continue;
            }
            inQuotes = false; // the quote closed the field; fall through to handle b outside quotes
          } else if (b === QUOTE) {
            quotePending = true;
            continue;
          } else {
            if (b === LF) line++;
            push(b);
            continue;
          }
        }
        if (crPending) {
          crPending = false;
          if (b !== LF) {
            // a bare CR ends the record too (old Mac files)
            line++;
            const rec = endRecord();
            if (rec) yield rec;
          }
        }
        if (b === COMMA) {
          endField();
        } else if (b === LF) {
          line++;
          const rec = endRecord();
          if (rec) yield rec;
        } else if (b === CR) {
          crPending = true;
        } else if (b === QUOTE) {
          if (fieldLen === 0 && !fieldQuoted) {
            inQuotes = true;
            fieldQuoted = true;
            quoteLine = line;
          } else if (fieldQuoted) {
            throw new ParseError(file, line, `unexpected quote after the closing quote of field ${values.length + 1}`);
          } else {
            push(b); // a quote inside an unquoted field is kept as text (as most writers expect)
          }
        } else {
          if (fieldQuoted) throw new ParseError(file, line, `unexpected character after the closing quote of field ${values.length + 1}`);
          push(b);
        }
      }
    }
  } catch (err) {
    if (err instanceof ParseError) throw err;
    throw streamError(opts, line, err);
  } finally {
    if (!src.destroyed) src.destroy();
    if (!input.destroyed) input.destroy();
  }
  if (inQuotes && !quotePending) throw new ParseError(file, quoteLine, 'unbalanced quote: the quoted field never closes before the end of the file');
  if (fieldLen > 0 || values.length > 0 || fieldQuoted || quotePending) {
    const rec = endRecord();
    if (rec) yield rec;
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
