import { hashString } from './hash';

/**
 * Where a row was read: the user's source object and its line when Ingest's line map is known (ShardStatistics
 * reads it), else the dataset part and its line. `value` is the offending value, cut to 80 characters.
 */
export interface RowLocation {
  readonly file: string;
  readonly line: number;
  readonly value?: string;
}

/** True when `a` comes before `b` in the source: by object key (Ingest reads objects in key order), then line. */
export function isBefore(a: RowLocation, b: RowLocation): boolean {
  return a.file < b.file || (a.file === b.file && a.line < b.line);
}

/** The earlier of two locations (either may be absent): the merge of two "first offending row" records. */
export function earliest(a: RowLocation | undefined, b: RowLocation | undefined): RowLocation | undefined {
  if (!a) return b;
  if (!b) return a;
  return isBefore(b, a) ? b : a;
}

/** `file line N` as messages print it. */
export function where(l: RowLocation): string {
  return `${l.file} line ${l.line}`;
}

/** Map keys: the low 30 bits of the value's hash, as FrequentItems keys its items. */
export const valueKey = (hash: number) => hash & 0x3fffffff;

/**
 * The first row of each distinct value of a column (categorical columns and the label), for the earliest
 * `capacity` distinct values: enough to locate the first unexpected category or class, since at most the
 * schema's domain (or the expected classes) can come before it. Merge keeps, per value, the earlier row, and
 * then the `capacity` earliest values: commutative and associative, so shards merge in any order.
 */
export class FirstRows {
  readonly rows = new Map<number, { value: string; at: RowLocation }>();

  constructor(readonly capacity: number) {}

  get full(): boolean {
    return this.rows.size >= this.capacity;
  }

  /** Records `at` for the value under `key` when the value is new (and there is room) or `at` is earlier. */
  note(key: number, value: () => string, at: () => RowLocation): void {
    const e = this.rows.get(key);
    if (e) {
      const l = at();
      if (isBefore(l, e.at)) e.at = l;
    } else if (this.rows.size < this.capacity) {
      this.rows.set(key, { value: value(), at: at() });
    }
  }

  /** The first row of `value`, if recorded. */
  of(value: string): RowLocation | undefined {
    return this.rows.get(valueKey(hashString(value)))?.at;
  }

  merge(o: FirstRows): void {
    for (const [k, e] of o.rows) {
      const mine = this.rows.get(k);
      if (!mine) this.rows.set(k, { value: e.value, at: e.at });
      else if (isBefore(e.at, mine.at)) mine.at = e.at;
    }
    if (this.rows.size > this.capacity) {
      const keep = [...this.rows.entries()].sort((x, y) => (isBefore(x[1].at, y[1].at) ? -1 : isBefore(y[1].at, x[1].at) ? 1 : x[0] - y[0])).slice(0, this.capacity);
      this.rows.clear();
      for (const [k, e] of keep) this.rows.set(k, e);
    }
  }

  /** In source order (a canonical form: equal contents give equal JSON, whatever the merge order). */
  toJSON(): FirstRowsJson {
    const rows = [...this.rows.values()].sort((x, y) => (isBefore(x.at, y.at) ? -1 : isBefore(y.at, x.at) ? 1 : x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
    return { capacity: this.capacity, rows: rows.map((e) => [e.value, e.at.file, e.at.line]) };
  }

  static fromJSON(j: FirstRowsJson): FirstRows {
    const f = new FirstRows(j.capacity);
    for (const [value, file, line] of j.rows) f.rows.set(valueKey(hashString(value)), { value, at: { file, line } });
    return f;
  }
}

export interface FirstRowsJson {
  capacity: number;
  rows: [string, string, number][];
}
