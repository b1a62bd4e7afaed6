import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeEvaluation } from '../lambdas/evaluate/core';
import { ConfigError, defaultMetricDefinitions, parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { encodeColumn, Estimate, GroupMetrics, judge, MetricComparison, smallValidationWarning } from '../lambdas/shared/metrics';
import { predictionTable, ScoredRow } from '../lambdas/shared/predictions';
import { mulberry32 as rng } from '../lambdas/shared/random';

/** Gates that make sense per problem type: metric names, relative tolerance, gates on multiclass metrics, small sets. */

const e = (value: number | null, lo: number | null = value, hi: number | null = value): Estimate => ({ value, lo, hi });
const cmp = (candidate: number, champion: number | null, lo?: number, hi?: number): MetricComparison => ({
  candidate: e(candidate, candidate * 0.98, candidate * 1.02),
  champion: champion === null ? null : e(champion, champion * 0.98, champion * 1.02),
  diff: champion === null ? null : e(candidate - champion, lo ?? candidate - champion, hi ?? candidate - champion),
});
const group = (rows: number, metrics: Record<string, MetricComparison>, extra: Partial<GroupMetrics> = {}): GroupMetrics => ({ rows, positives: null, metrics, confusion: null, ...extra });
const evaluation = (input: RelearnConfigInput['evaluation']) => parseConfig({ evaluation: input }).evaluation;
const problems = (input: unknown): string[] => {
  try {
    parseConfig(input);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('configuration per problem type', () => {
  test('each problem type has its default primary metric, default gate floor and default metric definitions', () => {
    const bin = parseConfig({});
    const multi = parseConfig({ evaluation: { problemType: 'multiclass_classification' } });
    const reg = parseConfig({ evaluation: { problemType: 'regression' } });
    expect([bin, multi, reg].map((c) => c.evaluation.primaryMetric)).toEqual(['roc_auc', 'roc_auc_ovr', 'rmse']);
    expect(bin.training.metricDefinitions.map((m) => m.name)).toEqual(['validation:roc_auc', 'validation:accuracy']);
    expect(multi.training.metricDefinitions.map((m) => m.name)).toEqual([
      'validation:accuracy', 'validation:f1_macro', 'validation:f1_weighted', 'validation:precision_macro', 'validation:recall_macro', 'validation:roc_auc_ovr', 'validation:log_loss',
    ]);
    expect(reg.training.metricDefinitions).toEqual(defaultMetricDefinitions('regression'));
    // the regex reads the value of that metric's line only (f1 must not match f1_macro)
    const f1 = new RegExp(defaultMetricDefinitions('multiclass_classification').find((m) => m.name === 'validation:f1_macro')!.regex);
    expect('validation:f1_macro=0.8123'.match(f1)![1]).toBe('0.8123');
    expect('validation:r2=-0.25'.match(new RegExp(reg.training.metricDefinitions[2].regex))![1]).toBe('-0.25');
    // a configured list is kept as it is
    const own = parseConfig({ evaluation: { problemType: 'regression' }, training: { metricDefinitions: [{ name: 'val:mape', regex: 'mape=([0-9.]+)' }] } });
    expect(own.training.metricDefinitions).toEqual([{ name: 'val:mape', regex: 'mape=([0-9.]+)' }]);
  });

  test('every gate kind is checked against the metrics of the problem type, with a message naming the field', () => {
    expect(problems({ evaluation: { problemType: 'multiclass_classification', gates: { min: { roc_auc: 0.7 } } } })).toEqual([
      'evaluation.gates.min.roc_auc: metric "roc_auc" does not apply to multiclass_classification (one of: accuracy, f1_macro, f1_weighted, precision_macro, recall_macro, roc_auc_ovr, log_loss, or per class precision:<class>, recall:<class>, f1:<class>, roc_auc:<class>)',
    ]);
    const multiBad = problems({
      evaluation: {
        problemType: 'multiclass_classification',
        primaryMetric: 'rmse',
        gates: {
          max: { brier: 0.2 },
          noRegression: { metrics: ['f1'] },
          slices: { min: { positive_rate: 0.1 }, max: { mae: 1 }, noRegression: { metrics: ['pr_auc'] } },
          bias: { columns: ['g'], metrics: ['specificity'] },
        },
      },
    });
    expect(multiBad.map((p) => p.split(':')[0])).toEqual([
      'evaluation.primaryMetric', 'evaluation.gates.max.brier', 'evaluation.gates.noRegression.metrics.0', 'evaluation.gates.slices.min.positive_rate',
      'evaluation.gates.slices.max.mae', 'evaluation.gates.slices.noRegression.metrics.0', 'evaluation.gates.bias.metrics.0',
    ]);
    expect(problems({ evaluation: { problemType: 'regression', gates: { min: { 'recall:a': 0.5 } } } })[0]).toMatch(/^evaluation\.gates\.min\.recall:a: unknown metric "recall:a" \(regression: one of rmse, mae, r2\)$/);
    expect(problems({ evaluation: { gates: { min: { accuracy_ovr: 0.5 } } } })[0]).toMatch(/unknown metric "accuracy_ovr" \(binary_classification: one of roc_auc, pr_auc/);
    expect(problems({ evaluation: { problemType: 'multiclass', gates: {} } })[0]).toMatch(/^evaluation\.problemType: /);
    // per-class names are fine for multiclass
    expect(problems({ evaluation: { problemType: 'multiclass_classification', gates: { slices: { min: { 'recall:fraud': 0.5 } }, bias: { columns: ['g'], metrics: ['f1:fraud'] } } } })).toEqual([]);
  });

  test('bias metrics default per problem type; regression must name them', () => {
    expect(parseConfig({ evaluation: { gates: { bias: { columns: ['g'] } } } }).evaluation.gates!.bias!.metrics).toEqual(['recall', 'positive_rate']);
    expect(parseConfig({ evaluation: { problemType: 'multiclass_classification', gates: { bias: { columns: ['g'] } } } }).evaluation.gates!.bias!.metrics).toEqual(['accuracy', 'recall_macro']);
    expect(problems({ evaluation: { problemType: 'regression', gates: { bias: { columns: ['g'] } } } })).toEqual([
      'evaluation.gates.bias.metrics: required for regression: name the metrics whose gap between groups is limited, e.g. ["mae"] (maxGap is then in the label\'s units)',
    ]);
  });

  test('tolerance and relativeTolerance: one or the other', () => {
    expect(problems({ evaluation: { gates: { noRegression: { metrics: ['roc_auc'], tolerance: 0.01, relativeTolerance: 0.01 } } } })).toEqual([
      "evaluation.gates.noRegression.relativeTolerance: set either tolerance (in the metric's units) or relativeTolerance (a fraction of the champion's value), not both; got tolerance 0.01 and relativeTolerance 0.01",
    ]);
    expect(problems({ evaluation: { gates: { slices: { noRegression: { metrics: ['roc_auc'], relativeTolerance: 1.5 } } } } })[0]).toMatch(/^evaluation\.gates\.slices\.noRegression\.relativeTolerance: /);
  });
});

describe('no-regression tolerance: relative or absolute', () => {
  // a regression candidate 0.6 worse in RMSE than a champion at 60 (1%), its interval -0.2..+1.0 around that
  const overall = group(5000, { rmse: cmp(60.6, 60, 0.2, 1.0), r2: cmp(0.5, 0.51, -0.02, 0.0) });
  const run = (gates: NonNullable<RelearnConfigInput['evaluation']>['gates']) =>
    judge({ config: evaluation({ problemType: 'regression', gates: { min: { r2: 0 }, ...gates } }), overall, slices: [], bias: [], firstRun: false, unscoredRows: 0 });

  test('an absolute tolerance is in the metric’s units: 0.005 of RMSE rejects a 1% worse candidate; the old configs keep that meaning', () => {
    const v = run({ noRegression: { metrics: ['rmse'], tolerance: 0.005 } });
    expect(v.deploy).toBe(false);
    const gate = v.gates.find((g) => g.id === 'no_regression:rmse')!;
    expect(gate).toMatchObject({ threshold: 0.005, status: 'fail', withinNoise: false });
    expect(gate.relativeTolerance).toBeUndefined();
    expect(gate.reason).toBe('rmse: candidate 60.6 vs champion 60 (+0.6, 95% CI +0.2..+1): worse beyond the tolerance of 0.005');
  });

  test('a relative tolerance is a fraction of the champion’s value: 2% of an RMSE of 60 is 1.2, and the same candidate passes', () => {
    const v = run({ noRegression: { metrics: ['rmse'], relativeTolerance: 0.02 } });
    expect(v.deploy).toBe(true);
    const gate = v.gates.find((g) => g.id === 'no_regression:rmse')!;
    expect(gate).toMatchObject({ threshold: 1.2, relativeTolerance: 0.02, status: 'pass' });
    expect(gate.reason).toBe("rmse: candidate 60.6 vs champion 60 (+0.6, 95% CI +0.2..+1): not worse beyond the tolerance of 1.2 (2% of the champion's 60)");
    // 1%: the interval straddles -0.6, which the overall default counts as a fail
    const onePct = run({ noRegression: { metrics: ['rmse'], relativeTolerance: 0.01 } }).gates.find((g) => g.id === 'no_regression:rmse')!;
    expect(onePct).toMatchObject({ threshold: 0.6, withinNoise: true, pass: false });
  });

  test('the safe default gate is relative, so a retrain of a regression model can deploy whatever the label’s units', () => {
    // GIVEN the same models with the label in grams instead of kilograms (every error 1000x)
    const kg = group(5000, { rmse: cmp(0.0601, 0.06, -0.0001, 0.0003), r2: cmp(0.5, 0.5, -0.01, 0.01) });
    const g = group(5000, { rmse: cmp(60.1, 60, -0.1, 0.3), r2: cmp(0.5, 0.5, -0.01, 0.01) });
    const config = evaluation({ problemType: 'regression' });
    // WHEN
    const verdicts = [kg, g].map((o) => judge({ config, overall: o, slices: [], bias: [], firstRun: false, unscoredRows: 0 }));
    // THEN the same verdict in either unit (1% of the champion's value), where the old absolute 0.005 rejected the grams
    expect(verdicts.map((v) => v.deploy)).toEqual([true, true]);
    expect(verdicts[1].gates.find((x) => x.id === 'no_regression:rmse')!.threshold).toBeCloseTo(0.6, 12);
    expect(verdicts[1].reasons).toContain(
      "No gates configured: the safe default gate applied (r2 >= 0; no regression of rmse beyond 1% of the champion's value (within noise: fail); per slice of 200+ rows: no regression of rmse beyond 2.5% of the champion's value (within noise: pass)).",
    );
    const old = judge({ config: evaluation({ problemType: 'regression', gates: { min: { r2: 0 }, noRegression: { metrics: ['rmse'], tolerance: 0.005 } } }), overall: g, slices: [], bias: [], firstRun: false, unscoredRows: 0 });
    expect(old.deploy).toBe(false);
  });

  test('a relative tolerance on a lower-is-better metric near zero, and on a first run', () => {
    const first = judge({ config: evaluation({ gates: { noRegression: { metrics: ['log_loss'], relativeTolerance: 0.05 } } }), overall: group(900, { log_loss: cmp(0.3, null) }), slices: [], bias: [], firstRun: true, unscoredRows: 0 });
    expect(first.gates.find((g) => g.id === 'no_regression:log_loss')).toMatchObject({ status: 'skipped', threshold: 0, relativeTolerance: 0.05 });
    const zero = judge({ config: evaluation({ gates: { noRegression: { metrics: ['log_loss'], relativeTolerance: 0.05 } } }), overall: group(900, { log_loss: cmp(0.001, 0, 0.0005, 0.0015) }), slices: [], bias: [], firstRun: false, unscoredRows: 0 });
    expect(zero.gates.find((g) => g.id === 'no_regression:log_loss')).toMatchObject({ threshold: 0, pass: false });
  });
});

describe('gates on multiclass metrics', () => {
  const REF = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'multiclass-reference.json'), 'utf8')) as { classes: string[]; labels: number[]; candidate: number[][]; champion: number[][] };
  const r = rng(3);
  const region = REF.labels.map(() => (r() < 0.5 ? 'north' : 'south'));
  const rows: ScoredRow[] = REF.labels.map((label, i) => ({ id: `r${i}`, label, candidate: REF.candidate[i], champion: REF.champion[i] }));
  const doc = (gates: NonNullable<RelearnConfigInput['evaluation']>['gates'], champion = true, primaryMetric?: string) =>
    computeEvaluation({
      executionName: 'mc',
      datasetId: 'd',
      config: parseConfig({ dataset: { sliceColumns: ['region'] }, evaluation: { problemType: 'multiclass_classification', gates, primaryMetric } }),
      joined: {
        predictions: predictionTable(champion ? rows : rows.map((x) => ({ ...x, champion: null })), { problemType: 'multiclass_classification', classes: REF.classes }),
        columns: [encodeColumn('region', region)],
        validationRows: rows.length,
        unscored: 0,
      },
      validation: null,
      champion: champion ? { executionName: 'prev' } : null,
      classes: REF.classes,
    });

  test('every gate kind: floors, ceilings, no-regression, per slice, per class, bias gaps', () => {
    // GIVEN a candidate better than the champion overall (f1_macro 0.75 vs 0.63), worse on recall of "other"
    const d = doc({
      min: { f1_macro: 0.7, 'recall:setosa': 0.8 },
      max: { log_loss: 1.0 },
      noRegression: { metrics: ['roc_auc_ovr', 'recall:other'], relativeTolerance: 0.01 },
      slices: { minRows: 100, min: { accuracy: 0.7 }, max: { log_loss: 5 }, noRegression: { metrics: ['f1_weighted'], relativeTolerance: 0.05 } },
      bias: { columns: ['region'], metrics: ['accuracy', 'recall:virginica'], maxGap: 0.2, minRows: 50 },
    });
    const gate = (id: string) => d.gates.find((g) => g.id === id)!;
    // THEN
    expect(gate('min:f1_macro')).toMatchObject({ status: 'pass', observed: expect.closeTo(0.752367, 5) });
    expect(gate('min:recall:setosa')).toMatchObject({ status: 'pass', observed: expect.closeTo(0.814103, 5) });
    expect(gate('max:log_loss')).toMatchObject({ status: 'fail', reason: 'log_loss is 1.6309, above the ceiling of 1' });
    expect(gate('no_regression:roc_auc_ovr')).toMatchObject({ status: 'pass' });
    expect(gate('no_regression:recall:other').reason).toMatch(/^recall:other: candidate 0\.5849 vs champion 0\.6226 \(-0\.0377, 95% CI -0\.\d+\.\.\+0\.\d+\): within noise of the tolerance of 0\.0062 \(1% of the champion's 0\.6226\), which the config counts as a fail$/);
    for (const s of ['region=north', 'region=south']) {
      expect(gate(`slice_min:accuracy@${s}`).status).toBe('pass');
      expect(gate(`slice_max:log_loss@${s}`).status).toBe('pass');
      expect(gate(`slice_no_regression:f1_weighted@${s}`).status).toBe('pass');
    }
    expect(gate('bias_gap:accuracy@region').status).toBe('pass');
    expect(gate('bias_gap:recall:virginica@region')).toMatchObject({ kind: 'bias_gap', observed: expect.any(Number) });
    expect(d.decision.deploy).toBe(false);
    expect(d.decision.reasons[0]).toBe('Do not deploy: 2 of 14 gate checks failed.');
  });

  test('a per-class gate on a class the run does not have fails overall and says which classes there are', () => {
    const d = doc({ min: { 'recall:fraud': 0.5 } });
    expect(d.gates.find((g) => g.id === 'min:recall:fraud')!.reason).toBe(
      'recall:fraud cannot be computed (no class "fraud" in this run\'s classes: "setosa", "versicolor", "virginica", "other"): the floor cannot be checked',
    );
    expect(d.decision.deploy).toBe(false);
  });

  test('the default gate for multiclass: roc_auc_ovr floor and relative no-regression; the document carries classes and curves', () => {
    const d = doc(undefined);
    expect(d.gatesSource).toBe('default');
    expect(d.gates.map((g) => g.id)).toEqual(
      expect.arrayContaining(['coverage', 'min:roc_auc_ovr', 'no_regression:roc_auc_ovr', 'slice_no_regression:roc_auc_ovr@region=south']),
    );
    expect(d.decision.deploy).toBe(true);
    expect(d.classes).toEqual(REF.classes);
    expect(d.classCurves!.candidate).toHaveLength(4);
    expect(d.curves).toBeNull();
    expect(d.overall.matrix!.candidate).toHaveLength(4);
    expect(d.warnings).toEqual([]);
  });
});

describe('the one-vs-rest AUC per slice (2K sorted passes per grouping) is computed only when needed', () => {
  test('needed by the primary metric (the default) or a slice gate; left out otherwise, and the report has no column for it', () => {
    const REF = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'multiclass-reference.json'), 'utf8')) as { classes: string[]; labels: number[]; candidate: number[][]; champion: number[][] };
    const rows: ScoredRow[] = REF.labels.map((label, i) => ({ id: `r${i}`, label, candidate: REF.candidate[i], champion: REF.champion[i] }));
    const region = REF.labels.map((_, i) => (i % 2 ? 'north' : 'south'));
    const run = (evaluationConfig: RelearnConfigInput['evaluation']) =>
      computeEvaluation({
        executionName: 'mc', datasetId: 'd', classes: REF.classes, validation: null, champion: { executionName: 'prev' },
        config: parseConfig({ dataset: { sliceColumns: ['region'] }, evaluation: { problemType: 'multiclass_classification', ...evaluationConfig } }),
        joined: { predictions: predictionTable(rows, { problemType: 'multiclass_classification', classes: REF.classes }), columns: [encodeColumn('region', region)], validationRows: rows.length, unscored: 0 },
      });
    const withAuc = (d: ReturnType<typeof run>) => d.slices.items.map((s) => 'roc_auc_ovr' in s.metrics);
    expect(withAuc(run({}))).toEqual([true, true]);
    expect(withAuc(run({ primaryMetric: 'f1_macro' }))).toEqual([false, false]);
    expect(withAuc(run({ primaryMetric: 'f1_macro', gates: { slices: { min: { 'roc_auc:setosa': 0.5 } } } }))).toEqual([true, true]);
    const lean = run({ primaryMetric: 'f1_macro' });
    expect(lean.overall.metrics.roc_auc_ovr.candidate.value).toBeCloseTo(0.899564, 5);
    expect(lean.slices.items[0].metrics.f1_macro.candidate.value).toEqual(expect.any(Number));
  });
});

describe('a validation set too small for its intervals', () => {
  const judgeWith = (problemType: 'binary_classification' | 'multiclass_classification' | 'regression', overall: GroupMetrics, classes?: string[]) => {
    const warning = smallValidationWarning(problemType, overall, classes);
    return judge({ config: evaluation({ problemType }), overall, slices: [], bias: [], firstRun: true, unscoredRows: 0, warnings: warning ? [warning] : [] });
  };

  test('binary: fewer than 30 rows of the smaller class', () => {
    const v = judgeWith('binary_classification', group(500, { roc_auc: cmp(0.8, null) }, { positives: 22 }), ['stay', 'churn']);
    expect(v.reasons[1]).toBe(
      'Small validation set: only 22 of "churn" (under 30 rows per class): a 95% interval of an AUC near 0.8 then spans ±0.1 or more, of a recall ±0.14, so the gate can rarely tell the models apart (expect "within noise"). Add data or raise dataset.validationFraction.',
    );
    expect(v.deploy).toBe(true); // a warning, not a gate
    expect(smallValidationWarning('binary_classification', group(500, {}, { positives: 30 }))).toBeNull();
  });

  test('multiclass: fewer than 30 rows of any class, naming them', () => {
    const w = smallValidationWarning('multiclass_classification', group(300, {}, { support: [200, 12, 88, 0] }), ['a', 'b', 'c', 'd']);
    expect(w).toMatch(/^Small validation set: only 12 of "b", 0 of "d" \(under 30 rows per class\):/);
    expect(w!.length).toBeLessThanOrEqual(300); // the state keeps reasons up to 300 characters
    expect(smallValidationWarning('multiclass_classification', group(300, {}, { support: [100, 100, 100] }), ['a', 'b', 'c'])).toBeNull();
  });

  test('regression: fewer than 100 rows', () => {
    expect(smallValidationWarning('regression', group(99, {}))).toBe(
      'Small validation set: 99 rows (fewer than 100): a 95% interval of an RMSE then spans ±14% of it or more, so the gate can rarely tell the models apart (expect "within noise"). Add data or raise dataset.validationFraction.',
    );
    expect(smallValidationWarning('regression', group(100, {}))).toBeNull();
  });
});
