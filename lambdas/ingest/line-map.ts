import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { RowLocation } from '../shared/stats/location';

/**
 * The line map of one dataset part: for each of its rows, the source object and the line it was read from,
 * so that a message about a value can point at the user's file (`incoming/x.csv line 1234`), not at the part.
 *
 * Stored next to the dataset, outside the split folders the training job and Evaluate read
 * (`datasets/<id>/lines/<split>/part-NNNNN.json`, see `lineMapKey`), as JSON:
 *
 *   { "version": 1, "part": "<part key>", "rows": n, "ordered": k,
 *     "objects": ["incoming/a.csv", ...], "segments": [[firstRow, objectIndex], ...],
 *     "lines": "<base64 of raw DEFLATE of one varint per row>" }
 *
 * A segment is a run of rows from one object. Each row's varint is the zigzag-encoded difference between its
 * line and the previous row's line in the segment (the first row of a segment: its line itself). Rows of one
 * split arrive in source order, so the differences are small positive numbers (1 per row for a dense run of
 * single-line records; a few more where the other split took rows) and compress to well under a byte per row
 * (measured in bench/ingest.ts). Rows `ordered` and beyond are the rows the stratified split moved to this part
 * at the end of Ingest: out of source order.
 */
export interface LineMapJson {
  version: 1;
  part: string;
  rows: number;
  ordered: number;
  objects: string[];
  segments: [number, number][];
  lines: string;
}

/** Where a part's line map lives: `datasets/<id>/train/part-00000.csv` -> `datasets/<id>/lines/train/part-00000.json`. */
export function lineMapKey(partKey: string): string {
  const m = /^(.*\/)(train|validation)\/([^/]+)\.csv$/.exec(partKey);
  if (!m) throw new Error(`not a dataset part key: ${partKey}`);
  return `${m[1]}lines/${m[2]}/${m[3]}.json`;
}

/** Appends rows (object, line) and encodes them; also the form a map is decoded into for editing. */
export class LineMap {
  private objectIndex = new Map<string, number>();
  readonly objects: string[] = [];
  /** Per row: index into `objects`, and line. */
  private obj = new Uint32Array(1024);
  private line = new Float64Array(1024);
  rows = 0;
  /** Rows before this one are in source order. */
  ordered = Infinity;

  add(object: string, line: number): void {
    let o = this.objectIndex.get(object);
    if (o === undefined) {
      o = this.objects.length;
      this.objects.push(object);
      this.objectIndex.set(object, o);
    }
    if (this.rows === this.obj.length) {
      const obj = new Uint32Array(this.rows * 2);
      const line = new Float64Array(this.rows * 2);
      obj.set(this.obj);
      line.set(this.line);
      this.obj = obj;
      this.line = line;
    }
    this.obj[this.rows] = o;
    this.line[this.rows] = line;
    this.rows++;
  }

  /** Where row `row` was read. */
  at(row: number): RowLocation | undefined {
    if (row < 0 || row >= this.rows) return undefined;
    return { file: this.objects[this.obj[row]], line: this.line[row] };
  }

  /** Drops the given rows (indexes), keeping the others in order. */
  remove(rows: readonly number[]): void {
    const drop = new Set(rows);
    let w = 0;
    for (let r = 0; r < this.rows; r++) {
      if (drop.has(r)) continue;
      this.obj[w] = this.obj[r];
      this.line[w] = this.line[r];
      w++;
    }
    const removedBeforeOrdered = rows.filter((r) => r < this.ordered).length;
    if (this.ordered !== Infinity) this.ordered -= removedBeforeOrdered;
    this.rows = w;
  }

  toJSON(part: string): LineMapJson {
    const segments: [number, number][] = [];
    const bytes = Buffer.allocUnsafe(this.rows * 10 + 16);
    let n = 0;
    let prev = 0;
    for (let r = 0; r < this.rows; r++) {
      if (r === 0 || this.obj[r] !== this.obj[r - 1] || r === this.ordered) {
        segments.push([r, this.obj[r]]);
        prev = 0;
      }
      const d = this.line[r] - prev;
      prev = this.line[r];
      // zigzag (d may be negative among moved rows), then LEB128 varint; lines stay far below 2^52.
      let z = d >= 0 ? 2 * d : -2 * d - 1;
      while (z >= 0x80) {
        bytes[n++] = (z % 0x80) | 0x80;
        z = Math.floor(z / 0x80);
      }
      bytes[n++] = z;
    }
    return {
      version: 1,
      part,
      rows: this.rows,
      ordered: Math.min(this.ordered, this.rows),
      objects: this.objects,
      segments,
      lines: deflateRawSync(bytes.subarray(0, n)).toString('base64'),
    };
  }

  static fromJSON(j: LineMapJson): LineMap {
    if (j.version !== 1) throw new Error(`line map of ${j.part}: version ${String(j.version)} is not supported`);
    const m = new LineMap();
    const bytes = inflateRawSync(Buffer.from(j.lines, 'base64'));
    let p = 0;
    let seg = 0;
    let prev = 0;
    for (let r = 0; r < j.rows; r++) {
      if (seg < j.segments.length && j.segments[seg][0] === r) {
        prev = 0;
        seg++;
      }
      let z = 0;
      let scale = 1;
      for (;;) {
        const b = bytes[p++];
        if (b === undefined) throw new Error(`line map of ${j.part} ends at row ${r} of ${j.rows}`);
        z += (b & 0x7f) * scale;
        if (b < 0x80) break;
        scale *= 0x80;
      }
      const d = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      prev += d;
      m.add(j.objects[j.segments[seg - 1][1]], prev);
    }
    m.ordered = j.ordered;
    return m;
  }
}
