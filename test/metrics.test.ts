import { encodeColumn, MetricsEngine, normalQuantile, OTHER, sliceMetrics, wilson, biasMetrics } from '../lambdas/shared/metrics';
import { mulberry32 as rng } from '../lambdas/shared/random';

// ---- independent reference implementations (brute force, straight from the definitions) ----

/** P(score of a random positive > score of a random negative), ties one half: all pairs. */
function pairwiseAuc(y: number[], s: number[]): number {
  let sum = 0, pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      sum += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

/** Average precision as scikit-learn defines it: sum over distinct thresholds of (R_k - R_k-1) * P_k. */
function averagePrecision(y: number[], s: number[]): number {
  const thresholds = [...new Set(s)].sort((a, b) => b - a);
  const P = y.filter((v) => v === 1).length;
  let ap = 0, prevRecall = 0;
  for (const t of thresholds) {
    let tp = 0, fp = 0;
    s.forEach((v, i) => {
      if (v >= t) (y[i] ? tp++ : fp++);
    });
    const recall = tp / P;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

/** DeLong's variance of the AUC difference from its structural components, computed pair by pair. */
function delongDiffVariance(y: number[], a: number[], b: number[]): number {
  const pos = y.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
  const neg = y.map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
  const psi = (x: number, z: number) => (x > z ? 1 : x === z ? 0.5 : 0);
  const v10 = (s: number[]) => pos.map((i) => neg.reduce((acc, j) => acc + psi(s[i], s[j]), 0) / neg.length);
  const v01 = (s: number[]) => neg.map((j) => pos.reduce((acc, i) => acc + psi(s[i], s[j]), 0) / pos.length);
  const cov = (u: number[], w: number[]) => {
    const mu = u.reduce((x, v) => x + v, 0) / u.length;
    const mw = w.reduce((x, v) => x + v, 0) / w.length;
    return u.reduce((x, v, k) => x + (v - mu) * (w[k] - mw), 0) / (u.length - 1);
  };
  const [xa, xb, ya, yb] = [v10(a), v10(b), v01(a), v01(b)];
  return (cov(xa, xa) + cov(xb, xb) - 2 * cov(xa, xb)) / pos.length + (cov(ya, ya) + cov(yb, yb) - 2 * cov(ya, yb)) / neg.length;
}

function engine(y: number[], cand: number[], champ: number[] | null, threshold = 0.5, problemType: 'binary_classification' | 'regression' = 'binary_classification') {
  return new MetricsEngine(
    { labels: Float64Array.from(y), candidate: Float64Array.from(cand), champion: champ ? Float64Array.from(champ) : null },
    { problemType, threshold, confidence: 0.95 },
  );
}

/** Tied scores on purpose: rounded to one decimal. */
function tiedData(n: number, seed: number) {
  const r = rng(seed);
  const y: number[] = [], a: number[] = [], b: number[] = [], g: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = r() < 0.4 ? 1 : 0;
    y.push(label);
    a.push(Math.round(Math.min(1, Math.max(0, 0.5 + (label ? 0.2 : -0.2) + (r() - 0.5) * 0.8)) * 10) / 10);
    b.push(Math.round(Math.min(1, Math.max(0, 0.5 + (label ? 0.1 : -0.1) + (r() - 0.5) * 0.8)) * 10) / 10);
    g.push(['x', 'y', 'z'][Math.floor(r() * 3)]);
  }
  return { y, a, b, g };
}

describe('classification metrics', () => {
  test('a tiny textbook case: ROC AUC 0.75, average precision 0.8333 (scikit-learn values)', () => {
    // GIVEN
    const e = engine([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], null);
    // WHEN
    const m = e.overall().metrics;
    // THEN
    expect(m.roc_auc.candidate.value).toBeCloseTo(0.75, 12);
    expect(m.pr_auc.candidate.value).toBeCloseTo(0.8333333333, 9);
    expect(m.roc_auc.champion).toBeNull();
    expect(m.roc_auc.diff).toBeNull();
  });

  test('with many ties, every metric matches a brute-force computation from its definition', () => {
    // GIVEN 600 rows whose scores take only 11 values
    const { y, a, b } = tiedData(600, 1);
    // WHEN
    const o = engine(y, a, b, 0.5).overall();
    // THEN
    expect(o.metrics.roc_auc.candidate.value).toBeCloseTo(pairwiseAuc(y, a), 12);
    expect(o.metrics.roc_auc.champion!.value).toBeCloseTo(pairwiseAuc(y, b), 12);
    expect(o.metrics.pr_auc.candidate.value).toBeCloseTo(averagePrecision(y, a), 12);
    expect(o.metrics.pr_auc.champion!.value).toBeCloseTo(averagePrecision(y, b), 12);
    const tp = y.filter((v, i) => v === 1 && a[i] >= 0.5).length;
    const fp = y.filter((v, i) => v === 0 && a[i] >= 0.5).length;
    const fn = y.filter((v, i) => v === 1 && a[i] < 0.5).length;
    const tn = y.length - tp - fp - fn;
    expect(o.confusion!.candidate).toEqual({ tp, fp, tn, fn });
    expect(o.metrics.accuracy.candidate.value).toBeCloseTo((tp + tn) / y.length, 12);
    expect(o.metrics.precision.candidate.value).toBeCloseTo(tp / (tp + fp), 12);
    expect(o.metrics.recall.candidate.value).toBeCloseTo(tp / (tp + fn), 12);
    expect(o.metrics.specificity.candidate.value).toBeCloseTo(tn / (tn + fp), 12);
    expect(o.metrics.f1.candidate.value).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 12);
    expect(o.metrics.positive_rate.candidate.value).toBeCloseTo((tp + fp) / y.length, 12);
    const eps = 1e-15;
    const ll = y.reduce((s, v, i) => s - (v ? Math.log(Math.max(eps, a[i])) : Math.log(Math.max(eps, 1 - a[i]))), 0) / y.length;
    expect(o.metrics.log_loss.candidate.value).toBeCloseTo(ll, 10);
    expect(o.metrics.brier.candidate.value).toBeCloseTo(y.reduce((s, v, i) => s + (a[i] - v) ** 2, 0) / y.length, 12);
    // the difference is candidate - champion, and its interval is DeLong's
    const d = pairwiseAuc(y, a) - pairwiseAuc(y, b);
    expect(o.metrics.roc_auc.diff!.value).toBeCloseTo(d, 12);
    const half = 1.959963984540054 * Math.sqrt(delongDiffVariance(y, a, b));
    expect(o.metrics.roc_auc.diff!.lo!).toBeCloseTo(d - half, 9);
    expect(o.metrics.roc_auc.diff!.hi!).toBeCloseTo(d + half, 9);
  });

  test('the overall average-precision difference gets a seeded paired-bootstrap interval that agrees with a brute-force bootstrap', () => {
    // GIVEN
    const { y, a, b } = tiedData(500, 21);
    // WHEN
    const first = engine(y, a, b).overall().metrics.pr_auc;
    const again = engine(y, a, b).overall().metrics.pr_auc;
    // THEN deterministic, and around the point estimate
    expect(again.diff).toEqual(first.diff);
    const d = averagePrecision(y, a) - averagePrecision(y, b);
    expect(first.diff!.value).toBeCloseTo(d, 12);
    expect(first.diff!.lo!).toBeLessThan(d);
    expect(first.diff!.hi!).toBeGreaterThan(d);
    // and as wide as a textbook bootstrap (resampling rows with replacement, another RNG)
    const r = rng(99);
    const ds: number[] = [];
    for (let k = 0; k < 400; k++) {
      const idx = y.map(() => Math.floor(r() * y.length));
      ds.push(averagePrecision(idx.map((i) => y[i]), idx.map((i) => a[i])) - averagePrecision(idx.map((i) => y[i]), idx.map((i) => b[i])));
    }
    ds.sort((p, q) => p - q);
    const width = ds[389] - ds[10];
    expect((first.diff!.hi! - first.diff!.lo!) / width).toBeGreaterThan(0.75);
    expect((first.diff!.hi! - first.diff!.lo!) / width).toBeLessThan(1.33);
  });

  test('a score exactly at the threshold counts as positive', () => {
    const o = engine([1, 0], [0.5, 0.49], null, 0.5).overall();
    expect(o.confusion!.candidate).toEqual({ tp: 1, fp: 0, tn: 1, fn: 0 });
  });

  test('a single class: AUC is not computable and says why; recall on all-negative rows likewise', () => {
    // GIVEN only negatives
    const o = engine([0, 0, 0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.3]).overall();
    // THEN
    expect(o.metrics.roc_auc.candidate.value).toBeNull();
    expect(o.metrics.roc_auc.note).toBe('only one class in these rows');
    expect(o.metrics.recall.candidate.value).toBeNull();
    expect(o.metrics.recall.note).toBe('no positive rows');
    expect(o.metrics.specificity.candidate.value).toBeCloseTo(2 / 3, 12);
    expect(o.metrics.accuracy.diff!.value).toBeCloseTo(2 / 3 - 1, 12);
  });

  test('intervals: Wilson for proportions, and the interval narrows with more rows', () => {
    // Wilson 95% for 8/10, a textbook value
    const [lo, hi] = wilson(8, 10, normalQuantile(0.975));
    expect(lo).toBeCloseTo(0.4902, 4);
    expect(hi).toBeCloseTo(0.9433, 4);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    const small = engine(...(Object.values(tiedData(100, 3)).slice(0, 3) as [number[], number[], number[]])).overall();
    const large = engine(...(Object.values(tiedData(5000, 3)).slice(0, 3) as [number[], number[], number[]])).overall();
    const width = (m: typeof small) => m.metrics.roc_auc.diff!.hi! - m.metrics.roc_auc.diff!.lo!;
    expect(width(large)).toBeLessThan(width(small) / 3);
    const acc = large.metrics.accuracy.candidate;
    expect(acc.lo!).toBeLessThan(acc.value!);
    expect(acc.hi!).toBeGreaterThan(acc.value!);
  });

  test('bad input names the row: a label that is not 0/1, a score outside [0, 1]', () => {
    const mk = (labels: number[], cand: number[]) =>
      new MetricsEngine({ ids: ['a', 'b'], labels: Float64Array.from(labels), candidate: Float64Array.from(cand), champion: null }, { problemType: 'binary_classification', threshold: 0.5, confidence: 0.95 });
    expect(() => mk([0, 2], [0.1, 0.2])).toThrow('row id "b": label must be 0 or 1 for binary_classification, but got 2');
    expect(() => mk([0, 1], [1.5, 0.2])).toThrow('row id "a": candidate score must be a probability in [0, 1], but got 1.5');
  });
});

describe('slices', () => {
  test('per-slice metrics equal the metrics of the slice computed on its own, crosses included', () => {
    // GIVEN
    const { y, a, b, g } = tiedData(900, 5);
    const h = y.map((_, i) => (i % 2 ? 'odd' : 'even'));
    const e = engine(y, a, b);
    // WHEN
    const { slices, omitted } = sliceMetrics(e, [encodeColumn('g', g), encodeColumn('h', h)], { crosses: true, maxSlices: 100 });
    // THEN
    expect(omitted).toBe(0);
    expect(slices.map((s) => s.key)).toEqual(expect.arrayContaining(['g=x', 'g=y', 'g=z', 'h=odd', 'h=even', 'g=x & h=odd', 'g=z & h=even']));
    for (const s of slices) {
      const rows = y.map((_, i) => i).filter((i) => s.columns.every((c, k) => (c === 'g' ? g[i] : h[i]) === s.values[k]));
      expect(s.rows).toBe(rows.length);
      const ys = rows.map((i) => y[i]);
      expect(s.metrics.roc_auc.candidate.value).toBeCloseTo(pairwiseAuc(ys, rows.map((i) => a[i])), 12);
      expect(s.metrics.roc_auc.diff!.value).toBeCloseTo(pairwiseAuc(ys, rows.map((i) => a[i])) - pairwiseAuc(ys, rows.map((i) => b[i])), 12);
      expect(s.metrics.pr_auc.candidate.value).toBeCloseTo(averagePrecision(ys, rows.map((i) => a[i])), 12);
      expect(s.positives).toBe(ys.filter((v) => v === 1).length);
    }
  });

  test('empty slices are left out, and a group with no rows reports nothing computable', () => {
    // GIVEN a cross where one combination never occurs
    const y = [0, 1, 0, 1];
    const e = engine(y, [0.1, 0.9, 0.2, 0.8], null);
    const { slices } = sliceMetrics(e, [encodeColumn('a', ['p', 'p', 'q', 'q']), encodeColumn('b', ['u', 'v', 'u', 'v'])], { crosses: true, maxSlices: 100 });
    expect(slices.map((s) => s.key).sort()).toEqual(['a=p', 'a=p & b=u', 'a=p & b=v', 'a=q', 'a=q & b=u', 'a=q & b=v', 'b=u', 'b=v']);
    expect(slices.find((s) => s.key === 'b=u')!.metrics.roc_auc.note).toBe('only one class in these rows');
    // WHEN a group has no rows at all
    const [empty] = e.groups(new Int32Array([-1, -1, -1, -1]), 1);
    // THEN
    expect(empty.rows).toBe(0);
    expect(empty.metrics.roc_auc.candidate.value).toBeNull();
    expect(empty.metrics.accuracy.candidate.value).toBeNull();
  });

  test('a high-cardinality column keeps its 50 most frequent values and pools the rest', () => {
    const values = Array.from({ length: 300 }, (_, i) => (i < 100 ? 'big' : `v${i}`));
    const col = encodeColumn('zip', values);
    expect(col.values).toHaveLength(51);
    expect(col.values[0]).toBe('big');
    expect(col.values[50]).toBe(OTHER);
    expect(col.codes.filter((c) => c === 50).length).toBe(300 - 100 - 49);
    expect(encodeColumn('c', ['a', null, '']).values).toEqual(['(missing)', 'a']);
  });

  test('maxSlices keeps single-column slices first, then the largest crosses', () => {
    const { y, a, g } = tiedData(300, 9);
    const h = y.map((_, i) => (i % 3 === 0 ? 'k' : 'l'));
    const { slices, omitted } = sliceMetrics(engine(y, a, null), [encodeColumn('g', g), encodeColumn('h', h)], { crosses: true, maxSlices: 6 });
    expect(slices.slice(0, 5).every((s) => s.columns.length === 1)).toBe(true);
    expect(slices[5].columns).toHaveLength(2);
    expect(omitted).toBe(5);
  });
});

describe('bias', () => {
  test('the gap is the largest minus the smallest group value, small groups left out', () => {
    // GIVEN recall 1.0 for group a, 0.5 for group b, and a tiny group c with recall 0
    const y = [1, 1, 0, 1, 1, 0, 1];
    const s = [0.9, 0.8, 0.1, 0.9, 0.2, 0.1, 0.1];
    const grp = ['a', 'a', 'a', 'b', 'b', 'b', 'c'];
    const [recall] = biasMetrics(engine(y, s, null), encodeColumn('grp', grp), ['recall'], 2);
    expect(recall.groups.map((x) => [x.value, x.candidate.value])).toEqual([['a', 1], ['b', 0.5], ['c', 0]]);
    expect(recall.gap.candidate).toBeCloseTo(0.5, 12);
    expect([recall.highest, recall.lowest]).toEqual(['a', 'b']);
  });
});

describe('regression metrics', () => {
  test('RMSE, MAE and R2 match their definitions, with the difference vs the champion', () => {
    const r = rng(11);
    const y = Array.from({ length: 400 }, () => 10 * r());
    const a = y.map((v) => v + (r() - 0.5));
    const b = y.map((v) => v + (r() - 0.5) * 3);
    const m = engine(y, a, b, 0.5, 'regression').overall().metrics;
    const mean = y.reduce((s, v) => s + v, 0) / y.length;
    const sst = y.reduce((s, v) => s + (v - mean) ** 2, 0);
    const sse = (p: number[]) => y.reduce((s, v, i) => s + (p[i] - v) ** 2, 0);
    expect(m.rmse.candidate.value).toBeCloseTo(Math.sqrt(sse(a) / y.length), 10);
    expect(m.mae.candidate.value).toBeCloseTo(y.reduce((s, v, i) => s + Math.abs(a[i] - v), 0) / y.length, 10);
    expect(m.r2.candidate.value).toBeCloseTo(1 - sse(a) / sst, 10);
    expect(m.r2.diff!.value).toBeCloseTo(sse(b) / sst - sse(a) / sst, 10);
    expect(m.rmse.diff!.hi!).toBeLessThan(0);
  });
});

describe('calibration bins', () => {
  test('each bin counts its rows, their mean score and positive rate, as computed row by row here', () => {
    // GIVEN scores on bin edges (0.1 belongs to bin 1, 1.0 to the last bin) and a known label per row
    const scores = [0, 0.05, 0.1, 0.15, 0.5, 0.55, 0.95, 1.0, 0.3, 0.35];
    const labels = [0, 0, 1, 0, 1, 1, 1, 1, 0, 1];
    // WHEN
    const bins = engine(labels, scores, null).curves(200, 10)!.candidate.calibration;
    // THEN: an independent reference
    expect(bins).toHaveLength(10);
    for (let b = 0; b < 10; b++) {
      const rows = scores.map((s, i) => ({ s, y: labels[i] })).filter(({ s }) => (b === 9 ? s >= 0.9 : s >= b / 10 && s < (b + 1) / 10));
      expect(bins[b].lo).toBeCloseTo(b / 10, 12);
      expect(bins[b].hi).toBeCloseTo((b + 1) / 10, 12);
      expect(bins[b].rows).toBe(rows.length);
      if (rows.length === 0) {
        expect(bins[b].meanScore).toBeNull();
        expect(bins[b].positiveRate).toBeNull();
      } else {
        expect(bins[b].meanScore).toBeCloseTo(rows.reduce((a, r) => a + r.s, 0) / rows.length, 12);
        expect(bins[b].positiveRate).toBeCloseTo(rows.reduce((a, r) => a + r.y, 0) / rows.length, 12);
        expect(bins[b].positiveRateLo!).toBeLessThanOrEqual(bins[b].positiveRate!);
        expect(bins[b].positiveRateHi!).toBeGreaterThanOrEqual(bins[b].positiveRate!);
      }
    }
    expect(bins.reduce((a, b) => a + b.rows, 0)).toBe(scores.length);
  });
});
