import type { ProblemType } from '../config/evaluation';
import { CalibrationBin, ClassCurves, Confusion, CurvePoint, Curves, Estimate, est, GroupMetrics, groupPlacements, MetricComparison, ModelCurves, notComputable, RegressionPlot, sortDescending, thin } from './common';
import { GroupOptions, MulticlassMetrics } from './multiclass';
import { normalInterval, wilson, zFor } from './stats';

export * from './common';
export type { GroupOptions } from './multiclass';
export type { ProblemType };

/**
 * The metrics engine: every metric of relearn is computed here, for the candidate and the champion on
 * the same rows, overall or for many groups (slices) at once.
 *
 * How it stays fast on millions of rows and thousands of slices:
 * - scores are sorted once per model; ROC AUC (ties count one half) and average precision of every group
 *   come out of one pass over that order with per-group counters, with no per-slice sort;
 * - threshold metrics need only 8 counts per group (label x candidate says yes x champion says yes),
 *   from which the values and their paired variances follow exactly;
 * - confidence intervals are analytic: Wilson for proportions, DeLong for AUC (and the paired DeLong
 *   variance of the AUC difference), the logit interval for average precision, and the first-order
 *   (linearised) variance of a ratio of sums for F1, log loss, Brier and the paired differences.
 * Multiclass metrics are computed by MulticlassMetrics (multiclass.ts), behind the same interface.
 */

export interface ScoredRows {
  /** Row ids, for error messages. */
  readonly ids?: readonly string[];
  /** Binary: 0/1; multiclass: the class index into `classes`; regression: the value. */
  readonly labels: Float64Array;
  /** One score per row (binary: P(positive), regression: the prediction), or K probabilities per row (multiclass). */
  readonly candidate: Float64Array;
  /** The champion's scores on the same rows, or null on a first run. */
  readonly champion: Float64Array | null;
  /** Multiclass: the class names, in the order of each row's probabilities. */
  readonly classes?: readonly string[];
}

export interface EngineOptions {
  readonly problemType: ProblemType;
  /** Classification: a score >= threshold predicts the positive class. */
  readonly threshold: number;
  /** Confidence level of every interval. */
  readonly confidence: number;
}

const EPS = 1e-15;
/** Resamples of the paired bootstrap for the overall average-precision difference (up to 200k rows; fewer above), and its fixed seed. */
export const BOOTSTRAP_RESAMPLES = 200;
const BOOTSTRAP_SEED = 0x5eed;
/** Accumulator slots per group, classification. */
const C_CELLS = 0; // 8 cells: y*4 + p1*2 + p2
const C_LL = 8; // L1, L2, L1^2, L2^2, L1*L2
const C_BR = 13; // same for Brier
const C_POS = 18; // placement sums over positives: P1, P1^2, P2, P2^2, P1*P2
const C_NEG = 23; // ... over negatives
const C_AP = 28; // AP1, AP2
const C_SLOTS = 30;
/** Regression: n, sy, syy, s1, s2, q1, q2, c12, a1, a2, da */
const R_SLOTS = 11;

export class MetricsEngine {
  readonly n: number;
  readonly hasChampion: boolean;
  private readonly z: number;
  private readonly y: Uint8Array = new Uint8Array(0);
  private readonly pred = new Uint8Array(0);
  private readonly ll: Float64Array[] = [];
  private readonly br: Float64Array[] = [];
  private readonly orders: Uint32Array[] = [];
  private readonly newBlock: Uint8Array[] = [];
  private readonly placement: Float64Array[] = [];
  /** Labels in each model's score order, and a buffer for group ids in that order: the hot loop reads sequentially. */
  private readonly ySorted: Uint8Array[] = [];
  private gathered: Int32Array | undefined;
  private readonly multi: MulticlassMetrics | null;

  constructor(
    private readonly data: ScoredRows,
    private readonly opts: EngineOptions,
  ) {
    const n = data.labels.length;
    this.n = n;
    this.hasChampion = data.champion !== null;
    this.z = zFor(opts.confidence);
    if (opts.problemType === 'multiclass_classification') {
      if (!data.classes) throw new Error('metrics: multiclass_classification needs the class names');
      this.multi = new MulticlassMetrics({ ...data, classes: data.classes }, this.z);
      return;
    }
    this.multi = null;
    if (data.candidate.length !== n || (data.champion && data.champion.length !== n)) {
      throw new Error(`metrics: labels (${n}), candidate (${data.candidate.length}) and champion (${data.champion?.length}) differ in length`);
    }
    const models = this.models();
    if (opts.problemType === 'binary_classification') {
      const y = new Uint8Array(n);
      const pred = new Uint8Array(n);
      const t = opts.threshold;
      for (let i = 0; i < n; i++) {
        const l = data.labels[i];
        if (l !== 0 && l !== 1) throw new Error(`row ${this.rowName(i)}: label must be 0 or 1 for binary_classification, but got ${l}`);
        y[i] = l;
      }
      models.forEach((s, m) => {
        const ll = new Float64Array(n);
        const br = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const p = s[i];
          if (!(p >= 0 && p <= 1)) {
            throw new Error(`row ${this.rowName(i)}: ${m === 0 ? 'candidate' : 'champion'} score must be a probability in [0, 1], but got ${p}`);
          }
          if (p >= t) pred[i] |= m === 0 ? 2 : 1;
          const q = Math.min(1 - EPS, Math.max(EPS, p));
          ll[i] = y[i] ? -Math.log(q) : -Math.log(1 - q);
          br[i] = (p - y[i]) * (p - y[i]);
        }
        this.ll.push(ll);
        this.br.push(br);
        const { order, newBlock } = sortDescending(s);
        this.orders.push(order);
        this.newBlock.push(newBlock);
        this.placement.push(new Float64Array(n));
        const ys = new Uint8Array(n);
        for (let k = 0; k < n; k++) ys[k] = y[order[k]];
        this.ySorted.push(ys);
      });
      this.y = y;
      this.pred = pred;
    } else {
      models.forEach((s, m) => {
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(s[i])) throw new Error(`row ${this.rowName(i)}: ${m === 0 ? 'candidate' : 'champion'} prediction is not a finite number (${s[i]})`);
        }
      });
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(data.labels[i])) throw new Error(`row ${this.rowName(i)}: label is not a finite number (${data.labels[i]})`);
      }
    }
  }

  /**
   * Metrics over all rows. Here the average-precision difference also gets an interval: a paired
   * bootstrap (Poisson weights from a seeded RNG, so the same rows give the same interval).
   */
  overall(bootstrapResamples = BOOTSTRAP_RESAMPLES): GroupMetrics {
    if (this.multi) return this.multi.groups(new Int32Array(this.n), 1, { perClass: 'all', matrix: true })[0];
    const g = this.groups(new Int32Array(this.n), 1)[0];
    const ap = g.metrics.pr_auc;
    if (this.opts.problemType !== 'binary_classification' || !this.hasChampion || !ap?.diff || ap.diff.value === null || !g.positives || bootstrapResamples < 10) return g;
    // fewer resamples on large data: the SD of the difference is what is estimated, and it is smooth there
    const B = this.n <= 200_000 ? bootstrapResamples : Math.max(50, Math.round((bootstrapResamples * 200_000) / this.n));
    const [lo, hi] = this.bootstrapApDiff(B, ap.diff.value);
    return { ...g, metrics: { ...g.metrics, pr_auc: { ...ap, diff: est(ap.diff.value, lo, hi), note: `interval of the difference: paired bootstrap (${B} resamples)` } } };
  }

  /**
   * Normal interval (difference +- z * bootstrap SD) of AP(candidate) - AP(champion) over Poisson(1)-weighted
   * resamples of the rows (paired: a row has the same weight for both models).
   */
  private bootstrapApDiff(B: number, d: number): [number, number] {
    const n = this.n;
    const w = new Uint8Array(n + 1);
    let state = BOOTSTRAP_SEED >>> 0;
    const weightedAp = (m: number) => {
      const order = this.orders[m];
      const newBlock = this.newBlock[m];
      const ys = this.ySorted[m];
      let tp = 0, fp = 0, tpBlock = 0, ap = 0;
      for (let k = 0; k < n; k++) {
        const wk = w[order[k]];
        if (ys[k]) tp += wk;
        else fp += wk;
        if (k + 1 === n || newBlock[k + 1]) {
          const dp = tp - tpBlock;
          if (dp > 0) ap += (dp * tp) / (tp + fp);
          tpBlock = tp;
        }
      }
      return tp > 0 ? ap / tp : NaN;
    };
    let sum = 0, sumSq = 0, count = 0;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i += 2) {
        // mulberry32, two 16-bit Poisson draws per output
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        t = (t ^ (t >>> 14)) >>> 0;
        w[i] = POISSON1_TABLE[t & 0xffff];
        w[i + 1] = POISSON1_TABLE[t >>> 16];
      }
      const x = weightedAp(0) - weightedAp(1);
      if (Number.isFinite(x)) {
        sum += x;
        sumSq += x * x;
        count++;
      }
    }
    if (count < 2) return [d, d];
    const sd = Math.sqrt(Math.max(0, (sumSq - (sum * sum) / count) / (count - 1)));
    return normalInterval(d, sd * sd, this.z, [-1, 1]);
  }

  /**
   * Metrics of every group at once. `groupOf[i]` is row i's group in [0, nGroups), or -1 to leave it out.
   * Cost: a few linear passes over the rows, whatever the number of groups.
   */
  groups(groupOf: Int32Array, nGroups: number, opts: GroupOptions = {}): GroupMetrics[] {
    if (this.multi) return this.multi.groups(groupOf, nGroups, opts);
    if (groupOf.length !== this.n) throw new Error(`metrics: groupOf has ${groupOf.length} entries for ${this.n} rows`);
    return this.opts.problemType === 'regression' ? this.regressionGroups(groupOf, nGroups) : this.classificationGroups(groupOf, nGroups);
  }

  /** ROC, precision-recall and calibration curves over all rows (classification), at most `maxPoints` per curve. */
  curves(maxPoints = 200, bins = 10): Curves | null {
    if (this.opts.problemType !== 'binary_classification') return null;
    const one = (m: number): ModelCurves => ({
      ...this.rocPr(m, maxPoints),
      calibration: this.calibration(this.models()[m], bins),
    });
    return { candidate: one(0), champion: this.hasChampion ? one(1) : null };
  }

  /** Multiclass: the one-vs-rest ROC curve of every class, at most `maxPoints` per curve. */
  classCurves(maxPoints = 200): ClassCurves | null {
    return this.multi ? this.multi.curves(maxPoints) : null;
  }

  /** A deterministic sample of (label, prediction) points for a regression plot. */
  regressionPlot(maxPoints = 400): RegressionPlot | null {
    if (this.opts.problemType !== 'regression') return null;
    const step = Math.max(1, Math.floor(this.n / maxPoints));
    const sample = (s: Float64Array) => {
      const pts: CurvePoint[] = [];
      for (let i = 0; i < this.n; i += step) pts.push({ x: this.data.labels[i], y: s[i] });
      return pts;
    };
    return { candidate: sample(this.data.candidate), champion: this.data.champion ? sample(this.data.champion) : null };
  }

  private models(): Float64Array[] {
    return this.data.champion ? [this.data.candidate, this.data.champion] : [this.data.candidate];
  }

  private rowName(i: number): string {
    return this.data.ids ? `id "${this.data.ids[i]}"` : String(i + 1);
  }

  // ---- classification ------------------------------------------------------------------------------

  private classificationGroups(groupOf: Int32Array, G: number): GroupMetrics[] {
    const n = this.n;
    const acc = new Float64Array(G * C_SLOTS);
    const { y, pred } = this;
    const champ = this.hasChampion;
    const [ll1, ll2] = this.ll;
    const [br1, br2] = this.br;
    // 1. cells and per-row losses
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      if (g < 0) continue;
      const o = g * C_SLOTS;
      acc[o + C_CELLS + y[i] * 4 + pred[i]]++;
      const a = ll1[i];
      const b = br1[i];
      acc[o + C_LL] += a;
      acc[o + C_LL + 2] += a * a;
      acc[o + C_BR] += b;
      acc[o + C_BR + 2] += b * b;
      if (champ) {
        const a2 = ll2[i];
        const b2 = br2[i];
        acc[o + C_LL + 1] += a2;
        acc[o + C_LL + 3] += a2 * a2;
        acc[o + C_LL + 4] += a * a2;
        acc[o + C_BR + 1] += b2;
        acc[o + C_BR + 3] += b2 * b2;
        acc[o + C_BR + 4] += b * b2;
      }
    }
    const posTot = new Float64Array(G);
    const negTot = new Float64Array(G);
    for (let g = 0; g < G; g++) {
      const o = g * C_SLOTS + C_CELLS;
      negTot[g] = acc[o] + acc[o + 1] + acc[o + 2] + acc[o + 3];
      posTot[g] = acc[o + 4] + acc[o + 5] + acc[o + 6] + acc[o + 7];
    }
    // 2. one pass per model over its descending score order: placements (for AUC) and average precision
    for (let m = 0; m < this.orders.length; m++) {
      this.sortedPass(m, groupOf, G, negTot, acc);
    }
    // 3. sums of placements (AUC and its DeLong variance/covariance)
    const P1 = this.placement[0];
    const P2 = champ ? this.placement[1] : P1;
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      if (g < 0) continue;
      const o = g * C_SLOTS + (y[i] ? C_POS : C_NEG);
      const a = P1[i];
      const b = P2[i];
      acc[o] += a;
      acc[o + 1] += a * a;
      acc[o + 2] += b;
      acc[o + 3] += b * b;
      acc[o + 4] += a * b;
    }
    const out: GroupMetrics[] = [];
    for (let g = 0; g < G; g++) out.push(this.finishClassification(acc.subarray(g * C_SLOTS, (g + 1) * C_SLOTS)));
    return out;
  }

  private sortedPass(m: number, groupOf: Int32Array, G: number, negTot: Float64Array, acc: Float64Array): void {
    const order = this.orders[m];
    const n = this.n;
    const gs = (this.gathered ??= new Int32Array(n));
    for (let k = 0; k < n; k++) gs[k] = groupOf[order[k]];
    groupPlacements(order, this.newBlock[m], this.ySorted[m], gs, negTot, G, this.placement[m], { acc, stride: C_SLOTS, offset: C_AP + m });
  }

  private finishClassification(a: Float64Array): GroupMetrics {
    const z = this.z;
    const champ = this.hasChampion;
    const cells = Array.from(a.subarray(C_CELLS, C_CELLS + 8));
    const rows = cells.reduce((s, c) => s + c, 0);
    const negatives = cells[0] + cells[1] + cells[2] + cells[3];
    const positives = rows - negatives;
    const confusion = (m: 0 | 1): Confusion => {
      // cell index = y*4 + p1*2 + p2; model 0 reads bit 2, model 1 bit 1
      const bit = m === 0 ? 2 : 1;
      let tp = 0, fp = 0, tn = 0, fn = 0;
      cells.forEach((c, idx) => {
        const yy = idx >> 2;
        const p = idx & bit ? 1 : 0;
        if (yy && p) tp += c;
        else if (yy) fn += c;
        else if (p) fp += c;
        else tn += c;
      });
      return { tp, fp, tn, fn };
    };
    const metrics: Record<string, MetricComparison> = {};

    // AUC (DeLong)
    const m = positives;
    const nn = negatives;
    if (m === 0 || nn === 0) {
      metrics.roc_auc = notComputable(champ, rows === 0 ? 'no rows' : 'only one class in these rows');
      metrics.pr_auc = notComputable(champ, rows === 0 ? 'no rows' : m === 0 ? 'no positive rows' : 'only one class in these rows');
      if (m > 0) {
        // all positive: precision is 1 at every threshold
        metrics.pr_auc = { candidate: est(1, 1, 1), champion: champ ? est(1, 1, 1) : null, diff: champ ? est(0, 0, 0) : null };
      }
    } else {
      const mn = m * nn;
      const A = [a[C_POS] / mn, a[C_POS + 2] / mn];
      const varOf = (k: 0 | 1) => {
        const sq = a[C_POS + 1 + 2 * k] / (nn * nn);
        const sqN = a[C_NEG + 1 + 2 * k] / (m * m);
        if (m < 2 || nn < 2) return hanleyMcNeil(A[k], m, nn);
        const s10 = (sq - m * A[k] * A[k]) / (m - 1);
        const s01 = (sqN - nn * A[k] * A[k]) / (nn - 1);
        return s10 / m + s01 / nn;
      };
      const single = (k: 0 | 1): Estimate => {
        const [lo, hi] = normalInterval(A[k], varOf(k), z, [0, 1]);
        return est(A[k], lo, hi);
      };
      let diff: Estimate | null = null;
      let note: string | undefined;
      if (champ) {
        const d = A[0] - A[1];
        if (m >= 2 && nn >= 2) {
          const c10 = (a[C_POS + 4] / (nn * nn) - m * A[0] * A[1]) / (m - 1);
          const c01 = (a[C_NEG + 4] / (m * m) - nn * A[0] * A[1]) / (nn - 1);
          const s10 = (k: 0 | 1) => (a[C_POS + 1 + 2 * k] / (nn * nn) - m * A[k] * A[k]) / (m - 1);
          const s01 = (k: 0 | 1) => (a[C_NEG + 1 + 2 * k] / (m * m) - nn * A[k] * A[k]) / (nn - 1);
          const v = (s10(0) + s10(1) - 2 * c10) / m + (s01(0) + s01(1) - 2 * c01) / nn;
          const [lo, hi] = normalInterval(d, v, z, [-1, 1]);
          diff = est(d, lo, hi);
        } else {
          diff = est(d, null, null);
          note = 'too few rows of one class for an interval of the difference';
        }
      }
      metrics.roc_auc = { candidate: single(0), champion: champ ? single(1) : null, diff, ...(note ? { note } : {}) };
      // average precision: logit interval per model; no interval for the difference
      const apEst = (k: 0 | 1): Estimate => {
        const ap = a[C_AP + k] / m;
        if (ap <= 0 || ap >= 1) return est(ap, ap, ap);
        const eta = Math.log(ap / (1 - ap));
        const half = z / Math.sqrt(m * ap * (1 - ap));
        return est(ap, 1 / (1 + Math.exp(-(eta - half))), 1 / (1 + Math.exp(-(eta + half))));
      };
      const ap0 = apEst(0);
      const ap1 = champ ? apEst(1) : null;
      metrics.pr_auc = {
        candidate: ap0,
        champion: ap1,
        diff: ap1 ? est(ap0.value! - ap1.value!, null, null) : null,
        ...(ap1 ? { note: 'no interval for the difference in average precision: judged on the point estimate' } : {}),
      };
    }

    // threshold metrics: ratios of sums over the 8 cells
    const ratio = (name: string, num: (y: number, p: number) => number, den: (y: number, p: number) => number, proportion: boolean, empty: string) => {
      let A1 = 0, B1 = 0, A2 = 0, B2 = 0;
      cells.forEach((c, idx) => {
        const yy = idx >> 2, p1 = (idx >> 1) & 1, p2 = idx & 1;
        A1 += c * num(yy, p1);
        B1 += c * den(yy, p1);
        A2 += c * num(yy, p2);
        B2 += c * den(yy, p2);
      });
      if (B1 === 0 || (champ && B2 === 0)) {
        const c1 = B1 === 0 ? null : proportionEstimate(A1, B1);
        metrics[name] = { candidate: c1 ?? est(null, null, null), champion: champ ? (B2 === 0 ? est(null, null, null) : proportionEstimate(A2, B2)) : null, diff: champ ? est(null, null, null) : null, note: empty };
        return;
      }
      const M1 = A1 / B1, M2 = A2 / B2;
      let v1 = 0, v2 = 0, vd = 0;
      cells.forEach((c, idx) => {
        if (c === 0) return;
        const yy = idx >> 2, p1 = (idx >> 1) & 1, p2 = idx & 1;
        const psi1 = (num(yy, p1) - M1 * den(yy, p1)) / B1;
        const psi2 = (num(yy, p2) - M2 * den(yy, p2)) / B2;
        v1 += c * psi1 * psi1;
        v2 += c * psi2 * psi2;
        vd += c * (psi1 - psi2) * (psi1 - psi2);
      });
      const single = (A: number, B: number, M: number, v: number): Estimate => {
        if (proportion) return proportionEstimate(A, B);
        const [lo, hi] = normalInterval(M, v, z, [0, 1]);
        return est(M, lo, hi);
      };
      const [dlo, dhi] = normalInterval(M1 - M2, vd, z, [-1, 1]);
      metrics[name] = {
        candidate: single(A1, B1, M1, v1),
        champion: champ ? single(A2, B2, M2, v2) : null,
        diff: champ ? est(M1 - M2, dlo, dhi) : null,
      };
    };
    const proportionEstimate = (A: number, B: number): Estimate => {
      const [lo, hi] = wilson(A, B, z);
      return est(A / B, lo, hi);
    };
    ratio('accuracy', (yy, p) => (yy === p ? 1 : 0), () => 1, true, 'no rows');
    ratio('precision', (yy, p) => yy & p, (_yy, p) => p, true, 'no row predicted positive');
    ratio('recall', (yy, p) => yy & p, (yy) => yy, true, 'no positive rows');
    ratio('specificity', (yy, p) => (1 - yy) & (1 - p), (yy) => 1 - yy, true, 'no negative rows');
    ratio('f1', (yy, p) => 2 * (yy & p), (yy, p) => yy + p, false, 'no positive rows and none predicted positive');
    ratio('positive_rate', (_yy, p) => p, () => 1, true, 'no rows');

    // mean losses
    const meanLoss = (name: string, o: number) => {
      if (rows === 0) {
        metrics[name] = notComputable(champ, 'no rows');
        return;
      }
      const single = (k: 0 | 1): Estimate => {
        const mu = a[o + k] / rows;
        const [lo, hi] = normalInterval(mu, (a[o + 2 + k] / rows - mu * mu) / rows, z, [0, Infinity]);
        return est(mu, lo, hi);
      };
      let diff: Estimate | null = null;
      if (champ) {
        const d = (a[o] - a[o + 1]) / rows;
        const sq = (a[o + 2] + a[o + 3] - 2 * a[o + 4]) / rows;
        const [lo, hi] = normalInterval(d, (sq - d * d) / rows, z);
        diff = est(d, lo, hi);
      }
      metrics[name] = { candidate: single(0), champion: champ ? single(1) : null, diff };
    };
    meanLoss('log_loss', C_LL);
    meanLoss('brier', C_BR);

    return { rows, positives, metrics, confusion: { candidate: confusion(0), champion: champ ? confusion(1) : null } };
  }

  private rocPr(m: number, maxPoints: number): { roc: CurvePoint[]; pr: CurvePoint[] } {
    const order = this.orders[m];
    const newBlock = this.newBlock[m];
    const y = this.y;
    let P = 0;
    for (let i = 0; i < this.n; i++) P += y[i];
    const N = this.n - P;
    const roc: CurvePoint[] = [{ x: 0, y: 0 }];
    const pr: CurvePoint[] = [];
    let tp = 0, fp = 0;
    for (let k = 0; k < this.n; k++) {
      if (y[order[k]]) tp++;
      else fp++;
      if (k + 1 === this.n || newBlock[k + 1]) {
        roc.push({ x: N ? fp / N : 0, y: P ? tp / P : 0 });
        pr.push({ x: P ? tp / P : 0, y: tp / (tp + fp) });
      }
    }
    return { roc: thin(roc, maxPoints), pr: thin(pr, maxPoints) };
  }

  private calibration(s: Float64Array, bins: number): CalibrationBin[] {
    const count = new Float64Array(bins);
    const sum = new Float64Array(bins);
    const pos = new Float64Array(bins);
    for (let i = 0; i < this.n; i++) {
      const b = Math.min(bins - 1, Math.floor(s[i] * bins));
      count[b]++;
      sum[b] += s[i];
      pos[b] += this.y[i];
    }
    return Array.from(count, (c, b) => {
      const [lo, hi] = c ? wilson(pos[b], c, this.z) : [null, null];
      return { lo: b / bins, hi: (b + 1) / bins, rows: c, meanScore: c ? sum[b] / c : null, positiveRate: c ? pos[b] / c : null, positiveRateLo: lo, positiveRateHi: hi };
    });
  }

  // ---- regression ----------------------------------------------------------------------------------

  private regressionGroups(groupOf: Int32Array, G: number): GroupMetrics[] {
    const acc = new Float64Array(G * R_SLOTS);
    const { labels, candidate } = this.data;
    const champion = this.data.champion ?? candidate;
    for (let i = 0; i < this.n; i++) {
      const g = groupOf[i];
      if (g < 0) continue;
      const o = g * R_SLOTS;
      const yv = labels[i];
      const e1 = candidate[i] - yv;
      const e2 = champion[i] - yv;
      const s1 = e1 * e1, s2 = e2 * e2;
      const a1 = Math.abs(e1), a2 = Math.abs(e2);
      acc[o]++;
      acc[o + 1] += yv;
      acc[o + 2] += yv * yv;
      acc[o + 3] += s1;
      acc[o + 4] += s2;
      acc[o + 5] += s1 * s1;
      acc[o + 6] += s2 * s2;
      acc[o + 7] += s1 * s2;
      acc[o + 8] += a1;
      acc[o + 9] += a2;
      acc[o + 10] += (a1 - a2) * (a1 - a2);
    }
    const out: GroupMetrics[] = [];
    for (let g = 0; g < G; g++) out.push(this.finishRegression(acc.subarray(g * R_SLOTS, (g + 1) * R_SLOTS)));
    return out;
  }

  private finishRegression(a: Float64Array): GroupMetrics {
    const z = this.z;
    const champ = this.hasChampion;
    const n = a[0];
    const metrics: Record<string, MetricComparison> = {};
    if (n === 0) {
      for (const k of ['rmse', 'mae', 'r2']) metrics[k] = notComputable(champ, 'no rows');
      return { rows: 0, positives: null, metrics, confusion: null };
    }
    const mse = [a[3] / n, a[4] / n];
    const varMse = (k: 0 | 1) => (a[5 + k] / n - mse[k] * mse[k]) / n;
    const dMse = mse[0] - mse[1];
    const varDMse = ((a[5] + a[6] - 2 * a[7]) / n - dMse * dMse) / n;
    // RMSE (delta method)
    const rmse = mse.map(Math.sqrt);
    const rmseEst = (k: 0 | 1): Estimate => {
      const se2 = rmse[k] > 0 ? varMse(k) / (4 * mse[k]) : 0;
      const [lo, hi] = normalInterval(rmse[k], se2, z, [0, Infinity]);
      return est(rmse[k], lo, hi);
    };
    let rmseDiff: Estimate | null = null;
    if (champ) {
      const g1 = rmse[0] > 0 ? 1 / (2 * rmse[0]) : 0;
      const g2 = rmse[1] > 0 ? 1 / (2 * rmse[1]) : 0;
      const v = g1 * g1 * varMse(0) + g2 * g2 * varMse(1) - 2 * g1 * g2 * ((a[7] / n - mse[0] * mse[1]) / n);
      const [lo, hi] = normalInterval(rmse[0] - rmse[1], v, z);
      rmseDiff = est(rmse[0] - rmse[1], lo, hi);
    }
    metrics.rmse = { candidate: rmseEst(0), champion: champ ? rmseEst(1) : null, diff: rmseDiff };
    // MAE
    const mae = [a[8] / n, a[9] / n];
    const maeEst = (k: 0 | 1): Estimate => {
      const [lo, hi] = normalInterval(mae[k], (mse[k] - mae[k] * mae[k]) / n, z, [0, Infinity]);
      return est(mae[k], lo, hi);
    };
    let maeDiff: Estimate | null = null;
    if (champ) {
      const d = mae[0] - mae[1];
      const [lo, hi] = normalInterval(d, (a[10] / n - d * d) / n, z);
      maeDiff = est(d, lo, hi);
    }
    metrics.mae = { candidate: maeEst(0), champion: champ ? maeEst(1) : null, diff: maeDiff };
    // R2 = 1 - MSE / Var(y) (the label variance is the same for both models)
    const vy = a[2] / n - (a[1] / n) ** 2;
    if (!(vy > 0)) {
      metrics.r2 = notComputable(champ, 'the label is constant in these rows');
    } else {
      const r2 = (k: 0 | 1): Estimate => {
        const v = 1 - mse[k] / vy;
        const [lo, hi] = normalInterval(v, varMse(k) / (vy * vy), z, [-Infinity, 1]);
        return est(v, lo, hi);
      };
      let diff: Estimate | null = null;
      if (champ) {
        const d = -dMse / vy;
        const [lo, hi] = normalInterval(d, varDMse / (vy * vy), z);
        diff = est(d, lo, hi);
      }
      metrics.r2 = { candidate: r2(0), champion: champ ? r2(1) : null, diff };
    }
    return { rows: n, positives: null, metrics, confusion: null };
  }
}

/** Poisson(1) draws by table lookup on 16 uniform bits (the tail beyond 7 is below the table's resolution). */
const POISSON1_TABLE = (() => {
  const table = new Uint8Array(65536);
  const cdf: number[] = [];
  let p = Math.exp(-1);
  let c = 0;
  for (let k = 0; k < 12; k++) {
    c += p;
    cdf.push(c);
    p /= k + 1;
  }
  for (let u = 0; u < 65536; u++) {
    const x = (u + 0.5) / 65536;
    let k = 0;
    while (k < 11 && x > cdf[k]) k++;
    table[u] = k;
  }
  return table;
})();

/** Hanley & McNeil (1982) variance of an AUC, used when a class has fewer than 2 rows. */
function hanleyMcNeil(A: number, m: number, n: number): number {
  const q1 = A / (2 - A);
  const q2 = (2 * A * A) / (1 + A);
  return (A * (1 - A) + (m - 1) * (q1 - A * A) + (n - 1) * (q2 - A * A)) / (m * n);
}

