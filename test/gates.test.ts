import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { BiasResult, Estimate, GroupMetrics, judge, MetricComparison, SliceMetrics } from '../lambdas/shared/metrics';

const e = (value: number | null, lo: number | null = value, hi: number | null = value): Estimate => ({ value, lo, hi });
/** A metric whose candidate - champion difference has the interval [lo, hi]. */
const cmp = (candidate: number, champion: number | null, lo?: number, hi?: number): MetricComparison => ({
  candidate: e(candidate, candidate - 0.02, candidate + 0.02),
  champion: champion === null ? null : e(champion, champion - 0.02, champion + 0.02),
  diff: champion === null ? null : e(candidate - champion, lo ?? candidate - champion, hi ?? candidate - champion),
});
const group = (rows: number, metrics: Record<string, MetricComparison>): GroupMetrics => ({ rows, positives: Math.round(rows / 3), metrics, confusion: null });
const slice = (key: string, rows: number, metrics: Record<string, MetricComparison>): SliceMetrics => ({
  ...group(rows, metrics), key, columns: [key.split('=')[0]], values: [key.split('=')[1]],
});
const evaluation = (input: RelearnConfigInput['evaluation']) => parseConfig({ evaluation: input }).evaluation;

describe('the deployment gate', () => {
  test('better overall but worse on one slice: rejected, and the reason names the slice', () => {
    // GIVEN
    const verdict = judge({
      config: evaluation({ gates: { noRegression: { metrics: ['roc_auc'], tolerance: 0.01 }, slices: { minRows: 200, noRegression: { metrics: ['roc_auc'], tolerance: 0.02 } } } }),
      overall: group(10000, { roc_auc: cmp(0.86, 0.82, 0.03, 0.05) }),
      slices: [
        slice('country=DE', 5000, { roc_auc: cmp(0.9, 0.83, 0.05, 0.09) }),
        slice('country=FR', 800, { roc_auc: cmp(0.7, 0.8, -0.14, -0.06) }),
      ],
      bias: [],
      firstRun: false,
      unscoredRows: 0,
    });
    // THEN
    expect(verdict.deploy).toBe(false);
    expect(verdict.reasons[0]).toBe('Do not deploy: 1 of 4 gate checks failed.');
    expect(verdict.reasons[1]).toMatch(/^roc_auc on slice country=FR \(800 rows\): candidate 0\.7 vs champion 0\.8 \(-0\.1, 95% CI -0\.14\.\.-0\.06\): worse beyond the tolerance of 0\.02$/);
    expect(verdict.gates.find((g) => g.id === 'no_regression:roc_auc')!.pass).toBe(true);
  });

  test.each([
    ['pass', true],
    ['fail', false],
  ] as const)('a difference within noise of the tolerance is judged as configured (withinNoise: %s)', (withinNoise, deploys) => {
    // GIVEN a candidate 0.005 worse whose interval straddles zero
    const verdict = judge({
      config: evaluation({ gates: { noRegression: { metrics: ['roc_auc'], tolerance: 0, withinNoise } } }),
      overall: group(2000, { roc_auc: cmp(0.815, 0.82, -0.03, 0.02) }),
      slices: [],
      bias: [],
      firstRun: false,
      unscoredRows: 0,
    });
    // THEN
    expect(verdict.deploy).toBe(deploys);
    const gate = verdict.gates.find((g) => g.id === 'no_regression:roc_auc')!;
    expect(gate.withinNoise).toBe(true);
    expect(gate.reason).toMatch(new RegExp(`within noise of zero tolerance, which the config counts as a ${withinNoise}$`));
    if (deploys) expect(verdict.reasons.join('\n')).toMatch(/within noise and counted as passed/);
  });

  test('a clear improvement passes even with withinNoise: fail', () => {
    const verdict = judge({
      config: evaluation({ gates: { noRegression: { metrics: ['roc_auc', 'log_loss'], tolerance: 0.001, withinNoise: 'fail' } } }),
      overall: group(2000, { roc_auc: cmp(0.85, 0.8, 0.02, 0.08), log_loss: cmp(0.4, 0.45, -0.07, -0.03) }),
      slices: [], bias: [], firstRun: false, unscoredRows: 0,
    });
    expect(verdict.deploy).toBe(true);
    expect(verdict.reasons[0]).toBe('Deploy: all 3 gate checks passed.');
  });

  test('for lower-is-better metrics a rise is the regression', () => {
    const verdict = judge({
      config: evaluation({ gates: { noRegression: { metrics: ['log_loss'], tolerance: 0.01 } } }),
      overall: group(2000, { log_loss: cmp(0.5, 0.42, 0.05, 0.11) }),
      slices: [], bias: [], firstRun: false, unscoredRows: 0,
    });
    expect(verdict.deploy).toBe(false);
    expect(verdict.reasons[1]).toMatch(/^log_loss: candidate 0\.5 vs champion 0\.42 \(\+0\.08, 95% CI \+0\.05\.\.\+0\.11\): worse beyond the tolerance of 0\.01$/);
  });

  test('first run: only the absolute gates apply, and the decision says so', () => {
    // GIVEN no champion, a floor the candidate clears and no-regression checks that cannot apply
    const config = evaluation({ gates: { min: { roc_auc: 0.7 }, noRegression: { metrics: ['roc_auc'] }, slices: { minRows: 100, min: { recall: 0.5 }, noRegression: { metrics: ['roc_auc'] } } } });
    const input = {
      config,
      overall: group(1000, { roc_auc: cmp(0.8, null), recall: cmp(0.7, null) }),
      slices: [slice('plan=pro', 400, { roc_auc: cmp(0.78, null), recall: cmp(0.6, null) })],
      bias: [],
      firstRun: true,
      unscoredRows: 0,
    };
    // WHEN
    const verdict = judge(input);
    // THEN
    expect(verdict.deploy).toBe(true);
    expect(verdict.gates.find((g) => g.id === 'no_regression:roc_auc')!.status).toBe('skipped');
    expect(verdict.reasons).toContain('First run: no champion to compare with, so only the absolute gates were applied; every no-regression check was skipped.');
    // and the absolute gates still bite on a first run
    const low = judge({ ...input, slices: [slice('plan=pro', 400, { roc_auc: cmp(0.78, null), recall: cmp(0.4, null) })] });
    expect(low.deploy).toBe(false);
    expect(low.reasons[1]).toBe('recall on slice plan=pro (400 rows) is 0.4, below the floor of 0.5');
  });

  test('no gates configured: the safe default applies, and it is not "always deploy"', () => {
    const config = evaluation({});
    const base = { config, slices: [], bias: [], firstRun: false, unscoredRows: 0 };
    // a candidate clearly worse than the champion is refused
    const worse = judge({ ...base, overall: group(5000, { roc_auc: cmp(0.75, 0.8, -0.07, -0.03) }) });
    expect(worse.source).toBe('default');
    expect(worse.deploy).toBe(false);
    expect(worse.reasons.join('\n')).toMatch(/No gates configured: the safe default gate applied \(roc_auc >= 0\.6; no regression of roc_auc beyond 1% of the champion's value/);
    // the default tolerance is relative: 1% of the champion's 0.8
    expect(worse.reasons[1]).toBe("roc_auc: candidate 0.75 vs champion 0.8 (-0.05, 95% CI -0.07..-0.03): worse beyond the tolerance of 0.008 (1% of the champion's 0.8)");
    // a first-run model no better than chance is refused
    const chance = judge({ ...base, firstRun: true, overall: group(5000, { roc_auc: cmp(0.52, null) }) });
    expect(chance.deploy).toBe(false);
    expect(chance.reasons[1]).toBe('roc_auc is 0.52, below the floor of 0.6');
    // a sound improvement passes
    expect(judge({ ...base, overall: group(5000, { roc_auc: cmp(0.85, 0.8, 0.03, 0.07) }) }).deploy).toBe(true);
    // regression problems get their own default
    expect(judge({ ...base, config: evaluation({ problemType: 'regression' }), firstRun: true, overall: group(500, { rmse: cmp(3, null), r2: cmp(-0.2, null) }) }).deploy).toBe(false);
  });

  test('slices under minRows are reported but not gated; a metric a slice cannot compute is skipped, overall it fails', () => {
    const config = evaluation({ gates: { min: { roc_auc: 0.6 }, slices: { minRows: 500, min: { roc_auc: 0.7 } } } });
    const nan: MetricComparison = { candidate: e(null), champion: null, diff: null, note: 'only one class in these rows' };
    const verdict = judge({
      config,
      overall: group(3000, { roc_auc: cmp(0.8, null) }),
      slices: [slice('a=tiny', 40, { roc_auc: cmp(0.3, null) }), slice('a=oneclass', 600, { roc_auc: nan })],
      bias: [], firstRun: true, unscoredRows: 0,
    });
    expect(verdict.deploy).toBe(true);
    expect(verdict.gates.map((g) => g.id)).not.toContain('slice_min:roc_auc@a=tiny');
    expect(verdict.gates.find((g) => g.id === 'slice_min:roc_auc@a=oneclass')!.status).toBe('skipped');
    expect(verdict.reasons).toContain('1 slice(s) with fewer than 500 rows were reported but not gated.');
    const overallNan = judge({ config, overall: group(3000, { roc_auc: nan }), slices: [], bias: [], firstRun: true, unscoredRows: 0 });
    expect(overallNan.deploy).toBe(false);
    expect(overallNan.reasons[1]).toBe('roc_auc cannot be computed (only one class in these rows): the floor cannot be checked');
  });

  test('a bias gap over the limit fails and names the groups; unscored validation rows fail coverage', () => {
    const bias: BiasResult = {
      column: 'gender', metric: 'recall', minRows: 100,
      groups: [{ value: 'f', rows: 500, candidate: e(0.6), champion: e(0.65) }, { value: 'm', rows: 500, candidate: e(0.75), champion: e(0.7) }],
      gap: { candidate: 0.15, champion: 0.05 }, highest: 'm', lowest: 'f',
    };
    const verdict = judge({
      config: evaluation({ gates: { bias: { columns: ['gender'], metrics: ['recall'], maxGap: 0.1 } } }),
      overall: group(1000, {}), slices: [], bias: [bias], firstRun: false, unscoredRows: 3,
    });
    expect(verdict.deploy).toBe(false);
    expect(verdict.reasons).toContain("recall gap across gender is 0.15 (m highest, f lowest); champion's gap 0.05, over the limit of 0.1");
    expect(verdict.reasons).toContain('3 validation rows have no prediction: the training script must score every validation row');
  });

  test('config: a metric that does not fit the problem type is refused with the field named', () => {
    expect(() => parseConfig({ evaluation: { problemType: 'regression', gates: { min: { roc_auc: 0.7 } } } })).toThrow(/evaluation\.gates\.min\.roc_auc: metric "roc_auc" does not apply to regression/);
    expect(() => parseConfig({ evaluation: { gates: { min: { auc: 0.7 } } } })).toThrow(/evaluation\.gates\.min/);
  });
});
