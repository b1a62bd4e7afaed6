/** Types and helpers shared by the binary, multiclass and regression metrics. */

/** A value with its confidence interval; value null = not computable on these rows (note says why). */
export interface Estimate {
  readonly value: number | null;
  readonly lo: number | null;
  readonly hi: number | null;
}

export interface MetricComparison {
  readonly candidate: Estimate;
  readonly champion: Estimate | null;
  /** candidate - champion, with the paired interval (lo/hi null when no interval is available). */
  readonly diff: Estimate | null;
  readonly note?: string;
}

export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

export interface GroupMetrics {
  readonly rows: number;
  /** Binary classification: rows whose label is 1. */
  readonly positives: number | null;
  readonly metrics: Record<string, MetricComparison>;
  /** Binary classification: the confusion counts at the threshold. */
  readonly confusion: { readonly candidate: Confusion; readonly champion: Confusion | null } | null;
  /** Multiclass: rows of each class, in the order of the classes. */
  readonly support?: number[];
  /** Multiclass, overall: the K x K confusion matrix, `[actual][predicted]` (predicted = the most probable class). */
  readonly matrix?: { readonly candidate: number[][]; readonly champion: number[][] | null };
}

export interface CurvePoint {
  readonly x: number;
  readonly y: number;
}
export interface CalibrationBin {
  readonly lo: number;
  readonly hi: number;
  readonly rows: number;
  readonly meanScore: number | null;
  readonly positiveRate: number | null;
  readonly positiveRateLo: number | null;
  readonly positiveRateHi: number | null;
}
export interface ModelCurves {
  /** x = false positive rate, y = true positive rate */
  readonly roc: CurvePoint[];
  /** x = recall, y = precision */
  readonly pr: CurvePoint[];
  readonly calibration: CalibrationBin[];
}
export interface Curves {
  readonly candidate: ModelCurves;
  readonly champion: ModelCurves | null;
}
/** Multiclass: one-vs-rest ROC curves, one per class (x = false positive rate, y = true positive rate). */
export interface ClassCurves {
  readonly classes: string[];
  readonly candidate: CurvePoint[][];
  readonly champion: CurvePoint[][] | null;
}
export interface RegressionPlot {
  /** A deterministic sample of (label, prediction) points. */
  readonly candidate: CurvePoint[];
  readonly champion: CurvePoint[] | null;
}

export function est(value: number | null, lo: number | null, hi: number | null): Estimate {
  return { value, lo, hi };
}

/** A metric that cannot be computed on these rows, for both models, with the reason. */
export function notComputable(champ: boolean, note: string): MetricComparison {
  return { candidate: est(null, null, null), champion: champ ? est(null, null, null) : null, diff: champ ? est(null, null, null) : null, note };
}

/**
 * Row indices by descending score (ties by ascending row index), and where a new score starts (ties share a
 * block). Scores are sorted once per model and class, so this is on the hot path: above a few thousand rows
 * it is a stable LSD radix sort on the scores' bits (about 10x faster than a comparator sort at 1M rows).
 */
export function sortDescending(s: Float64Array, from = 0, stride = 1): { order: Uint32Array; newBlock: Uint8Array } {
  const n = stride === 1 ? s.length - from : Math.floor((s.length - from + stride - 1) / stride);
  const at = (i: number) => s[from + i * stride];
  const newBlock = new Uint8Array(n);
  if (n) newBlock[0] = 1;
  if (n >= RADIX_MIN_ROWS) {
    // the radix sort leaves the keys in sorted order: equal keys are equal scores (no random reads of s)
    const { order, hi, lo } = radixOrderDescending(s, from, stride, n);
    for (let k = 1; k < n; k++) newBlock[k] = hi[k] !== hi[k - 1] || lo[k] !== lo[k - 1] ? 1 : 0;
    return { order, newBlock };
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => at(j) - at(i) || i - j);
  for (let k = 1; k < n; k++) newBlock[k] = at(order[k]) !== at(order[k - 1]) ? 1 : 0;
  return { order, newBlock };
}

const RADIX_MIN_ROWS = 4096;

/**
 * Stable LSD radix argsort, descending, over the IEEE-754 bits of `n` scores (`s[from + i*stride]`), 16 bits
 * per pass; a pass whose digit is the same for every row is skipped. The bits are mapped so that unsigned
 * order is descending numeric order (-0 counts as +0); NaN must not occur (the callers reject it).
 */
function radixOrderDescending(s: Float64Array, from: number, stride: number, n: number): { order: Uint32Array; hi: Uint32Array; lo: Uint32Array } {
  const bits = new Uint32Array(s.buffer, s.byteOffset, s.length * 2); // little-endian: [lo, hi] per double
  let hi = new Uint32Array(n);
  let lo = new Uint32Array(n);
  let idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const j = (from + i * stride) * 2;
    let l = bits[j];
    let h = bits[j + 1];
    if (h === 0x80000000 && l === 0) h = 0; // -0 -> +0
    if (h & 0x80000000) {
      // negative: larger magnitude is smaller, so the raw bits already sort descending
      hi[i] = h;
      lo[i] = l;
    } else {
      hi[i] = ~h & 0x7fffffff;
      lo[i] = ~l >>> 0;
    }
    idx[i] = i;
  }
  const counts = new Uint32Array(4 * 65536);
  for (let i = 0; i < n; i++) {
    counts[lo[i] & 0xffff]++;
    counts[65536 + (lo[i] >>> 16)]++;
    counts[131072 + (hi[i] & 0xffff)]++;
    counts[196608 + (hi[i] >>> 16)]++;
  }
  let hi2 = new Uint32Array(n);
  let lo2 = new Uint32Array(n);
  let idx2 = new Uint32Array(n);
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 65536;
    const c = counts.subarray(base, base + 65536);
    const digit0 = pass < 2 ? lo[0] : hi[0];
    if (c[pass & 1 ? digit0 >>> 16 : digit0 & 0xffff] === n) continue; // one digit value everywhere
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const v = c[d];
      c[d] = sum;
      sum += v;
    }
    const key = pass < 2 ? lo : hi;
    const shift = pass & 1 ? 16 : 0;
    for (let i = 0; i < n; i++) {
      const d = (key[i] >>> shift) & 0xffff;
      const to = c[d]++;
      hi2[to] = hi[i];
      lo2[to] = lo[i];
      idx2[to] = idx[i];
    }
    [hi, hi2] = [hi2, hi];
    [lo, lo2] = [lo2, lo];
    [idx, idx2] = [idx2, idx];
  }
  return { order: idx, hi, lo };
}

/**
 * One pass over a model's descending score order with per-group counters: each row's placement, the Mann-Whitney
 * component behind every AUC (a positive row: the negative rows of its group scored lower; a negative row: the
 * positive rows of its group scored higher; ties count one half), written by row. `gs[j]` is the group of the j-th
 * row in that order (-1: none), `pos[j]` whether it is positive, `negTot[g]` the negatives of group g. With `ap`,
 * average precision's sum per group is accumulated too, at `ap.acc[g * ap.stride + ap.offset]`.
 */
export function groupPlacements(
  order: Uint32Array, newBlock: Uint8Array, pos: Uint8Array, gs: Int32Array, negTot: Float64Array, G: number,
  place: Float32Array | Float64Array, ap?: { readonly acc: Float64Array; readonly stride: number; readonly offset: number },
): void {
  const n = order.length;
  const posSeen = new Float64Array(G);
  const negSeen = new Float64Array(G);
  const bPos = new Float64Array(G);
  const bNeg = new Float64Array(G);
  const touched = new Int32Array(G);
  const acc = ap?.acc;
  const stride = ap?.stride ?? 0;
  const offset = ap?.offset ?? 0;
  let k = 0;
  while (k < n) {
    let e = k + 1;
    while (e < n && newBlock[e] === 0) e++;
    if (e === k + 1) {
      // a score no other row shares: the common case
      const g = gs[k];
      if (g >= 0) {
        if (pos[k]) {
          place[order[k]] = negTot[g] - negSeen[g];
          const tp = ++posSeen[g];
          if (acc) acc[g * stride + offset] += tp / (tp + negSeen[g]);
        } else {
          place[order[k]] = posSeen[g];
          negSeen[g]++;
        }
      }
    } else {
      let touchedCount = 0;
      for (let j = k; j < e; j++) {
        const g = gs[j];
        if (g < 0) continue;
        if (bPos[g] === 0 && bNeg[g] === 0) touched[touchedCount++] = g;
        if (pos[j]) bPos[g]++;
        else bNeg[g]++;
      }
      for (let j = k; j < e; j++) {
        const g = gs[j];
        if (g < 0) continue;
        // ties count one half
        place[order[j]] = pos[j] ? negTot[g] - negSeen[g] - 0.5 * bNeg[g] : posSeen[g] + 0.5 * bPos[g];
      }
      for (let t = 0; t < touchedCount; t++) {
        const g = touched[t];
        const bp = bPos[g];
        posSeen[g] += bp;
        negSeen[g] += bNeg[g];
        if (acc && bp > 0) acc[g * stride + offset] += (bp * posSeen[g]) / (posSeen[g] + negSeen[g]);
        bPos[g] = 0;
        bNeg[g] = 0;
      }
    }
    k = e;
  }
}

/** Keeps at most `max` points of a curve, always the first and the last. */
export function thin(points: CurvePoint[], max: number): CurvePoint[] {
  if (points.length <= max) return points.map((p) => ({ x: round4(p.x), y: round4(p.y) }));
  const out: CurvePoint[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let k = 0; k < max; k++) {
    const p = points[Math.round(k * step)];
    out.push({ x: round4(p.x), y: round4(p.y) });
  }
  return out;
}
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
