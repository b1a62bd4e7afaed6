import { ClassCurves, CurvePoint, Estimate, est, GroupMetrics, groupPlacements, MetricComparison, notComputable, sortDescending, thin } from './common';
import { normalInterval, wilson } from './stats';

/**
 * Multiclass metrics for K classes, for the candidate and the champion on the same rows, overall or for many
 * groups (slices) at once. The same ideas as the binary engine:
 * - each model's probability of each class is sorted once (K orders per model); the one-vs-rest ROC AUC of
 *   every class in every group comes out of one pass over each order with per-group counters;
 * - the predicted class (the most probable; the first on a tie, as numpy's argmax) and the per-row log loss
 *   are computed once; accuracy, precision, recall and F1 of every class follow from K x K confusion counts;
 * - intervals: Wilson for proportions (accuracy, per-class precision and recall); for every other metric, and
 *   for every candidate - champion difference, the first-order (linearised) variance: each row's influence on
 *   the metric is computed from the group's counts in a second pass over the rows, and the variance is the sum
 *   of squared influences (of the difference of the two models' influences, for the paired difference). For one
 *   AUC this is exactly DeLong's variance; for the macro average it also carries the covariance between classes.
 *
 * Averages follow scikit-learn: macro = the unweighted mean over classes, weighted = weighted by each class's
 * rows. A class without rows in a group is left out of that group's macro averages (scikit-learn would count a
 * predicted-but-absent class as a zero); the one-vs-rest AUC needs rows in and out of the class.
 */

export interface MulticlassRows {
  /** Row ids, for error messages. */
  readonly ids?: readonly string[];
  /** The class index of each row, into `classes`. */
  readonly labels: Float64Array;
  /** K probabilities per row, row after row (`candidate[i * K + k]` = P(class k) for row i). */
  readonly candidate: Float64Array;
  /** The champion's probabilities on the same rows, or null on a first run. */
  readonly champion: Float64Array | null;
  /** The class names, in the order of the probabilities. */
  readonly classes: readonly string[];
}

/** What `groups` computes beyond the aggregate metrics (which it always computes). */
export interface GroupOptions {
  /** Per-class metrics (`recall:setosa`): every one (`all`), those named, or none. */
  readonly perClass?: 'all' | readonly string[];
  /** The K x K confusion matrices. */
  readonly matrix?: boolean;
  /**
   * The one-vs-rest ROC AUCs (`roc_auc_ovr`, `roc_auc:<class>`): 2K passes over sorted orders, most of the cost
   * of a grouping. `false` leaves them out. @default true
   */
  readonly auc?: boolean;
}

/** The aggregate multiclass metric names, in report order. */
export const MULTICLASS_AGGREGATES = ['roc_auc_ovr', 'accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'log_loss'] as const;
const PER_CLASS = ['precision', 'recall', 'f1', 'roc_auc'] as const;

/** scikit-learn 1.2's log_loss clips probabilities to [eps, 1 - eps] with eps = float64 epsilon. */
const EPS = Number.EPSILON;

/** Slots per group of the influence sums: v(candidate), v(champion), v(difference) for each metric. */
const F_REC = 0, F_PREC = 3, F_F1 = 6, F_F1W = 9, F_AUC = 12, F_SLOTS = 15;
/** Per class: precision, recall, f1, roc_auc, each v1, v2, vd. */
const PC_PREC = 0, PC_REC = 3, PC_F1 = 6, PC_AUC = 9, PC_SLOTS = 12;
/** DeLong's variance of an AUC sums (V - A)^2 / (m (m - 1)) over each side: a row's component is divided by this. */
const aucScale = (m: number) => (m >= 2 ? Math.sqrt(m * (m - 1)) : m);
/** "No group" in the one-byte copy of a grouping with fewer than 255 groups. */
const NONE8 = 255;

interface ClassValues {
  readonly rec: Float64Array;
  readonly prec: Float64Array;
  readonly f1: Float64Array;
  readonly auc: Float64Array;
}
/** What the passes over the rows leave, per group (see groups). */
interface Sums {
  readonly cm: Float64Array[];
  readonly cells: Float64Array;
  readonly lls: Float64Array;
  readonly M: Float64Array;
  readonly rows: Float64Array;
  readonly Pc: Float64Array[];
  readonly T: Float64Array[];
  readonly V: ClassValues[];
  readonly present: Float64Array;
  readonly aucClasses: Float64Array;
  readonly weighted: Float64Array[];
  readonly F: Float64Array;
  readonly PCs: Float64Array | null;
}

/** Adds a and b (one row's influence on a metric, per model) to sums of squares: v1, v2 and v(difference). */
function add(arr: Float64Array, o: number, a: number, b: number): void {
  arr[o] += a * a;
  arr[o + 1] += b * b;
  arr[o + 2] += (a - b) * (a - b);
}

export class MulticlassMetrics {
  readonly n: number;
  readonly k: number;
  readonly hasChampion: boolean;
  readonly classes: readonly string[];
  private readonly y: Uint16Array;
  private readonly pred: Uint16Array[] = [];
  private readonly ll: Float64Array[] = [];
  /** Per model m and class k (index m * K + k): rows by descending P(k), tie blocks, and 1 where the label is k. */
  private readonly orders: Uint32Array[] = [];
  private readonly newBlock: Uint8Array[] = [];
  private readonly ySorted: Uint8Array[] = [];
  /** Per model and class: each row's placement among the other side of its group (see sortedPass). */
  private readonly placement: (Float32Array | Float64Array)[] = [];
  private gathered: Int32Array | undefined;

  constructor(
    private readonly data: MulticlassRows,
    private readonly z: number,
  ) {
    const K = data.classes.length;
    const n = data.labels.length;
    if (K < 2) throw new Error(`metrics: multiclass needs at least 2 classes, but got ${K}`);
    if (K > 65535) throw new Error(`metrics: at most 65535 classes, but got ${K}`);
    if (data.candidate.length !== n * K || (data.champion && data.champion.length !== n * K)) {
      throw new Error(`metrics: ${n} rows of ${K} classes need ${n * K} probabilities per model, but got ${data.candidate.length} and ${data.champion?.length ?? 'no champion'}`);
    }
    this.n = n;
    this.k = K;
    this.classes = data.classes;
    this.hasChampion = data.champion !== null;
    const y = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const l = data.labels[i];
      if (!(Number.isInteger(l) && l >= 0 && l < K)) throw new Error(`row ${this.rowName(i)}: label must be a class index in [0, ${K - 1}], but got ${l}`);
      y[i] = l;
    }
    this.y = y;
    const Place = n <= 4_000_000 ? Float32Array : Float64Array; // placements are half-integers: exact in float32 up to 2^23
    this.models().forEach((P, m) => {
      const pred = new Uint16Array(n);
      const ll = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const o = i * K;
        let best = 0;
        let bestP = -1;
        let clippedSum = 0;
        for (let k = 0; k < K; k++) {
          const p = P[o + k];
          if (!(p >= 0 && p <= 1)) {
            throw new Error(`row ${this.rowName(i)}: ${m === 0 ? 'candidate' : 'champion'} probability of class "${data.classes[k]}" must be in [0, 1], but got ${p}`);
          }
          if (p > bestP) {
            bestP = p;
            best = k;
          }
          clippedSum += Math.min(1 - EPS, Math.max(EPS, p));
        }
        pred[i] = best;
        // scikit-learn 1.2's log_loss: clip to [eps, 1 - eps], renormalise the row, -log p(true class)
        ll[i] = -Math.log(Math.min(1 - EPS, Math.max(EPS, P[o + y[i]])) / clippedSum);
      }
      this.pred.push(pred);
      this.ll.push(ll);
      for (let k = 0; k < K; k++) {
        const { order, newBlock } = sortDescending(P, k, K);
        const ys = new Uint8Array(n);
        for (let j = 0; j < n; j++) ys[j] = y[order[j]] === k ? 1 : 0;
        this.orders.push(order);
        this.newBlock.push(newBlock);
        this.ySorted.push(ys);
        this.placement.push(new Place(n));
      }
    });
  }

  /**
   * Metrics of every group at once. `groupOf[i]` is row i's group in [0, nGroups), or -1 to leave it out.
   * Cost: three passes over the rows plus one pass over each of the 2K sorted orders, whatever the number of groups.
   */
  groups(groupOf: Int32Array, G: number, opts: GroupOptions = {}): GroupMetrics[] {
    if (groupOf.length !== this.n) throw new Error(`metrics: groupOf has ${groupOf.length} entries for ${this.n} rows`);
    const { n, k: K, y } = this;
    const champ = this.hasChampion;
    const models = champ ? 2 : 1;
    const [pred1, pred2] = [this.pred[0], this.pred[champ ? 1 : 0]];
    const [ll1, ll2] = [this.ll[0], this.ll[champ ? 1 : 0]];

    // 1. confusion counts, accuracy cells (candidate right x champion right) and log-loss sums
    const cm = [new Float64Array(G * K * K), new Float64Array(champ ? G * K * K : 0)];
    const cells = new Float64Array(G * 4);
    const lls = new Float64Array(G * 5);
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      if (g < 0) continue;
      const c = y[i];
      const p1 = pred1[i];
      const p2 = pred2[i];
      const base = (g * K + c) * K;
      cm[0][base + p1]++;
      if (champ) cm[1][base + p2]++;
      cells[g * 4 + (p1 === c ? 2 : 0) + (p2 === c ? 1 : 0)]++;
      const a = ll1[i];
      const b = ll2[i];
      const o = g * 5;
      lls[o] += a;
      lls[o + 1] += b;
      lls[o + 2] += a * a;
      lls[o + 3] += b * b;
      lls[o + 4] += a * b;
    }
    // per group and class: support M, per model predicted count P and true positives T
    const M = new Float64Array(G * K);
    const rows = new Float64Array(G);
    const Pc = [new Float64Array(G * K), new Float64Array(G * K)];
    const T = [new Float64Array(G * K), new Float64Array(G * K)];
    for (let m = 0; m < models; m++) {
      const c = cm[m];
      for (let g = 0; g < G; g++) {
        for (let a = 0; a < K; a++) {
          for (let b = 0; b < K; b++) {
            const v = c[(g * K + a) * K + b];
            if (m === 0) M[g * K + a] += v;
            Pc[m][g * K + b] += v;
            if (a === b) T[m][g * K + a] = v;
          }
        }
      }
    }
    for (let g = 0; g < G; g++) for (let a = 0; a < K; a++) rows[g] += M[g * K + a];

    // 2. one pass per model and class over its descending order: placements and the AUC numerators
    let compact: Uint8Array | null = null;
    if (G < NONE8) {
      compact = new Uint8Array(n);
      for (let i = 0; i < n; i++) compact[i] = groupOf[i] < 0 ? NONE8 : groupOf[i];
    }
    const aucNum = [new Float64Array(G * K), new Float64Array(G * K)];
    const perClass = this.perClassSet(opts.perClass);
    const withAuc = opts.auc !== false || [...perClass.values()].some((p) => p.metric === 'roc_auc');
    for (let m = 0; m < (withAuc ? models : 0); m++) {
      for (let k = 0; k < K; k++) this.sortedPass(m, k, groupOf, compact, G, M, rows);
      // the AUC's Mann-Whitney numerator: the placements of each class's own rows, summed per group
      const place = this.placement;
      for (let i = 0; i < n; i++) {
        const g = groupOf[i];
        if (g < 0) continue;
        const c = y[i];
        aucNum[m][g * K + c] += place[m * K + c][i];
      }
    }

    // group constants: per-class values and the macro averages
    const vals = (m: number) => {
      const rec = new Float64Array(G * K), prec = new Float64Array(G * K), f1 = new Float64Array(G * K), auc = new Float64Array(G * K);
      for (let g = 0; g < G; g++) {
        for (let a = 0; a < K; a++) {
          const i = g * K + a;
          const Mi = M[i], Pi = Pc[m][i], Ti = T[m][i], Ni = rows[g] - Mi;
          rec[i] = Mi > 0 ? Ti / Mi : NaN;
          prec[i] = Pi > 0 ? Ti / Pi : 0;
          f1[i] = Mi + Pi > 0 ? (2 * Ti) / (Mi + Pi) : 0;
          auc[i] = Mi > 0 && Ni > 0 ? aucNum[m][i] / (Mi * Ni) : NaN;
        }
      }
      return { rec, prec, f1, auc };
    };
    const V = [vals(0), champ ? vals(1) : vals(0)];
    // classes with rows (macro averages) and with rows in and out (AUC), per group; for the AUC components, per
    // group and class the coefficient of a placement (rows of the class / rows outside it), and per group and
    // label the sum over the AUC classes of -A_k / scale_k
    const present = new Float64Array(G);
    const aucClasses = new Float64Array(G);
    const weighted = [new Float64Array(G), new Float64Array(G)];
    const coefPos = new Float64Array(G * K);
    const coefNeg = new Float64Array(G * K);
    const aucConst = [new Float64Array(G * K), new Float64Array(G * K)];
    for (let g = 0; g < G; g++) {
      for (let a = 0; a < K; a++) {
        const i = g * K + a;
        const Mi = M[i];
        const Ni = rows[g] - Mi;
        if (Mi > 0) present[g]++;
        for (let m = 0; m < models; m++) weighted[m][g] += rows[g] > 0 ? (Mi / rows[g]) * V[m].f1[i] : 0;
        if (!withAuc || Mi === 0 || Ni === 0) continue;
        aucClasses[g]++;
        coefPos[i] = 1 / (Ni * aucScale(Mi));
        coefNeg[i] = 1 / (Mi * aucScale(Ni));
        for (let m = 0; m < models; m++) {
          const A = V[m].auc[i];
          for (let c = 0; c < K; c++) aucConst[m][g * K + c] -= A / aucScale(c === a ? Mi : Ni);
        }
      }
    }

    // 3. each row's influence on every metric (candidate, champion, difference), summed squared per group
    const PCs = perClass.size > 0 ? new Float64Array(G * K * PC_SLOTS) : null;
    const F = new Float64Array(G * F_SLOTS);
    const place = this.placement;
    const inf = new Float64Array(8); // per model: rec, prec, f1, f1_weighted
    const cls = new Float64Array(6); // per model: rec, prec, f1 of one class
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      if (g < 0) continue;
      const c = y[i];
      const gk = g * K;
      const N = rows[g];
      const S = present[g];
      const Mc = M[gk + c];
      for (let m = 0; m < models; m++) {
        const p = m === 0 ? pred1[i] : pred2[i];
        const v = V[m];
        const P = Pc[m];
        const hit = p === c ? 1 : 0;
        const Dc = Mc + P[gk + c];
        const Mp = M[gk + p];
        const Dp = Mp + P[gk + p];
        // macro recall and precision: the row moves its label's recall and its prediction's precision
        inf[m * 4] = (hit - v.rec[gk + c]) / Mc / S;
        inf[m * 4 + 1] = Mp > 0 ? (hit - v.prec[gk + p]) / P[gk + p] / S : 0;
        // macro F1: F1_k = 2T/(M + P); the row counts in M of its label and in P of its prediction
        inf[m * 4 + 2] = ((2 * hit - v.f1[gk + c] * (1 + hit)) / Dc - (hit || Mp === 0 ? 0 : v.f1[gk + p] / Dp)) / S;
        // weighted F1 = sum_k (M_k / N) F1_k: derivatives by M_c, T_c, P_p and N
        inf[m * 4 + 3] = ((v.f1[gk + c] * P[gk + c]) / Dc + (2 * hit * Mc) / Dc - (Mp * v.f1[gk + p]) / Dp - weighted[m][g]) / N;
      }
      if (!champ) for (let j = 0; j < 4; j++) inf[4 + j] = inf[j];
      const o = g * F_SLOTS;
      add(F, o + F_REC, inf[0], inf[4]);
      add(F, o + F_PREC, inf[1], inf[5]);
      add(F, o + F_F1, inf[2], inf[6]);
      add(F, o + F_F1W, inf[3], inf[7]);
      if (PCs) {
        // per class: only the classes this row touches (its label, each model's prediction) move
        const p1 = pred1[i];
        const p2 = pred2[i];
        for (let t = 0; t < 3; t++) {
          const k = t === 0 ? c : t === 1 ? p1 : p2;
          if ((t === 1 && k === c) || (t === 2 && (k === c || k === p1))) continue;
          for (let m = 0; m < 2; m++) {
            const mm = champ ? m : 0;
            const p = mm === 0 ? p1 : p2;
            const v = V[mm];
            const isC = c === k ? 1 : 0;
            const isP = p === k ? 1 : 0;
            const D = M[gk + k] + Pc[mm][gk + k];
            cls[m * 3] = isC ? (isP - v.rec[gk + k]) / M[gk + k] : 0;
            cls[m * 3 + 1] = isP ? (isC - v.prec[gk + k]) / Pc[mm][gk + k] : 0;
            cls[m * 3 + 2] = D > 0 ? (2 * isC * isP - v.f1[gk + k] * (isC + isP)) / D : 0;
          }
          const q = (gk + k) * PC_SLOTS;
          add(PCs, q + PC_REC, cls[0], cls[3]);
          add(PCs, q + PC_PREC, cls[1], cls[4]);
          add(PCs, q + PC_F1, cls[2], cls[5]);
        }
      }
      // one-vs-rest AUC of every class with rows in and out of it: DeLong's components, scaled so that their
      // squares sum to DeLong's variance; summed over classes, they carry the covariance between classes too.
      // A row's component for class k is coef * placement - A_k / scale: the constants are summed per label.
      const Ka = aucClasses[g];
      if (Ka > 0) {
        let a1 = aucConst[0][gk + c];
        let a2 = champ ? aucConst[1][gk + c] : 0;
        for (let k = 0; k < K; k++) {
          const coef = k === c ? coefPos[gk + k] : coefNeg[gk + k];
          a1 += coef * place[k][i];
          if (champ) a2 += coef * place[K + k][i];
        }
        if (!champ) a2 = a1;
        add(F, o + F_AUC, a1 / Ka, a2 / Ka);
        if (PCs) {
          for (let k = 0; k < K; k++) {
            const Mk = M[gk + k];
            if (Mk === 0 || N - Mk === 0) continue;
            const pos = c === k;
            const coef = pos ? coefPos[gk + k] : coefNeg[gk + k];
            const scale = aucScale(pos ? Mk : N - Mk);
            const i1 = coef * place[k][i] - V[0].auc[gk + k] / scale;
            const i2 = champ ? coef * place[K + k][i] - V[1].auc[gk + k] / scale : i1;
            add(PCs, (gk + k) * PC_SLOTS + PC_AUC, i1, i2);
          }
        }
      }
    }

    const out: GroupMetrics[] = [];
    const sums: Sums = { cm, cells, lls, M, rows, Pc, T, V, present, aucClasses, weighted, F, PCs };
    for (let g = 0; g < G; g++) out.push(this.finish(g, sums, perClass, !!opts.matrix, withAuc));
    return out;
  }

  /** The per-class metric names asked for, as (metric, class index) pairs keyed by name; unknown classes are skipped. */
  private perClassSet(asked: GroupOptions['perClass']): Map<string, { metric: (typeof PER_CLASS)[number]; k: number }> {
    const out = new Map<string, { metric: (typeof PER_CLASS)[number]; k: number }>();
    const index = new Map(this.classes.map((c, k) => [c, k]));
    const names = asked === 'all' ? PER_CLASS.flatMap((m) => this.classes.map((c) => `${m}:${c}`)) : (asked ?? []);
    for (const name of names) {
      const at = name.indexOf(':');
      const metric = name.slice(0, at) as (typeof PER_CLASS)[number];
      const k = index.get(name.slice(at + 1));
      if (at > 0 && PER_CLASS.includes(metric) && k !== undefined) out.set(name, { metric, k });
    }
    return out;
  }

  private finish(g: number, s: Sums, perClass: ReadonlyMap<string, { metric: (typeof PER_CLASS)[number]; k: number }>, withMatrix: boolean, withAuc: boolean): GroupMetrics {
    const { z, k: K } = this;
    const champ = this.hasChampion;
    const gk = g * K;
    const N = s.rows[g];
    const support = Array.from(s.M.subarray(gk, gk + K));
    const metrics: Record<string, MetricComparison> = {};
    if (N === 0) {
      for (const name of [...MULTICLASS_AGGREGATES, ...perClass.keys()]) if (withAuc || name !== 'roc_auc_ovr') metrics[name] = notComputable(champ, 'no rows');
      return { rows: 0, positives: null, metrics, confusion: null, support };
    }
    const wilsonEst = (a: number, b: number): Estimate => {
      const [lo, hi] = wilson(a, b, z);
      return est(a / b, lo, hi);
    };
    const normal = (v: number, variance: number, clip: [number, number]): Estimate => {
      const [lo, hi] = normalInterval(v, variance, z, clip);
      return est(v, lo, hi);
    };
    const compare = (v1: number, v2: number, f: Float64Array, o: number, clip: [number, number], note?: string): MetricComparison => ({
      candidate: normal(v1, f[o], clip),
      champion: champ ? normal(v2, f[o + 1], clip) : null,
      diff: champ ? normal(v1 - v2, f[o + 2], [clip[0] - clip[1], clip[1] - clip[0]]) : null,
      ...(note ? { note } : {}),
    });

    // accuracy: Wilson per model; the paired difference from the (candidate right, champion right) cells
    const c = s.cells.subarray(g * 4, g * 4 + 4);
    const right1 = c[2] + c[3];
    const right2 = c[1] + c[3];
    const d = (right1 - right2) / N;
    const vd = (c[0] * d * d + c[1] * (-1 - d) ** 2 + c[2] * (1 - d) ** 2 + c[3] * d * d) / (N * N);
    metrics.accuracy = { candidate: wilsonEst(right1, N), champion: champ ? wilsonEst(right2, N) : null, diff: champ ? normal(d, vd, [-1, 1]) : null };

    // macro and weighted averages over the classes with rows here
    const S = s.present[g];
    const classNote = S < K ? `averaged over the ${S} of ${K} classes with rows here` : undefined;
    const macro = (pick: (v: Sums['V'][number]) => Float64Array, m: number) => {
      let sum = 0;
      for (let a = 0; a < K; a++) if (s.M[gk + a] > 0) sum += pick(s.V[m])[gk + a];
      return sum / S;
    };
    const m2 = champ ? 1 : 0;
    metrics.f1_macro = compare(macro((v) => v.f1, 0), macro((v) => v.f1, m2), s.F, g * F_SLOTS + F_F1, [0, 1], classNote);
    metrics.f1_weighted = compare(s.weighted[0][g], s.weighted[m2][g], s.F, g * F_SLOTS + F_F1W, [0, 1]);
    metrics.precision_macro = compare(macro((v) => v.prec, 0), macro((v) => v.prec, m2), s.F, g * F_SLOTS + F_PREC, [0, 1], classNote);
    metrics.recall_macro = compare(macro((v) => v.rec, 0), macro((v) => v.rec, m2), s.F, g * F_SLOTS + F_REC, [0, 1], classNote);

    // one-vs-rest ROC AUC, macro over the classes with rows in and out of them
    const Ka = s.aucClasses[g];
    if (!withAuc) {
      // not asked for
    } else if (Ka === 0) {
      metrics.roc_auc_ovr = notComputable(champ, 'only one class in these rows');
    } else {
      const aucMacro = (m: number) => {
        let sum = 0;
        for (let a = 0; a < K; a++) if (s.M[gk + a] > 0 && N - s.M[gk + a] > 0) sum += s.V[m].auc[gk + a];
        return sum / Ka;
      };
      metrics.roc_auc_ovr = compare(aucMacro(0), aucMacro(m2), s.F, g * F_SLOTS + F_AUC, [0, 1], Ka < K ? `macro over the ${Ka} of ${K} classes with rows here` : undefined);
    }

    // log loss: mean of the per-row losses
    const L = s.lls.subarray(g * 5, g * 5 + 5);
    const meanLoss = (k: 0 | 1): Estimate => {
      const mu = L[k] / N;
      return normal(mu, (L[2 + k] / N - mu * mu) / N, [0, Infinity]);
    };
    const dl = (L[0] - L[1]) / N;
    metrics.log_loss = {
      candidate: meanLoss(0),
      champion: champ ? meanLoss(1) : null,
      diff: champ ? normal(dl, ((L[2] + L[3] - 2 * L[4]) / N - dl * dl) / N, [-Infinity, Infinity]) : null,
    };

    // per class, as asked
    for (const [name, { metric, k }] of perClass) {
      const i = gk + k;
      const Mk = s.M[i];
      const cls = JSON.stringify(this.classes[k]);
      const o = i * PC_SLOTS;
      const PCs = s.PCs!;
      if (metric === 'recall' || metric === 'f1') {
        if (Mk === 0) {
          metrics[name] = notComputable(champ, `no ${cls} rows here`);
        } else if (metric === 'recall') {
          const r1 = s.T[0][i], r2 = s.T[m2][i];
          metrics[name] = { candidate: wilsonEst(r1, Mk), champion: champ ? wilsonEst(r2, Mk) : null, diff: champ ? normal((r1 - r2) / Mk, PCs[o + PC_REC + 2], [-1, 1]) : null };
        } else {
          metrics[name] = compare(s.V[0].f1[i], s.V[m2].f1[i], PCs, o + PC_F1, [0, 1]);
        }
      } else if (metric === 'precision') {
        const P1 = s.Pc[0][i], P2 = s.Pc[m2][i];
        const p1 = P1 > 0 ? wilsonEst(s.T[0][i], P1) : est(null, null, null);
        const p2 = P2 > 0 ? wilsonEst(s.T[m2][i], P2) : est(null, null, null);
        const both = P1 > 0 && P2 > 0;
        metrics[name] = {
          candidate: p1,
          champion: champ ? p2 : null,
          diff: champ ? (both ? normal(p1.value! - p2.value!, PCs[o + PC_PREC + 2], [-1, 1]) : est(null, null, null)) : null,
          ...(P1 === 0 || (champ && P2 === 0) ? { note: `no row predicted ${cls}` } : {}),
        };
      } else if (Mk === 0 || N - Mk === 0) {
        metrics[name] = notComputable(champ, Mk === 0 ? `no ${cls} rows here` : `only ${cls} rows here`);
      } else {
        metrics[name] = compare(s.V[0].auc[i], s.V[m2].auc[i], PCs, o + PC_AUC, [0, 1]);
      }
    }
    const matrixOf = (m: number) => Array.from({ length: K }, (_, a) => Array.from(s.cm[m].subarray((gk + a) * K, (gk + a + 1) * K)));
    return {
      rows: N,
      positives: null,
      metrics,
      confusion: null,
      support,
      ...(withMatrix ? { matrix: { candidate: matrixOf(0), champion: champ ? matrixOf(1) : null } } : {}),
    };
  }

  /** One pass over model m's order of P(class k): every row's placement for class k's one-vs-rest AUC (groupPlacements). */
  private sortedPass(m: number, k: number, groupOf: Int32Array, compact: Uint8Array | null, G: number, M: Float64Array, rows: Float64Array): void {
    const K = this.k;
    const at = m * K + k;
    const order = this.orders[at];
    const n = this.n;
    const gs = (this.gathered ??= new Int32Array(n));
    // the one random read of the pass, from the smallest copy of the groups (cache-resident for up to 255 groups)
    if (compact) {
      for (let j = 0; j < n; j++) {
        const v = compact[order[j]];
        gs[j] = v === NONE8 ? -1 : v;
      }
    } else {
      for (let j = 0; j < n; j++) gs[j] = groupOf[order[j]];
    }
    const negTot = new Float64Array(G);
    for (let g = 0; g < G; g++) negTot[g] = rows[g] - M[g * K + k];
    groupPlacements(order, this.newBlock[at], this.ySorted[at], gs, negTot, G, this.placement[at]);
  }

  /** One-vs-rest ROC curves of every class over all rows, at most `maxPoints` per curve. */
  curves(maxPoints = 200): ClassCurves {
    const K = this.k;
    const counts = new Float64Array(K);
    for (let i = 0; i < this.n; i++) counts[this.y[i]]++;
    const roc = (m: number, k: number): CurvePoint[] => {
      const at = m * K + k;
      const order = this.orders[at];
      const newBlock = this.newBlock[at];
      const ys = this.ySorted[at];
      const P = counts[k];
      const N = this.n - P;
      const pts: CurvePoint[] = [{ x: 0, y: 0 }];
      let tp = 0, fp = 0;
      for (let j = 0; j < this.n; j++) {
        if (ys[j]) tp++;
        else fp++;
        if (j + 1 === this.n || newBlock[j + 1]) pts.push({ x: N ? fp / N : 0, y: P ? tp / P : 0 });
      }
      void order;
      return thin(pts, maxPoints);
    };
    const all = (m: number) => this.classes.map((_, k) => roc(m, k));
    return { classes: [...this.classes], candidate: all(0), champion: this.hasChampion ? all(1) : null };
  }

  private models(): Float64Array[] {
    return this.data.champion ? [this.data.candidate, this.data.champion] : [this.data.candidate];
  }

  private rowName(i: number): string {
    return this.data.ids ? `id "${this.data.ids[i]}"` : String(i + 1);
  }
}
