import { perClassMetric } from '../config/evaluation';
import { Estimate, GroupMetrics, MetricsEngine } from './engine';

/** The value a row without a slice value (empty/null) is reported under. */
export const MISSING = '(missing)';
/** Values beyond the most frequent MAX_VALUES_PER_COLUMN of a column are pooled under this one. */
export const OTHER = '(other)';
export const MAX_VALUES_PER_COLUMN = 50;

/** A column dictionary-encoded per row: `values[codes[i]]` is row i's value (-1: row not seen). */
export interface ColumnCodes {
  readonly column: string;
  readonly values: string[];
  readonly codes: Int32Array;
}

/**
 * Encodes one column's values for `n` rows as they stream in (row index -> value), keeping the most
 * frequent MAX_VALUES_PER_COLUMN values and pooling the rest as "(other)", so a high-cardinality
 * column cannot blow up the number of slices.
 */
export class ColumnEncoder {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly counts: number[] = [];
  private readonly codes: Int32Array;

  constructor(
    readonly column: string,
    n: number,
  ) {
    this.codes = new Int32Array(n).fill(-1);
  }

  set(row: number, value: string | null | undefined): void {
    const v = value === null || value === undefined || value === '' ? MISSING : value;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(v, id);
      this.names.push(v);
      this.counts.push(0);
    }
    this.counts[id]++;
    this.codes[row] = id;
  }

  finish(maxValues = MAX_VALUES_PER_COLUMN): ColumnCodes {
    const byCount = this.names.map((_, i) => i).sort((a, b) => this.counts[b] - this.counts[a] || (this.names[a] < this.names[b] ? -1 : 1));
    const remap = new Int32Array(this.names.length);
    const values: string[] = [];
    const overflow = byCount.length > maxValues;
    byCount.forEach((id, rank) => {
      if (rank < maxValues) {
        remap[id] = values.length;
        values.push(this.names[id]);
      } else {
        remap[id] = maxValues;
      }
    });
    if (overflow) values.push(OTHER);
    const codes = this.codes;
    for (let i = 0; i < codes.length; i++) if (codes[i] >= 0) codes[i] = remap[codes[i]];
    return { column: this.column, values, codes };
  }
}

/** Encodes a column from an in-memory array (tests, bench). */
export function encodeColumn(column: string, values: readonly (string | null)[]): ColumnCodes {
  const enc = new ColumnEncoder(column, values.length);
  values.forEach((v, i) => enc.set(i, v));
  return enc.finish();
}

export interface SliceMetrics extends GroupMetrics {
  /** `country=DE` or `country=DE & plan=pro` */
  readonly key: string;
  readonly columns: string[];
  readonly values: string[];
}

export interface SliceOptions {
  /** Also every pair of columns. */
  readonly crosses: boolean;
  /** Most slices returned: all single-column slices first, then the largest crosses. */
  readonly maxSlices: number;
  /** Multiclass: the per-class metrics (`recall:setosa`) to compute per slice (the gates' and the report's). */
  readonly perClass?: readonly string[];
  /** Multiclass: compute the one-vs-rest AUC per slice (2K sorted passes per grouping). @default true */
  readonly auc?: boolean;
}

/** Metrics per slice: each value of each column, and of each pair of columns when asked. Empty slices are left out. */
export function sliceMetrics(engine: MetricsEngine, columns: readonly ColumnCodes[], opts: SliceOptions): { slices: SliceMetrics[]; omitted: number } {
  const singles: SliceMetrics[] = [];
  const crosses: SliceMetrics[] = [];
  const groupOf = new Int32Array(engine.n);
  for (const col of columns) {
    const g = engine.groups(col.codes, col.values.length, { perClass: opts.perClass, auc: opts.auc });
    g.forEach((m, v) => {
      if (m.rows > 0) singles.push({ ...m, key: `${col.column}=${col.values[v]}`, columns: [col.column], values: [col.values[v]] });
    });
  }
  if (opts.crosses) {
    for (let a = 0; a < columns.length; a++) {
      for (let b = a + 1; b < columns.length; b++) {
        const A = columns[a];
        const B = columns[b];
        const kb = B.values.length;
        for (let i = 0; i < engine.n; i++) {
          const x = A.codes[i];
          const y = B.codes[i];
          groupOf[i] = x < 0 || y < 0 ? -1 : x * kb + y;
        }
        const g = engine.groups(groupOf, A.values.length * kb, { perClass: opts.perClass, auc: opts.auc });
        g.forEach((m, id) => {
          if (m.rows === 0) return;
          const va = A.values[Math.floor(id / kb)];
          const vb = B.values[id % kb];
          crosses.push({ ...m, key: `${A.column}=${va} & ${B.column}=${vb}`, columns: [A.column, B.column], values: [va, vb] });
        });
      }
    }
  }
  const all = singles.slice(0, opts.maxSlices);
  const room = opts.maxSlices - all.length;
  if (room > 0) all.push(...crosses.sort((x, y) => y.rows - x.rows).slice(0, room));
  return { slices: all, omitted: singles.length + crosses.length - all.length };
}

export interface BiasGroup {
  readonly value: string;
  readonly rows: number;
  readonly candidate: Estimate;
  readonly champion: Estimate | null;
}

export interface BiasResult {
  readonly column: string;
  readonly metric: string;
  readonly minRows: number;
  readonly groups: BiasGroup[];
  /** Largest minus smallest value among groups with at least minRows rows (null: fewer than two such groups). */
  readonly gap: { readonly candidate: number | null; readonly champion: number | null };
  /** The groups at the two ends of the candidate's gap. */
  readonly highest: string | null;
  readonly lowest: string | null;
}

/** For one group column: each metric per group and the gap between the best and the worst group. */
export function biasMetrics(engine: MetricsEngine, col: ColumnCodes, metrics: readonly string[], minRows: number): BiasResult[] {
  const groups = engine.groups(col.codes, col.values.length, { perClass: metrics.filter((m) => perClassMetric(m)) });
  return metrics.map((metric) => {
    const rows: BiasGroup[] = groups.map((g, v) => ({
      value: col.values[v],
      rows: g.rows,
      candidate: g.metrics[metric]?.candidate ?? { value: null, lo: null, hi: null },
      champion: g.metrics[metric]?.champion ?? null,
    }));
    const eligible = rows.filter((r) => r.rows >= minRows);
    const gapOf = (pick: (r: BiasGroup) => number | null | undefined) => {
      const vals = eligible.map(pick).filter((v): v is number => typeof v === 'number');
      return vals.length >= 2 ? Math.max(...vals) - Math.min(...vals) : null;
    };
    const withCandidate = eligible.filter((r) => r.candidate.value !== null);
    const sorted = [...withCandidate].sort((a, b) => b.candidate.value! - a.candidate.value!);
    return {
      column: col.column,
      metric,
      minRows,
      groups: rows,
      gap: { candidate: gapOf((r) => r.candidate.value), champion: engine.hasChampion ? gapOf((r) => r.champion?.value) : null },
      highest: sorted.length >= 2 ? sorted[0].value : null,
      lowest: sorted.length >= 2 ? sorted[sorted.length - 1].value : null,
    };
  });
}
