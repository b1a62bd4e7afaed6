import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream';
import { DDSketch, DDSketchJson } from './ddsketch';
import { FrequentItems, FrequentJson } from './frequent';
import { fmix32, hashNumber, murmur3 } from './hash';
import { HyperLogLog } from './hll';
import { Moments, MomentsJson } from './moments';
import { earliest, FirstRows, FirstRowsJson, isBefore, RowLocation, valueKey } from './location';
import {
  CSV_INCOMPLETE,
  CSV_INCOMPLETE_IN_QUOTES,
  CSV_TOO_MANY_FIELDS,
  CsvFields,
  csvScanError,
  F_ESCAPED,
  F_QUOTED,
  ParseError,
  splitRecord,
  Value,
  writeCsvRow,
} from '../tabular';

/**
 * relearn's statistics engine: one streaming pass over a CSV file computes, per column, counts, missing
 * values, type consistency, numeric moments and a quantile sketch, a distinct-count sketch, frequent
 * values, text lengths and blank-text share; per dataset, rows, a duplicate-row estimate and the label's
 * class counts. Memory is bounded (a few KB of sketches per column plus the longest line), whatever the
 * file size, and the statistics of two shards merge into the statistics of both (`DatasetStats.merge`).
 *
 * The hot path scans bytes: it finds field boundaries with tabular's `splitRecord` (RFC 4180, the same
 * rules as every other CSV reader here) into arrays it reuses, parses numbers from bytes, and hashes the
 * UTF-8 bytes of values instead of building strings.
 */

export type ColumnKind = 'numeric' | 'categorical' | 'text';

/** What a shard needs to agree with every other shard: the columns and their kinds (inferred once). */
export interface StatsPlan {
  /**
   * `range`: the expected schema's [min, max] of a numeric column (curated or the champion's), so that the
   * scan can record the first row outside it.
   */
  readonly columns: readonly { readonly name: string; readonly kind: ColumnKind; readonly range?: { readonly min?: number; readonly max?: number } }[];
  /** Its class counts are tracked whatever its kind, and every feature is compared with it. */
  readonly labelColumn?: string;
}

export const HLL_PRECISION = 12;
export const ROW_HLL_PRECISION = 14;
export const QUANTILE_ALPHA = 0.01;
export const TOP_K_CAPACITY = 1024;
/** Distinct values whose first row is kept: the label's (its classes), and a categorical column's. */
export const LABEL_FIRSTS_CAPACITY = 1024;
export const CATEGORY_FIRSTS_CAPACITY = 256;
/** Offending values are kept this long in the examples. */
const EXAMPLE_CHARS = 80;

const MISSING_TOKENS = new Set(['na', 'n/a', 'null', 'none', '']);
const NUMERIC_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NAN_RE = /^[+-]?nan$/i;
const INF_RE = /^([+-]?)(inf|infinity)$/i;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

export class ColumnStats {
  /** Rows seen. */
  count = 0;
  /** Empty (or, for numeric columns, NA/null/None) values. */
  missing = 0;
  /** Present but blank text (`""` or only whitespace); not counted as missing. */
  blank = 0;
  /** Values that do not fit the column's kind (numeric columns only: text that is not a number). */
  typeErrors = 0;
  /** The first row (in the source) of each kind of offence, for messages that point at the user's data. */
  typeErrorExample?: RowLocation;
  nonFiniteExample?: RowLocation;
  missingExample?: RowLocation;
  /** Needs the plan's `range`. */
  outOfRangeExample?: RowLocation;
  /** The first row of each distinct value (categorical columns and the label). */
  firsts?: FirstRows;
  nan = 0;
  posInf = 0;
  negInf = 0;
  /** Rows where this value is byte-identical to the label's (label leakage check). */
  equalToLabel = 0;
  hll = new HyperLogLog(HLL_PRECISION);
  moments?: Moments;
  sketch?: DDSketch;
  freq?: FrequentItems;
  /** Byte length of present values (text columns). */
  length?: Moments;

  constructor(
    readonly name: string,
    readonly kind: ColumnKind,
    trackFrequencies = kind === 'categorical',
    firstsCapacity = 0,
  ) {
    if (kind === 'numeric') {
      this.moments = new Moments();
      this.sketch = new DDSketch(QUANTILE_ALPHA);
    } else if (kind === 'text') {
      this.length = new Moments();
    }
    if (trackFrequencies) this.freq = new FrequentItems(TOP_K_CAPACITY);
    if (firstsCapacity > 0) this.firsts = new FirstRows(firstsCapacity);
  }

  merge(o: ColumnStats): void {
    if (o.name !== this.name || o.kind !== this.kind) {
      throw new Error(`cannot merge statistics of column ${o.name} (${o.kind}) into ${this.name} (${this.kind})`);
    }
    this.count += o.count;
    this.missing += o.missing;
    this.blank += o.blank;
    this.typeErrors += o.typeErrors;
    // The earliest in the source, whatever order the shards merge in.
    this.typeErrorExample = earliest(this.typeErrorExample, o.typeErrorExample);
    this.nonFiniteExample = earliest(this.nonFiniteExample, o.nonFiniteExample);
    this.missingExample = earliest(this.missingExample, o.missingExample);
    this.outOfRangeExample = earliest(this.outOfRangeExample, o.outOfRangeExample);
    if (o.firsts) {
      if (this.firsts) this.firsts.merge(o.firsts);
      else this.firsts = FirstRows.fromJSON(o.firsts.toJSON());
    }
    this.nan += o.nan;
    this.posInf += o.posInf;
    this.negInf += o.negInf;
    this.equalToLabel += o.equalToLabel;
    this.hll.merge(o.hll);
    if (this.moments && o.moments) this.moments.merge(o.moments);
    if (this.sketch && o.sketch) this.sketch.merge(o.sketch);
    if (this.length && o.length) this.length.merge(o.length);
    if (o.freq) {
      if (this.freq) this.freq.merge(o.freq);
      else this.freq = FrequentItems.fromJSON(o.freq.toJSON());
    }
  }

  toJSON(): ColumnStatsJson {
    return {
      name: this.name,
      kind: this.kind,
      count: this.count,
      missing: this.missing,
      blank: this.blank,
      typeErrors: this.typeErrors,
      ...(this.typeErrorExample ? { typeErrorExample: this.typeErrorExample } : {}),
      ...(this.nonFiniteExample ? { nonFiniteExample: this.nonFiniteExample } : {}),
      ...(this.missingExample ? { missingExample: this.missingExample } : {}),
      ...(this.outOfRangeExample ? { outOfRangeExample: this.outOfRangeExample } : {}),
      nan: this.nan,
      posInf: this.posInf,
      negInf: this.negInf,
      equalToLabel: this.equalToLabel,
      hll: this.hll.toJSON(),
      ...(this.moments ? { moments: this.moments.toJSON() } : {}),
      ...(this.sketch ? { sketch: this.sketch.toJSON() } : {}),
      ...(this.length ? { length: this.length.toJSON() } : {}),
      ...(this.freq ? { freq: this.freq.toJSON() } : {}),
      ...(this.firsts ? { firsts: this.firsts.toJSON() } : {}),
    };
  }

  static fromJSON(j: ColumnStatsJson): ColumnStats {
    const c = new ColumnStats(j.name, j.kind, false);
    Object.assign(c, {
      count: j.count,
      missing: j.missing,
      blank: j.blank,
      typeErrors: j.typeErrors,
      typeErrorExample: j.typeErrorExample,
      nonFiniteExample: j.nonFiniteExample,
      missingExample: j.missingExample,
      outOfRangeExample: j.outOfRangeExample,
      nan: j.nan,
      posInf: j.posInf,
      negInf: j.negInf,
      equalToLabel: j.equalToLabel,
      hll: HyperLogLog.fromJSON(j.hll),
    });
    if (j.moments) c.moments = Moments.fromJSON(j.moments);
    if (j.sketch) c.sketch = DDSketch.fromJSON(j.sketch);
    if (j.length) c.length = Moments.fromJSON(j.length);
    if (j.freq) c.freq = FrequentItems.fromJSON(j.freq);
    if (j.firsts) c.firsts = FirstRows.fromJSON(j.firsts);
    return c;
  }
}

export interface ColumnStatsJson {
  name: string;
  kind: ColumnKind;
  count: number;
  missing: number;
  blank: number;
  typeErrors: number;
  typeErrorExample?: RowLocation;
  nonFiniteExample?: RowLocation;
  missingExample?: RowLocation;
  outOfRangeExample?: RowLocation;
  nan: number;
  posInf: number;
  negInf: number;
  equalToLabel: number;
  hll: { p: number; registers: string };
  moments?: MomentsJson;
  sketch?: DDSketchJson;
  length?: MomentsJson;
  freq?: FrequentJson;
  firsts?: FirstRowsJson;
}

export interface DatasetStatsJson {
  version: 1;
  rows: number;
  labelColumn?: string;
  rowHll: { p: number; registers: string };
  columns: ColumnStatsJson[];
}

export class DatasetStats {
  rows = 0;
  rowHll = new HyperLogLog(ROW_HLL_PRECISION);
  readonly columns: ColumnStats[];
  readonly labelColumn?: string;

  constructor(plan: StatsPlan) {
    this.labelColumn = plan.labelColumn;
    this.columns = plan.columns.map((c) => {
      const label = c.name === plan.labelColumn;
      const firsts = label ? LABEL_FIRSTS_CAPACITY : c.kind === 'categorical' ? CATEGORY_FIRSTS_CAPACITY : 0;
      return new ColumnStats(c.name, c.kind, c.kind === 'categorical' || label, firsts);
    });
  }

  column(name: string): ColumnStats | undefined {
    return this.columns.find((c) => c.name === name);
  }

  /** Estimated number of rows that repeat an earlier row (rows - distinct rows, HyperLogLog 0.8 %). */
  get duplicateRows(): number {
    return Math.max(0, this.rows - this.rowHll.estimate());
  }

  /** Adds `o` into this (columns are matched by name; both must come from the same plan). */
  merge(o: DatasetStats): this {
    if (o.columns.length !== this.columns.length) {
      throw new Error(`cannot merge statistics of ${o.columns.length} columns into ${this.columns.length} columns`);
    }
    this.rows += o.rows;
    this.rowHll.merge(o.rowHll);
    this.columns.forEach((c, i) => c.merge(o.columns[i]));
    return this;
  }

  toJSON(): DatasetStatsJson {
    return {
      version: 1,
      rows: this.rows,
      ...(this.labelColumn ? { labelColumn: this.labelColumn } : {}),
      rowHll: this.rowHll.toJSON(),
      columns: this.columns.map((c) => c.toJSON()),
    };
  }

  static fromJSON(j: DatasetStatsJson): DatasetStats {
    const s = new DatasetStats({ columns: [], labelColumn: j.labelColumn });
    s.rows = j.rows;
    s.rowHll = HyperLogLog.fromJSON(j.rowHll);
    s.columns.push(...j.columns.map((c) => ColumnStats.fromJSON(c)));
    return s;
  }

  /** A copy (merging mutates). */
  clone(): DatasetStats {
    return DatasetStats.fromJSON(this.toJSON());
  }
}

/** merge(a, b): the statistics of a + b (neither input changes). */
export function mergeStats(a: DatasetStats, b: DatasetStats): DatasetStats {
  return a.clone().merge(b);
}

const QUOTE = 0x22;
const LF = 0x0a;
const utf8 = new TextDecoder('utf-8');

export interface ScanOptions {
  /** Named in errors. */
  readonly file: string;
  /** @default 1 MiB */
  readonly maxLineBytes?: number;
  /**
   * Where data row `row` (0-based, header excluded) read at `line` of this file came from, for the examples.
   * @default - this file and the line
   */
  readonly locate?: (row: number, line: number) => RowLocation;
  /**
   * Rows before this one are in source order, so the first offence among them is the earliest; rows from it on
   * (the few the stratified split moved to the end of a part) are compared one by one. @default - all rows
   */
  readonly orderedRows?: number;
}

/**
 * Push-based CSV statistics scanner. `push` chunks of bytes (any size, split anywhere), then `end()`.
 * The file's first record is its header; it must name the plan's columns.
 */
export class CsvStatsScanner {
  readonly stats: DatasetStats;
  private readonly ncols: number;
  private readonly cols: ColumnStats[];
  private readonly kinds: Uint8Array;
  /** The current record's fields (capacity: the plan's columns; one more is a ragged row). */
  private readonly fields: CsvFields;
  private readonly fs: Int32Array;
  private readonly fe: Int32Array;
  private readonly ff: Uint8Array;
  private readonly hashes: Int32Array;
  private readonly labelIndex: number;
  private readonly maxLine: number;
  /** The plan's ranges per column (numeric columns; -Inf/+Inf when none). */
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly ordered: number;
  private readonly locate?: (row: number, line: number) => RowLocation;
  private carry: Buffer | undefined;
  private line = 0;
  private headerSeen = false;
  private started = false;
  private ended = false;
  private scratch = Buffer.allocUnsafe(1024);

  constructor(
    private readonly plan: StatsPlan,
    private readonly opts: ScanOptions,
  ) {
    this.stats = new DatasetStats(plan);
    this.cols = this.stats.columns;
    this.ncols = plan.columns.length;
    this.kinds = Uint8Array.from(plan.columns.map((c) => (c.kind === 'numeric' ? 0 : c.kind === 'categorical' ? 1 : 2)));
    this.fields = new CsvFields(Math.max(this.ncols, 1));
    this.fs = this.fields.start;
    this.fe = this.fields.end;
    this.ff = this.fields.flags;
    this.hashes = new Int32Array(this.ncols);
    this.labelIndex = plan.labelColumn ? plan.columns.findIndex((c) => c.name === plan.labelColumn) : -1;
    this.maxLine = opts.maxLineBytes ?? 1 << 20;
    this.lo = Float64Array.from(plan.columns.map((c) => c.range?.min ?? -Infinity));
    this.hi = Float64Array.from(plan.columns.map((c) => c.range?.max ?? Infinity));
    this.ordered = opts.orderedRows ?? Infinity;
    this.locate = opts.locate;
  }

  /** Where the current row (read at `line` of this file) comes from, with the value [s, e) of `b` if given. */
  private at(line: number, b?: Uint8Array, s = 0, e = 0): RowLocation {
    const loc = this.locate ? this.locate(this.stats.rows, line) : { file: this.opts.file, line };
    return b ? { file: loc.file, line: loc.line, value: utf8.decode(b.subarray(s, Math.min(e, s + EXAMPLE_CHARS))) } : loc;
  }

  /**
   * The earlier of `prev` and the current row. Rows in source order need no comparison: the first one kept
   * stays, which is why callers skip the call when `prev` is set and the row is below `ordered`.
   */
  private earlier(prev: RowLocation | undefined, line: number, b?: Uint8Array, s = 0, e = 0): RowLocation {
    const l = this.at(line, b, s, e);
    return prev === undefined || isBefore(l, prev) ? l : prev;
  }

  /** Counts a value in the column's frequent items and, for a new value (or a row out of order), its first row. */
  private frequent(col: ColumnStats, h: number, b: Buffer, s: number, e: number, line: number): void {
    const isNew = col.freq!.addBytes(h >>> 0, b, s, e);
    if (col.firsts && (isNew || this.stats.rows >= this.ordered)) {
      col.firsts.note(valueKey(h), () => utf8.decode(b.subarray(s, e)), () => this.at(line));
    }
  }

  push(chunk: Buffer): void {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    let pos = 0;
    if (this.carry) {
      // Finish the record that straddles the chunk boundary in a small buffer (the carried bytes plus this
      // chunk up to a line end), instead of copying the whole chunk behind the carry.
      let cut = chunk.indexOf(LF);
      for (;;) {
        if (cut < 0) {
          this.carry = Buffer.concat([this.carry, chunk]);
          this.checkLineLength(this.carry.length);
          return;
        }
        const tmp = Buffer.concat([this.carry, chunk.subarray(0, cut + 1)]);
        if (this.scan(tmp, 0, tmp.length, false) >= 0) {
          this.checkUtf8(tmp, tmp.length);
          this.record(tmp);
          pos = cut + 1;
          this.carry = undefined;
          break;
        }
        this.checkLineLength(tmp.length);
        cut = chunk.indexOf(LF, cut + 1);
      }
    }
    const n = chunk.length;
    this.checkUtf8(chunk.subarray(pos), chunk.lastIndexOf(LF) + 1 - pos);
    for (;;) {
      // splitRecord directly (not through scan): one call less per record on the hot path.
      const next = splitRecord(chunk, pos, n, false, this.fields);
      if (next < 0 && this.scanFailed(next, chunk, false) < 0) break;
      this.record(chunk);
      pos = next;
    }
    if (pos < n) {
      this.checkLineLength(n - pos);
      this.carry = Buffer.from(chunk.subarray(pos));
    }
  }

  /** Lines consumed so far (for errors that happen between records, e.g. a stream that breaks). */
  get linesRead(): number {
    return this.line;
  }

  private checkLineLength(bytes: number): void {
    if (bytes > this.maxLine) throw new ParseError(this.opts.file, this.line + 1, `record is longer than ${this.maxLine} bytes (an unbalanced quote?)`);
  }

  end(): DatasetStats {
    if (this.ended) return this.stats;
    this.ended = true;
    if (this.carry && this.carry.length > 0) {
      const buf = this.carry;
      this.carry = undefined;
      this.checkUtf8(buf, buf.length);
      let pos = 0;
      while (pos < buf.length) {
        pos = this.scan(buf, pos, buf.length, true);
        this.record(buf);
      }
    }
    for (const c of this.cols) c.count += this.stats.rows;
    return this.stats;
  }

  /** Validates the first `upTo` bytes of `buf` (whole lines) as UTF-8, natively; names the first bad line. */
  private checkUtf8(buf: Buffer, upTo: number): void {
    if (upTo <= 0 || isUtf8(buf.subarray(0, upTo))) return;
    let start = 0;
    let line = this.line;
    while (start < upTo) {
      const nl = buf.indexOf(LF, start);
      const stop = nl < 0 || nl >= upTo ? upTo : nl + 1;
      line++;
      if (!isUtf8(buf.subarray(start, stop))) throw new ParseError(this.opts.file, line, 'not valid UTF-8');
      start = stop;
    }
  }

  /** Finds the field boundaries of one record starting at `p`; returns the position after it, or -1 if incomplete. */
  private scan(buf: Buffer, p: number, n: number, eof: boolean): number {
    const next = splitRecord(buf, p, n, eof, this.fields);
    return next >= 0 ? next : this.scanFailed(next, buf, eof, p);
  }

  /** For a negative splitRecord result: -1 if the record is incomplete, else throws its ParseError. */
  private scanFailed(code: number, buf: Buffer, eof: boolean, recordStart?: number): number {
    const f = this.fields;
    if (code === CSV_INCOMPLETE || (code === CSV_INCOMPLETE_IN_QUOTES && !eof)) return -1;
    if (code === CSV_TOO_MANY_FIELDS) {
      // One more field than the header: a ragged row (or the header itself is wider).
      const max = this.ncols;
      if (!this.headerSeen) throw new ParseError(this.opts.file, this.line + 1, `header has more than the ${max} columns of the plan (${this.plan.columns.map((c) => c.name).join(', ')})`);
      throw new ParseError(this.opts.file, this.line + 1 + f.extraLines, `ragged row: more than the ${max} fields of the header`);
    }
    throw csvScanError(code, f, buf, this.opts.file, this.line + 1, recordStart);
  }

  /** Applies the record found by `scan` to the statistics. */
  private record(buf: Buffer): void {
    const nf = this.fields.count;
    const line = this.line + 1;
    this.line += 1 + this.fields.extraLines;
    if (nf === 1 && this.fe[0] === this.fs[0] && this.ff[0] === 0) return; // blank line
    if (!this.headerSeen) {
      this.header(buf, line);
      return;
    }
    if (nf !== this.ncols) throw new ParseError(this.opts.file, line, `ragged row: ${nf} fields, but the header has ${this.ncols}`);
    const cols = this.cols;
    const kinds = this.kinds;
    const hashes = this.hashes;
    const fs = this.fs;
    const fe = this.fe;
    const ff = this.ff;
    let rowHash = 0x811c9dc5;
    // (Column counts are added once per chunk of rows in end(): every row has every column.)
    for (let c = 0; c < nf; c++) {
      const col = cols[c];
      let b: Buffer = buf;
      let s = fs[c];
      let e = fe[c];
      const flags = ff[c];
      if (flags & F_ESCAPED) {
        e = this.unescape(buf, s, e);
        s = 0;
        b = this.scratch;
      }
      if (e === s) {
        hashes[c] = 0;
        if (flags & F_QUOTED && kinds[c] !== 0) col.blank++;
        else {
          col.missing++;
          if (col.missingExample === undefined || this.stats.rows >= this.ordered) col.missingExample = this.earlier(col.missingExample, line);
        }
        rowHash = Math.imul(rowHash ^ 0x9e3779b9, 0x01000193);
        continue;
      }
      if (kinds[c] === 0) {
        let x = fastNumber(b, s, e);
        if (x !== x) {
          const text = b.toString('latin1', s, e).trim();
          if (MISSING_TOKENS.has(text.toLowerCase())) {
            col.missing++;
            if (col.missingExample === undefined || this.stats.rows >= this.ordered) col.missingExample = this.earlier(col.missingExample, line, b, s, e);
            hashes[c] = 0;
            rowHash = Math.imul(rowHash ^ 0x9e3779b9, 0x01000193);
            continue;
          }
          if (NUMERIC_RE.test(text)) x = Number(text);
          else {
            // NaN, infinities and non-numbers: counted by kind, hashed by their bytes.
            const hb = murmur3(b, s, e) | 0;
            hashes[c] = hb;
            rowHash = Math.imul(rowHash ^ hb, 0x01000193);
            col.hll.add(hb >>> 0);
            if (col.freq) this.frequent(col, hb, b, s, e, line);
            const inf = INF_RE.exec(text);
            if (NAN_RE.test(text) || inf) {
              if (!inf) col.nan++;
              else if (inf[1] === '-') col.negInf++;
              else col.posInf++;
              if (col.nonFiniteExample === undefined || this.stats.rows >= this.ordered) col.nonFiniteExample = this.earlier(col.nonFiniteExample, line, b, s, e);
            } else {
              col.typeErrors++;
              if (col.typeErrorExample === undefined || this.stats.rows >= this.ordered) col.typeErrorExample = this.earlier(col.typeErrorExample, line, b, s, e);
            }
            continue;
          }
        }
        const h = hashNumber(x) | 0;
        hashes[c] = h;
        rowHash = Math.imul(rowHash ^ h, 0x01000193);
        col.hll.add(h >>> 0);
        col.moments!.add(x);
        col.sketch!.add(x);
        if ((x < this.lo[c] || x > this.hi[c]) && (col.outOfRangeExample === undefined || this.stats.rows >= this.ordered)) {
          col.outOfRangeExample = this.earlier(col.outOfRangeExample, line, b, s, e);
        }
        // Frequent values are keyed by their bytes everywhere (a shard's JSON is re-keyed from the text).
        if (col.freq) this.frequent(col, murmur3(b, s, e), b, s, e, line);
        continue;
      }
      const h = murmur3(b, s, e) | 0;
      hashes[c] = h;
      rowHash = Math.imul(rowHash ^ h, 0x01000193);
      col.hll.add(h >>> 0);
      if (col.length) col.length.add(e - s);
      if (b[s] <= 0x20 && isBlank(b, s, e)) col.blank++;
      if (col.freq) this.frequent(col, h, b, s, e, line);
    }
    const li = this.labelIndex;
    if (li >= 0) {
      const lh = hashes[li];
      if (lh !== 0) for (let c = 0; c < nf; c++) if (hashes[c] === lh && c !== li) cols[c].equalToLabel++;
    }
    this.stats.rows++;
    this.stats.rowHll.add(fmix32(rowHash));
  }

  private header(buf: Buffer, line: number): void {
    const names: string[] = [];
    for (let c = 0; c < this.fields.count; c++) {
      const s = this.fs[c];
      const e = this.ff[c] & F_ESCAPED ? this.unescape(buf, s, this.fe[c]) : this.fe[c];
      names.push(utf8.decode((this.ff[c] & F_ESCAPED ? this.scratch : buf).subarray(this.ff[c] & F_ESCAPED ? 0 : s, e)).trim());
    }
    const expected = this.plan.columns.map((c) => c.name);
    if (names.join('\u0000') !== expected.join('\u0000')) {
      throw new ParseError(this.opts.file, line, `header (${names.join(', ')}) does not match the columns the statistics were planned for (${expected.join(', ')})`);
    }
    this.headerSeen = true;
  }

  /** Copies a quoted field's bytes into `scratch`, turning each `""` into `"`; returns the length. */
  private unescape(buf: Buffer, s: number, e: number): number {
    if (this.scratch.length < e - s) this.scratch = Buffer.allocUnsafe(2 * (e - s));
    const out = this.scratch;
    let j = 0;
    for (let i = s; i < e; i++) {
      out[j++] = buf[i];
      if (buf[i] === QUOTE) i++;
    }
    return j;
  }
}

function isBlank(b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] > 0x20) return false;
  return true;
}

/** A plain decimal (sign, up to 15 digits, optional fraction) parsed from bytes; NaN means "use the slow path". */
function fastNumber(b: Buffer, s: number, e: number): number {
  let i = s;
  let neg = false;
  const c0 = b[i];
  if (c0 === 45) {
    neg = true;
    i++;
  } else if (c0 === 43) i++;
  let mant = 0;
  let digits = 0;
  let frac = 0;
  for (; i < e; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) break;
    mant = mant * 10 + d;
    digits++;
  }
  if (i < e && b[i] === 46) {
    for (i++; i < e; i++) {
      const d = b[i] - 48;
      if (d < 0 || d > 9) break;
      mant = mant * 10 + d;
      digits++;
      frac++;
    }
  }
  if (i !== e || digits === 0 || digits > 15) return NaN;
  // mant < 2^53 and 10^frac exact: one correctly rounded division, the same double as Number(text).
  const v = frac === 0 ? mant : mant / POW10[frac];
  return neg ? -v : v;
}

/** Statistics of one CSV stream (gunzipped when `gzip`). */
export async function statsOfCsv(input: Readable, plan: StatsPlan, opts: ScanOptions & { gzip?: boolean }): Promise<DatasetStats> {
  const scanner = new CsvStatsScanner(plan, opts);
  let src: Readable = input;
  if (opts.gzip ?? opts.file.endsWith('.gz')) {
    const gunzip = createGunzip();
    pipeline(input, gunzip, () => undefined);
    src = gunzip;
  }
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) scanner.push(chunk);
  } catch (err) {
    if (err instanceof ParseError) throw err;
    const gz = opts.gzip ?? opts.file.endsWith('.gz');
    const what = gz ? 'gzip stream is corrupt or truncated' : 'read failed';
    throw new ParseError(opts.file, scanner.linesRead + 1, `${what} (${(err as Error).message})`, undefined, { cause: err });
  }
  return scanner.end();
}

/** Statistics of rows already parsed (e.g. JSON Lines through tabular's reader): same engine, same hashes. */
export async function statsOfRows(columns: string[], rows: AsyncIterable<{ values: Value[] }> | Iterable<{ values: Value[] }>, plan: StatsPlan, file: string): Promise<DatasetStats> {
  const scanner = new CsvStatsScanner(plan, { file });
  scanner.push(Buffer.from(writeCsvRow(columns)));
  let batch: string[] = [];
  for await (const r of rows as AsyncIterable<{ values: Value[] }>) {
    batch.push(writeCsvRow(r.values));
    if (batch.length >= 1024) {
      scanner.push(Buffer.from(batch.join('')));
      batch = [];
    }
  }
  if (batch.length) scanner.push(Buffer.from(batch.join('')));
  return scanner.end();
}
