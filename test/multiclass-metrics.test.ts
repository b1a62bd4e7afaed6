import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { biasMetrics, encodeColumn, GroupMetrics, MetricsEngine, sliceMetrics, sortDescending } from '../lambdas/shared/metrics';
import { mulberry32 as rng } from '../lambdas/shared/random';

/**
 * The multiclass metrics against independent references: scikit-learn 1.2.1's numbers on a seeded dataset
 * (pinned in test/fixtures/multiclass-reference.json by the command in test/fixtures/multiclass_reference.py),
 * a case small enough to compute by hand, and brute-force interval references (DeLong pair by pair, the
 * delete-one jackknife).
 */

interface Reference {
  classes: string[];
  labels: number[];
  candidate: number[][];
  champion: number[][];
  subset: number[];
  overall: Record<'candidate' | 'champion', SkMetrics>;
  subsetMetrics: Record<'candidate' | 'champion', SkMetrics>;
}
interface SkMetrics {
  [metric: string]: unknown;
  per_class: { precision: number[]; recall: number[]; f1: number[]; roc_auc: (number | null)[]; support: number[] };
  confusion_matrix: number[][];
}
const REF = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'multiclass-reference.json'), 'utf8')) as Reference;
const AGGREGATES = ['accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'roc_auc_ovr', 'log_loss'];

function engine(labels: number[], cand: number[][], champ: number[][] | null, classes: string[], confidence = 0.95) {
  return new MetricsEngine(
    { labels: Float64Array.from(labels), candidate: Float64Array.from(cand.flat()), champion: champ ? Float64Array.from(champ.flat()) : null, classes },
    { problemType: 'multiclass_classification', threshold: 0.5, confidence },
  );
}
const z95 = 1.959963984540054;
const halfWidth = (e: { lo: number | null; hi: number | null }) => (e.hi! - e.lo!) / 2;

// ---- independent references --------------------------------------------------------------------------------

/** The Mann-Whitney U of class k's scores against the others', from tie-averaged ranks (scipy's rankdata), as an AUC. */
function rankAuc(y: number[], P: number[][], k: number): number {
  const order = y.map((_, i) => i).sort((i, j) => P[i][k] - P[j][k]);
  const rank = new Array<number>(y.length);
  for (let s = 0; s < order.length; ) {
    let e = s;
    while (e + 1 < order.length && P[order[e + 1]][k] === P[order[s]][k]) e++;
    for (let t = s; t <= e; t++) rank[order[t]] = (s + e) / 2 + 1;
    s = e + 1;
  }
  const m = y.filter((v) => v === k).length;
  const sum = y.reduce((acc, v, i) => acc + (v === k ? rank[i] : 0), 0);
  return (sum - (m * (m + 1)) / 2) / (m * (y.length - m));
}

/** P(score of a random row of class k > score of a random other row), ties one half: all pairs. */
function pairwiseAuc(y: number[], P: number[][], k: number): number {
  let sum = 0, pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== k) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] === k) continue;
      pairs++;
      sum += P[i][k] > P[j][k] ? 1 : P[i][k] === P[j][k] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

/** DeLong's variance of AUC(a) - AUC(b) (b = null: of AUC(a)), from its structural components, pair by pair. */
function delongVariance(y: number[], a: number[][], b: number[][] | null, k: number): number {
  const pos = y.map((v, i) => (v === k ? i : -1)).filter((i) => i >= 0);
  const neg = y.map((v, i) => (v === k ? -1 : i)).filter((i) => i >= 0);
  const psi = (x: number, w: number) => (x > w ? 1 : x === w ? 0.5 : 0);
  const v10 = (s: number[][]) => pos.map((i) => neg.reduce((acc, j) => acc + psi(s[i][k], s[j][k]), 0) / neg.length);
  const v01 = (s: number[][]) => neg.map((j) => pos.reduce((acc, i) => acc + psi(s[i][k], s[j][k]), 0) / pos.length);
  const cov = (u: number[], w: number[]) => {
    const mu = u.reduce((x, v) => x + v, 0) / u.length;
    const mw = w.reduce((x, v) => x + v, 0) / w.length;
    return u.reduce((x, v, i) => x + (v - mu) * (w[i] - mw), 0) / (u.length - 1);
  };
  const [xa, ya] = [v10(a), v01(a)];
  if (!b) return cov(xa, xa) / pos.length + cov(ya, ya) / neg.length;
  const [xb, yb] = [v10(b), v01(b)];
  return (cov(xa, xa) + cov(xb, xb) - 2 * cov(xa, xb)) / pos.length + (cov(ya, ya) + cov(yb, yb) - 2 * cov(ya, yb)) / neg.length;
}

/** The metrics of one model on some rows, straight from their definitions (macro over the classes present). */
function direct(y: number[], P: number[][], K: number): Record<string, number> {
  const pred = P.map((p) => p.indexOf(Math.max(...p)));
  const present = [...new Set(y)];
  const T = (k: number) => y.filter((v, i) => v === k && pred[i] === k).length;
  const M = (k: number) => y.filter((v) => v === k).length;
  const Pk = (k: number) => pred.filter((v) => v === k).length;
  const f1 = (k: number) => (2 * T(k)) / (M(k) + Pk(k));
  const mean = (f: (k: number) => number) => present.reduce((s, k) => s + f(k), 0) / present.length;
  const aucClasses = present.filter((k) => M(k) < y.length);
  return {
    accuracy: y.filter((v, i) => v === pred[i]).length / y.length,
    f1_macro: mean(f1),
    f1_weighted: present.reduce((s, k) => s + (M(k) / y.length) * f1(k), 0),
    precision_macro: mean((k) => (Pk(k) ? T(k) / Pk(k) : 0)),
    recall_macro: mean((k) => T(k) / M(k)),
    roc_auc_ovr: aucClasses.reduce((s, k) => s + rankAuc(y, P, k), 0) / aucClasses.length,
    log_loss: -y.reduce((s, v, i) => s + Math.log(Math.min(1 - Number.EPSILON, Math.max(Number.EPSILON, P[i][v])) / P[i].reduce((a, p) => a + Math.min(1 - Number.EPSILON, Math.max(Number.EPSILON, p)), 0)), 0) / y.length,
    K,
  };
}

/** Delete-one jackknife standard error of each statistic f returns (f sees the rows kept). */
function jackknifeSe(n: number, f: (keep: (i: number) => boolean) => Record<string, number>): Record<string, number> {
  const values: Record<string, number>[] = [];
  for (let d = 0; d < n; d++) values.push(f((i) => i !== d));
  const out: Record<string, number> = {};
  for (const name of Object.keys(values[0])) {
    const mean = values.reduce((s, v) => s + v[name], 0) / n;
    out[name] = Math.sqrt(((n - 1) / n) * values.reduce((s, v) => s + (v[name] - mean) ** 2, 0));
  }
  return out;
}

// ---- tests ----------------------------------------------------------------------------------------------------

describe('multiclass metrics', () => {
  test('a case small enough to check by hand: 3 classes, 5 rows', () => {
    // GIVEN rows (label, probabilities): a [.6 .3 .1] right, a [.2 .5 .3] -> b, b [.1 .7 .2] right, c [.3 .3 .4] right, c [.5 .2 .3] -> a
    const e = engine([0, 0, 1, 2, 2], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.7, 0.2], [0.3, 0.3, 0.4], [0.5, 0.2, 0.3]], null, ['a', 'b', 'c']);
    // WHEN
    const o = e.overall();
    const m = (name: string) => o.metrics[name].candidate.value!;
    // THEN
    expect(o.matrix!.candidate).toEqual([[1, 1, 0], [0, 1, 0], [1, 0, 1]]);
    expect(o.support).toEqual([2, 1, 2]);
    expect(m('accuracy')).toBeCloseTo(3 / 5, 12);
    expect(m('precision:a')).toBeCloseTo(1 / 2, 12);
    expect(m('precision:c')).toBeCloseTo(1, 12);
    expect(m('recall:b')).toBeCloseTo(1, 12);
    expect(m('precision_macro')).toBeCloseTo((0.5 + 0.5 + 1) / 3, 12);
    expect(m('recall_macro')).toBeCloseTo((0.5 + 1 + 0.5) / 3, 12);
    expect(m('f1_macro')).toBeCloseTo((1 / 2 + 2 / 3 + 2 / 3) / 3, 12);
    expect(m('f1_weighted')).toBeCloseTo((2 * (1 / 2) + 1 * (2 / 3) + 2 * (2 / 3)) / 5, 12);
    // one-vs-rest AUC: a 4/6; b 4/4; c (3 + 2.5)/6, the .3 vs .3 tie counting one half
    expect(m('roc_auc:a')).toBeCloseTo(4 / 6, 12);
    expect(m('roc_auc:b')).toBeCloseTo(1, 12);
    expect(m('roc_auc:c')).toBeCloseTo(5.5 / 6, 12);
    expect(m('roc_auc_ovr')).toBeCloseTo((4 / 6 + 1 + 5.5 / 6) / 3, 12);
    expect(m('log_loss')).toBeCloseTo(-(Math.log(0.6) + Math.log(0.2) + Math.log(0.7) + Math.log(0.4) + Math.log(0.3)) / 5, 12);
  });

  test('every metric of both models equals scikit-learn 1.2.1 on 400 rows of 4 classes with many tied scores', () => {
    // GIVEN the pinned reference (see test/fixtures/multiclass_reference.py)
    const e = engine(REF.labels, REF.candidate, REF.champion, REF.classes);
    // WHEN
    const o = e.overall();
    // THEN
    for (const [model, key] of [['candidate', 'candidate'], ['champion', 'champion']] as const) {
      const sk = REF.overall[key];
      for (const name of AGGREGATES) expect({ name, model, value: o.metrics[name][model]!.value }).toEqual({ name, model, value: expect.closeTo(sk[name] as number, 10) });
      REF.classes.forEach((c, k) => {
        for (const pm of ['precision', 'recall', 'f1', 'roc_auc'] as const) {
          expect({ name: `${pm}:${c}`, model, value: o.metrics[`${pm}:${c}`][model]!.value }).toEqual({ name: `${pm}:${c}`, model, value: expect.closeTo(sk.per_class[pm][k]!, 10) });
        }
      });
      expect(o.matrix![model]).toEqual(sk.confusion_matrix);
    }
    expect(o.support).toEqual(REF.overall.candidate.per_class.support);
    // and the difference is candidate - champion
    expect(o.metrics.f1_macro.diff!.value).toBeCloseTo((REF.overall.candidate.f1_macro as number) - (REF.overall.champion.f1_macro as number), 10);
  });

  test('in a group without one class, the averages are over the classes present there, as scikit-learn with labels=present', () => {
    // GIVEN a group of 150 rows with no "other" row, some of them predicted "other"
    const e = engine(REF.labels, REF.candidate, REF.champion, REF.classes);
    const groupOf = new Int32Array(REF.labels.length).fill(-1);
    for (const i of REF.subset) groupOf[i] = 0;
    // WHEN
    const [g] = e.groups(groupOf, 1, { perClass: ['recall:other', 'precision:other', 'recall:setosa'] });
    // THEN
    for (const model of ['candidate', 'champion'] as const) {
      for (const name of AGGREGATES) {
        expect({ name, model, value: g.metrics[name][model]!.value }).toEqual({ name, model, value: expect.closeTo(REF.subsetMetrics[model][name] as number, 10) });
      }
    }
    expect(g.metrics.f1_macro.note).toBe('averaged over the 3 of 4 classes with rows here');
    expect(g.metrics.roc_auc_ovr.note).toBe('macro over the 3 of 4 classes with rows here');
    expect(g.metrics['recall:other']).toMatchObject({ candidate: { value: null }, note: 'no "other" rows here' });
    expect(g.metrics['recall:setosa'].candidate.value).toBeCloseTo(REF.subsetMetrics.candidate.per_class.recall[0], 10);
    // only the per-class metrics asked for
    expect(Object.keys(g.metrics).filter((k) => k.includes(':')).sort()).toEqual(['precision:other', 'recall:other', 'recall:setosa']);
    expect(g.support).toEqual([64, 51, 35, 0]);
  });

  test('per-class ROC AUC intervals are DeLong’s, for each model and for the paired difference', () => {
    // GIVEN
    const o = engine(REF.labels, REF.candidate, REF.champion, REF.classes).overall();
    for (const [k, c] of REF.classes.entries()) {
      const m = o.metrics[`roc_auc:${c}`];
      // THEN the candidate's interval half-width is z * sqrt(DeLong variance) (unclipped here)
      const v = delongVariance(REF.labels, REF.candidate, null, k);
      if (m.candidate.hi! < 1) expect(halfWidth(m.candidate)).toBeCloseTo(z95 * Math.sqrt(v), 9);
      // AND the difference's interval uses the paired DeLong variance
      const d = pairwiseAuc(REF.labels, REF.candidate, k) - pairwiseAuc(REF.labels, REF.champion, k);
      const half = z95 * Math.sqrt(delongVariance(REF.labels, REF.candidate, REF.champion, k));
      expect(m.diff!.value).toBeCloseTo(d, 12);
      expect(m.diff!.lo!).toBeCloseTo(d - half, 9);
      expect(m.diff!.hi!).toBeCloseTo(d + half, 9);
    }
  });

  test('intervals of the averages and of their paired differences agree with a delete-one jackknife', () => {
    // GIVEN 400 rows; the jackknife recomputes each metric from its definition 400 times
    const { labels: y, candidate: a, champion: b } = REF;
    const K = REF.classes.length;
    const o = engine(y, a, b, REF.classes).overall();
    const subset = (keep: (i: number) => boolean) => {
      const idx = y.map((_, i) => i).filter(keep);
      return { y: idx.map((i) => y[i]), a: idx.map((i) => a[i]), b: idx.map((i) => b[i]) };
    };
    const se = jackknifeSe(y.length, (keep) => {
      const s = subset(keep);
      const [ma, mb] = [direct(s.y, s.a, K), direct(s.y, s.b, K)];
      return Object.fromEntries(AGGREGATES.flatMap((name) => [[name, ma[name]], [`${name} diff`, ma[name] - mb[name]]]));
    });
    for (const name of AGGREGATES) {
      const m = o.metrics[name];
      // THEN the analytic standard errors are within 5% of the jackknife's, for one model and for the difference
      const ratio = halfWidth(m.candidate) / z95 / se[name];
      const ratioDiff = halfWidth(m.diff!) / z95 / se[`${name} diff`];
      expect({ name, ok: ratio > 0.95 && ratio < 1.05, ratio }).toMatchObject({ name, ok: true });
      expect({ name, ok: ratioDiff > 0.95 && ratioDiff < 1.05, ratioDiff }).toMatchObject({ name, ok: true });
    }
  }, 120000);

  test('many groups at once give each group the numbers an engine of its rows alone gives', () => {
    // GIVEN 3 groups (and rows in none) from a seeded column
    const r = rng(5);
    const codes = new Int32Array(REF.labels.length).map(() => Math.floor(r() * 4) - 1);
    const e = engine(REF.labels, REF.candidate, REF.champion, REF.classes);
    // WHEN
    const groups = e.groups(codes, 3, { perClass: 'all' });
    // THEN
    groups.forEach((g, gi) => {
      const idx = REF.labels.map((_, i) => i).filter((i) => codes[i] === gi);
      const alone = engine(idx.map((i) => REF.labels[i]), idx.map((i) => REF.candidate[i]), idx.map((i) => REF.champion[i]), REF.classes).groups(new Int32Array(idx.length), 1, { perClass: 'all' })[0];
      expect(g.rows).toBe(idx.length);
      for (const [name, m] of Object.entries(alone.metrics)) {
        for (const part of ['candidate', 'champion', 'diff'] as const) {
          for (const f of ['value', 'lo', 'hi'] as const) {
            const want = m[part]![f];
            if (want === null) expect(g.metrics[name][part]![f]).toBeNull();
            else expect({ name, part, f, v: g.metrics[name][part]![f] }).toEqual({ name, part, f, v: expect.closeTo(want, 9) });
          }
        }
      }
    });
  });

  test('slices, crosses and bias gaps work on multiclass metrics', () => {
    // GIVEN two slice columns
    const r = rng(9);
    const region = REF.labels.map(() => ['north', 'south'][Math.floor(r() * 2)]);
    const channel = REF.labels.map(() => ['web', 'app', 'shop'][Math.floor(r() * 3)]);
    const e = engine(REF.labels, REF.candidate, REF.champion, REF.classes);
    // WHEN
    const { slices } = sliceMetrics(e, [encodeColumn('region', region), encodeColumn('channel', channel)], { crosses: true, maxSlices: 100, perClass: ['recall:setosa'] });
    const bias = biasMetrics(e, encodeColumn('region', region), ['accuracy', 'recall:virginica'], 10);
    // THEN 2 + 3 single slices and 6 crosses, each with the aggregates and the per-class metric asked for
    expect(slices).toHaveLength(11);
    const cross = slices.find((s) => s.key === 'region=north & channel=web')!;
    const rows = REF.labels.map((_, i) => i).filter((i) => region[i] === 'north' && channel[i] === 'web');
    expect(cross.rows).toBe(rows.length);
    const want = direct(rows.map((i) => REF.labels[i]), rows.map((i) => REF.candidate[i]), 4);
    expect(cross.metrics.f1_macro.candidate.value).toBeCloseTo(want.f1_macro, 10);
    expect(cross.metrics.roc_auc_ovr.candidate.value).toBeCloseTo(want.roc_auc_ovr, 10);
    expect(cross.metrics['recall:setosa']).toBeDefined();
    // AND the bias gap is the largest minus the smallest group value
    const acc = bias.find((b) => b.metric === 'accuracy')!;
    const values = acc.groups.map((g) => g.candidate.value!);
    expect(acc.gap.candidate).toBeCloseTo(Math.max(...values) - Math.min(...values), 12);
    expect(bias.find((b) => b.metric === 'recall:virginica')!.groups.every((g) => g.candidate.value !== null)).toBe(true);
  });

  test('a first run has no champion columns; one class in a group leaves the AUC uncomputable, with the reason', () => {
    const e = engine([0, 0, 0, 1, 2, 2], [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], null, ['x', 'y', 'z']);
    const o = e.overall();
    expect(o.metrics.accuracy.champion).toBeNull();
    expect(o.metrics.accuracy.diff).toBeNull();
    const [only] = e.groups(Int32Array.from([0, 0, 0, -1, -1, -1]), 1);
    expect(only.metrics.roc_auc_ovr).toMatchObject({ candidate: { value: null }, note: 'only one class in these rows' });
    expect(only.metrics.accuracy.candidate.value).toBe(1);
    const [empty] = e.groups(new Int32Array(6).fill(-1), 1);
    expect(empty.rows).toBe(0);
    expect(empty.metrics.f1_macro.note).toBe('no rows');
  });

  test('the radix sort behind every AUC orders like a comparator sort: descending, ties by row, -0 as 0, strided columns', () => {
    const r = rng(17);
    const cases: [string, () => number][] = [
      ['4-decimal probabilities (ties)', () => Math.round(r() * 1e4) / 1e4],
      ['full doubles', () => r()],
      ['negative and positive values, zeros of both signs', () => (r() < 0.1 ? (r() < 0.5 ? 0 : -0) : (r() - 0.5) * 1e6)],
    ];
    for (const [what, gen] of cases) {
      const s = Float64Array.from({ length: 3 * 9000 }, gen);
      for (const [from, stride] of [[0, 1], [1, 3]]) {
        const n = Math.floor((s.length - from + stride - 1) / stride);
        const col = Array.from({ length: n }, (_, i) => s[from + i * stride]);
        const want = col.map((_, i) => i).sort((i, j) => col[j] - col[i] || i - j);
        const { order, newBlock } = sortDescending(s, from, stride);
        expect({ what, from, same: Array.from(order).every((v, k) => v === want[k]) }).toEqual({ what, from, same: true });
        expect(Array.from(newBlock).every((v, k) => v === (k === 0 || col[want[k]] !== col[want[k - 1]] ? 1 : 0))).toBe(true);
      }
    }
  });

  test('bad rows are refused with the row named', () => {
    expect(() => engine([0, 3], [[0.5, 0.5, 0], [0.2, 0.3, 0.5]], null, ['a', 'b', 'c'])).toThrow('row 2: label must be a class index in [0, 2], but got 3');
    expect(() => engine([0, 1], [[0.5, 0.5, 0], [1.2, -0.2, 0]], null, ['a', 'b', 'c'])).toThrow('row 2: candidate probability of class "a" must be in [0, 1], but got 1.2');
    expect(() => engine([0, 1], [[0.5, 0.5], [0.5, 0.5]], null, ['a', 'b', 'c'])).toThrow(/need 6 probabilities per model, but got 4/);
  });
});

export type { GroupMetrics };
