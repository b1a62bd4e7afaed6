import { defaultGates, EvaluationConfig, GatesConfig, LOWER_IS_BETTER, NoRegressionConfig, perClassMetric } from '../config/evaluation';
import { GroupMetrics, MetricComparison } from './engine';
import { BiasResult, SliceMetrics } from './slices';

export type GateKind = 'coverage' | 'min' | 'max' | 'no_regression' | 'slice_min' | 'slice_max' | 'slice_no_regression' | 'bias_gap';

/** One check of the deployment gate, with what was observed and what it was held against. */
export interface GateResult {
  /** Stable id, e.g. `no_regression:roc_auc`, `slice_no_regression:recall@country=DE`, `bias_gap:recall@gender`. */
  readonly id: string;
  readonly kind: GateKind;
  /** `overall`, a slice key, or a group column. */
  readonly scope: string;
  readonly metric: string;
  /** The candidate's value; for no-regression the difference candidate - champion; for bias the gap. */
  readonly observed: number | null;
  /** The interval of `observed`, when there is one. */
  readonly interval: readonly [number, number] | null;
  /**
   * Floor, ceiling, largest gap, or the largest tolerated worsening (a positive number, in the metric's units:
   * for a relative tolerance, the fraction times the champion's value; 0 when there was no champion value).
   */
  readonly threshold: number;
  /** No-regression with a relative tolerance: the configured fraction of the champion's value. */
  readonly relativeTolerance?: number;
  readonly pass: boolean;
  /** `skipped` checks count as passed (not computable on a slice, first run); the reason says why. */
  readonly status: 'pass' | 'fail' | 'skipped';
  /** The interval straddled the tolerance; `pass` then follows the configured `withinNoise`. */
  readonly withinNoise: boolean;
  readonly reason: string;
}

export interface GateInput {
  readonly config: EvaluationConfig;
  readonly overall: GroupMetrics;
  readonly slices: readonly SliceMetrics[];
  readonly bias: readonly BiasResult[];
  /** No champion scored these rows. */
  readonly firstRun: boolean;
  /** Validation rows without a prediction (the training script must score every row). */
  readonly unscoredRows: number;
  /** Multiclass: the run's classes (a per-class metric of another class is named as such). */
  readonly classes?: readonly string[];
  /** Said in the decision right after the verdict (e.g. a validation set too small for its intervals). */
  readonly warnings?: readonly string[];
}

export interface GateVerdict {
  readonly deploy: boolean;
  /** In words: why (not). Failing checks first. */
  readonly reasons: string[];
  readonly gates: GateResult[];
  /** Which gates applied: the config's, or the safe default. */
  readonly source: 'config' | 'default';
  readonly gatesConfig: GatesConfig;
}

const fmt = (x: number | null | undefined, digits = 4): string => (x === null || x === undefined ? 'n/a' : Number(x.toFixed(digits)).toString());
const signed = (x: number) => (x >= 0 ? '+' : '') + fmt(x);
const pct = (c: number) => `${Math.round(c * 100)}%`;
const fraction = (f: number) => `${Number((f * 100).toPrecision(4))}%`;

/** The tolerance of a no-regression check against a champion value: absolute, and in words. */
export function toleranceOf(nr: Pick<NoRegressionConfig, 'tolerance' | 'relativeTolerance'>, championValue: number | null): { absolute: number; words: string } {
  if (nr.relativeTolerance !== undefined) {
    const absolute = championValue === null ? 0 : nr.relativeTolerance * Math.abs(championValue);
    if (nr.relativeTolerance === 0) return { absolute: 0, words: 'zero tolerance' };
    return { absolute, words: `the tolerance of ${fmt(absolute)} (${fraction(nr.relativeTolerance)} of the champion's ${fmt(championValue)})` };
  }
  const t = nr.tolerance ?? 0;
  return { absolute: t, words: t > 0 ? `the tolerance of ${fmt(t)}` : 'zero tolerance' };
}

/** A no-regression tolerance in a few words: `1% of the champion's value` or `0.005`. */
export function describeTolerance(nr: Pick<NoRegressionConfig, 'tolerance' | 'relativeTolerance'>): string {
  return nr.relativeTolerance !== undefined ? `${fraction(nr.relativeTolerance)} of the champion's value` : String(nr.tolerance ?? 0);
}

/** Applies every configured gate (or the safe default) and words the verdict. */
export function judge(input: GateInput): GateVerdict {
  const { config, overall, firstRun } = input;
  const source = config.gates ? 'config' : 'default';
  const gc = config.gates ?? defaultGates(config.problemType, config.primaryMetric);
  const ci = pct(config.confidence);
  const gates: GateResult[] = [];

  gates.push({
    id: 'coverage',
    kind: 'coverage',
    scope: 'overall',
    metric: 'unscored_rows',
    observed: input.unscoredRows,
    interval: null,
    threshold: 0,
    pass: input.unscoredRows === 0,
    status: input.unscoredRows === 0 ? 'pass' : 'fail',
    withinNoise: false,
    reason:
      input.unscoredRows === 0
        ? `every validation row was scored (${overall.rows} rows)`
        : `${input.unscoredRows} validation rows have no prediction: the training script must score every validation row`,
  });

  /** Why a metric is missing from a group: a per-class metric of a class the run does not have, or not computed. */
  const missing = (metric: string): string => {
    const pc = perClassMetric(metric);
    if (pc && input.classes && !input.classes.includes(pc.className)) {
      return `no class ${JSON.stringify(pc.className)} in this run's classes: ${input.classes.map((c) => JSON.stringify(c)).join(', ')}`;
    }
    return 'not available';
  };

  const limit = (kind: 'min' | 'max' | 'slice_min' | 'slice_max', scope: string, metric: string, bound: number, m: MetricComparison | undefined, sliceRows?: number) => {
    const isMin = kind.endsWith('min');
    const id = `${kind}:${metric}${scope === 'overall' ? '' : `@${scope}`}`;
    const where = scope === 'overall' ? '' : ` on slice ${scope} (${sliceRows} rows)`;
    const v = m?.candidate.value ?? null;
    const interval = m && m.candidate.lo !== null && m.candidate.hi !== null ? ([m.candidate.lo, m.candidate.hi] as const) : null;
    if (v === null) {
      const slice = scope !== 'overall';
      gates.push({
        id, kind, scope, metric, observed: null, interval: null, threshold: bound,
        pass: slice, status: slice ? 'skipped' : 'fail', withinNoise: false,
        reason: `${metric}${where} cannot be computed (${m?.note ?? missing(metric)})${slice ? ': not gated' : `: the ${isMin ? 'floor' : 'ceiling'} cannot be checked`}`,
      });
      return;
    }
    const pass = isMin ? v >= bound : v <= bound;
    gates.push({
      id, kind, scope, metric, observed: v, interval, threshold: bound, pass, status: pass ? 'pass' : 'fail', withinNoise: false,
      reason: `${metric}${where} is ${fmt(v)}, ${pass ? (isMin ? 'at or above' : 'at or below') : isMin ? 'below' : 'above'} the ${isMin ? 'floor' : 'ceiling'} of ${fmt(bound)}`,
    });
  };

  const noRegression = (kind: 'no_regression' | 'slice_no_regression', scope: string, metric: string, nr: NoRegressionConfig, m: MetricComparison | undefined, sliceRows?: number) => {
    const id = `${kind}:${metric}${scope === 'overall' ? '' : `@${scope}`}`;
    const where = scope === 'overall' ? '' : ` on slice ${scope} (${sliceRows} rows)`;
    const rel = nr.relativeTolerance !== undefined ? { relativeTolerance: nr.relativeTolerance } : {};
    const withinNoise = nr.withinNoise;
    if (firstRun) {
      const base = { id, kind, scope, metric, threshold: toleranceOf(nr, null).absolute, ...rel };
      gates.push({ ...base, observed: null, interval: null, pass: true, status: 'skipped', withinNoise: false, reason: `${metric}${where}: no champion to compare with (first run)` });
      return;
    }
    const d = m?.diff?.value ?? null;
    if (d === null || m?.candidate.value === null || m?.champion?.value === null || m?.champion?.value === undefined) {
      const slice = scope !== 'overall';
      const base = { id, kind, scope, metric, threshold: toleranceOf(nr, null).absolute, ...rel };
      gates.push({
        ...base, observed: null, interval: null, pass: slice, status: slice ? 'skipped' : 'fail', withinNoise: false,
        reason: `${metric}${where} cannot be compared with the champion (${m?.note ?? missing(metric)})${slice ? ': not gated' : ''}`,
      });
      return;
    }
    const { absolute: tol, words: tolWords } = toleranceOf(nr, m!.champion!.value);
    const base = { id, kind, scope, metric, threshold: tol, ...rel };
    // improvement > 0 means the candidate is better, whatever the metric's direction
    const sign = LOWER_IS_BETTER.has(metric) ? -1 : 1;
    const imp = sign * d;
    const lo = m!.diff!.lo;
    const hi = m!.diff!.hi;
    const interval = lo !== null && hi !== null ? ([lo, hi] as const) : null;
    const vs = `${metric}${where}: candidate ${fmt(m!.candidate.value)} vs champion ${fmt(m!.champion!.value)} (${signed(d)}`;
    if (!interval) {
      const pass = imp >= -tol;
      gates.push({
        ...base, observed: d, interval: null, pass, status: pass ? 'pass' : 'fail', withinNoise: false,
        reason: `${vs}; no interval, judged on the point estimate): ${pass ? `within ${tolWords}` : `worse beyond ${tolWords}`}`,
      });
      return;
    }
    const impLo = Math.min(sign * lo!, sign * hi!);
    const impHi = Math.max(sign * lo!, sign * hi!);
    const ciWords = `${ci} CI ${signed(lo!)}..${signed(hi!)})`;
    if (impHi < -tol) {
      gates.push({ ...base, observed: d, interval, pass: false, status: 'fail', withinNoise: false, reason: `${vs}, ${ciWords}: worse beyond ${tolWords}` });
    } else if (impLo >= -tol) {
      gates.push({ ...base, observed: d, interval, pass: true, status: 'pass', withinNoise: false, reason: `${vs}, ${ciWords}: ${imp > 0 ? 'better; ' : ''}not worse beyond ${tolWords}` });
    } else {
      const pass = withinNoise === 'pass';
      gates.push({
        ...base, observed: d, interval, pass, status: pass ? 'pass' : 'fail', withinNoise: true,
        reason: `${vs}, ${ciWords}: within noise of ${tolWords}, which the config counts as a ${withinNoise}`,
      });
    }
  };

  // 1. overall
  for (const [metric, bound] of Object.entries(gc.min ?? {})) limit('min', 'overall', metric, bound!, overall.metrics[metric]);
  for (const [metric, bound] of Object.entries(gc.max ?? {})) limit('max', 'overall', metric, bound!, overall.metrics[metric]);
  if (gc.noRegression) {
    for (const metric of gc.noRegression.metrics) noRegression('no_regression', 'overall', metric, gc.noRegression, overall.metrics[metric]);
  }
  // 2. slices with enough rows
  let smallSlices = 0;
  const sg = gc.slices;
  if (sg) {
    for (const s of input.slices) {
      if (s.rows < sg.minRows) {
        smallSlices++;
        continue;
      }
      for (const [metric, bound] of Object.entries(sg.min ?? {})) limit('slice_min', s.key, metric, bound!, s.metrics[metric], s.rows);
      for (const [metric, bound] of Object.entries(sg.max ?? {})) limit('slice_max', s.key, metric, bound!, s.metrics[metric], s.rows);
      if (sg.noRegression && !firstRun) {
        for (const metric of sg.noRegression.metrics) noRegression('slice_no_regression', s.key, metric, sg.noRegression, s.metrics[metric], s.rows);
      }
    }
  }
  // 3. bias
  if (gc.bias) {
    for (const b of input.bias) {
      const id = `bias_gap:${b.metric}@${b.column}`;
      const base = { id, kind: 'bias_gap' as const, scope: b.column, metric: b.metric, threshold: gc.bias.maxGap, interval: null, withinNoise: false };
      if (b.gap.candidate === null) {
        gates.push({ ...base, observed: null, pass: true, status: 'skipped', reason: `${b.metric} gap across ${b.column}: fewer than two groups with ${b.minRows}+ rows and a value: not gated` });
        continue;
      }
      const pass = b.gap.candidate <= gc.bias.maxGap;
      const champ = b.gap.champion !== null ? `; champion's gap ${fmt(b.gap.champion)}` : '';
      gates.push({
        ...base, observed: b.gap.candidate, pass, status: pass ? 'pass' : 'fail',
        reason: `${b.metric} gap across ${b.column} is ${fmt(b.gap.candidate)} (${b.highest} highest, ${b.lowest} lowest)${champ}, ${pass ? 'within' : 'over'} the limit of ${fmt(gc.bias.maxGap)}`,
      });
    }
  }

  const failed = gates.filter((g) => !g.pass);
  const deploy = failed.length === 0;
  const reasons: string[] = [];
  const counted = gates.filter((g) => g.status !== 'skipped').length;
  if (deploy) reasons.push(`Deploy: all ${counted} gate checks passed.`);
  else reasons.push(`Do not deploy: ${failed.length} of ${counted} gate checks failed.`);
  reasons.push(...(input.warnings ?? []));
  for (const g of failed) reasons.push(g.reason);
  const primary = overall.metrics[config.primaryMetric];
  if (primary && deploy) {
    const champ = primary.champion?.value;
    reasons.push(
      champ === undefined || champ === null
        ? `${config.primaryMetric}: ${fmt(primary.candidate.value)}`
        : `${config.primaryMetric}: candidate ${fmt(primary.candidate.value)} vs champion ${fmt(champ)} (${signed(primary.diff?.value ?? 0)})`,
    );
  }
  const noise = gates.filter((g) => g.withinNoise && g.pass);
  if (noise.length) reasons.push(`${noise.length} check(s) were within noise and counted as passed, as configured (withinNoise: pass).`);
  if (firstRun) reasons.push('First run: no champion to compare with, so only the absolute gates were applied; every no-regression check was skipped.');
  if (source === 'default') reasons.push(`No gates configured: the safe default gate applied (${describeGates(gc)}).`);
  if (smallSlices) reasons.push(`${smallSlices} slice(s) with fewer than ${sg!.minRows} rows were reported but not gated.`);
  return { deploy, reasons, gates, source, gatesConfig: gc };
}

/** The gate configuration in a few words (for the decision and the report). */
export function describeGates(g: GatesConfig): string {
  const parts: string[] = [];
  const lim = (r: Partial<Record<string, number>> | undefined, op: string) => Object.entries(r ?? {}).map(([k, v]) => `${k} ${op} ${v}`);
  parts.push(...lim(g.min, '>='), ...lim(g.max, '<='));
  if (g.noRegression) parts.push(`no regression of ${g.noRegression.metrics.join(', ')} beyond ${describeTolerance(g.noRegression)} (within noise: ${g.noRegression.withinNoise})`);
  if (g.slices) {
    const s = g.slices;
    const sp = [...lim(s.min, '>='), ...lim(s.max, '<=')];
    if (s.noRegression) sp.push(`no regression of ${s.noRegression.metrics.join(', ')} beyond ${describeTolerance(s.noRegression)} (within noise: ${s.noRegression.withinNoise})`);
    if (sp.length) parts.push(`per slice of ${s.minRows}+ rows: ${sp.join(', ')}`);
  }
  if (g.bias) parts.push(`${g.bias.metrics.join(', ')} gap across ${g.bias.columns.join(', ')} <= ${g.bias.maxGap}`);
  return parts.join('; ');
}
