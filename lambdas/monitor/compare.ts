import { RelearnConfig, RuleId, Severity, ValidationConfig } from '../shared/config';
import { NOT_MONITORED_RULES } from '../shared/config/monitoring';
import { Anomaly, applyRules, ColumnStats, DatasetSchema, DatasetStats, DatasetStatsJson, jensenShannon, linf } from '../shared/stats';
import { MonitorWindow } from './window';
import { MonitorPlan, PREDICTED_LABEL_COLUMN, PREDICTION_COLUMN, WindowCounts, WindowShardJson } from './window-stats';

/**
 * The monitor's verdict on one window: the captured traffic's statistics against the champion's baselines, with
 * the validation's rule engine (the same distances, thresholds and messages) and per-feature drift measures for
 * the report and the metrics. Pure: everything it needs comes in as arguments.
 */

/** Rules that mean "the distribution moved" (the rest are schema and data-quality findings). */
export const DRIFT_RULES: ReadonlySet<RuleId> = new Set<RuleId>(['drift_numeric', 'drift_categorical', 'distribution_shift']);

export type Verdict = 'ok' | 'issues' | 'drift' | 'insufficient_data' | 'no_baseline';

/** The champion whose baselines a window is compared with (champion/current.json at the time of the run). */
export interface BaselineRef {
  readonly executionName: string;
  readonly promotedAt: string;
  readonly modelPackageArn: string;
  readonly statsUri: string;
  readonly schemaUri: string;
  /** Where the prediction baseline came from (the champion's validation predictions), when it could be read. */
  readonly predictionsUri?: string;
}

export interface Baselines {
  readonly ref: BaselineRef;
  /** The champion's schema (as it travels with the model). */
  readonly schema: DatasetSchema;
  /** The champion's dataset statistics (ValidateData's stats.json). */
  readonly features: DatasetStatsJson;
  /** The champion's predictions on its validation rows, in the prediction table's plan; null when unreadable. */
  readonly predictions: DatasetStatsJson | null;
  /** Why there is no prediction baseline, when there is none. */
  readonly predictionsNote?: string;
}

/** Invocations of the endpoint in the window and how many failed (its CloudWatch metrics). */
export interface Failures {
  readonly invocations: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
}

export interface HistogramBin {
  readonly label: string;
  readonly baseline: number;
  readonly live: number;
}

/** One column's comparison: what the report lists and the metrics carry. */
export interface ColumnReport {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical' | 'text';
  /** Share of captured rows that carried the column at all (0: missing from requests). */
  readonly presentShare: number;
  readonly missingShare: number | null;
  readonly baselineMissingShare: number | null;
  /** The largest drift measure relative to its threshold (>= 1 means over it); null when not measured. */
  readonly driftScore: number | null;
  readonly measures: { readonly name: string; readonly value: number; readonly threshold: number }[];
  readonly drifted: boolean;
  /** Rules that fired on the column (any severity). */
  readonly rules: RuleId[];
  readonly histogram: HistogramBin[];
  readonly summary: { readonly baseline: string; readonly live: string };
}

export interface MonitorReport {
  readonly schemaVersion: 1;
  readonly window: { readonly id: string; readonly start: string; readonly end: string };
  readonly createdAt: string;
  readonly verdict: Verdict;
  /** What was found, in a few words (the report's title). */
  readonly headline: string;
  /** One sentence, in words: the window, the champion and what was found (the notification's first line). */
  readonly summary: string;
  /** Every finding in words, most important first. */
  readonly findings: string[];
  readonly champion: BaselineRef | null;
  readonly problemType: string;
  readonly counts: Omit<WindowCounts, 'presence'>;
  readonly minRows: number;
  readonly features: ColumnReport[];
  readonly driftedFeatures: string[];
  readonly missingFeatures: string[];
  readonly newFeatures: string[];
  readonly predictions: { readonly drifted: boolean; readonly columns: ColumnReport[]; readonly note?: string };
  readonly failures: (Failures & { readonly share: number | null; readonly max: number; readonly over: boolean }) | { readonly unavailable: string };
  readonly anomalies: (Anomaly & { readonly target: 'feature' | 'prediction' })[];
  readonly thresholds: ValidationConfig['drift'];
}

export interface CompareInput {
  readonly window: MonitorWindow;
  readonly plan: MonitorPlan;
  readonly merged: WindowShardJson;
  /** Absent when there is no champion (nothing serves, or its record cannot be read). */
  readonly baselines?: Baselines;
  readonly config: RelearnConfig;
  /** null: the endpoint's invocation metrics could not be read (the reason is given). */
  readonly failures: Failures | { readonly unavailable: string };
  readonly now?: Date;
}

/** The validation config the rule engine runs with for traffic: monitored rules only, monitoring's thresholds and severities. */
export function monitorRuleConfig(config: RelearnConfig): ValidationConfig {
  const v = config.validation;
  const m = config.monitoring;
  const off = Object.fromEntries(NOT_MONITORED_RULES.map((r) => [r, 'off' as Severity]));
  const drift = { ...v.drift, ...Object.fromEntries(Object.entries(m.drift).filter(([, x]) => x !== undefined)) };
  return { ...v, drift, rules: { ...v.rules, ...off, ...m.rules } };
}

const pct = (x: number) => `${(100 * x).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : 1)}%`;
const int = (x: number) => x.toLocaleString('en-US');
const r6 = (x: number) => Number(x.toPrecision(6));
/** For what a person reads; bin edges come from a sketch accurate to 1 %, so 3-4 digits say all there is. */
const r4 = (x: number) => Number(x.toPrecision(4));
const r3 = (x: number) => Number(x.toPrecision(3));

export function compareWindow(input: CompareInput): MonitorReport {
  const { window, plan, merged, baselines, config } = input;
  const m = config.monitoring;
  const rules = monitorRuleConfig(config);
  const counts = merged.counts;
  const { presence, ...shownCounts } = counts;
  const failures = failureSummary(input.failures, m.maxFailedShare);
  const base = {
    schemaVersion: 1 as const,
    window: { id: window.id, start: window.start.toISOString(), end: window.end.toISOString() },
    createdAt: (input.now ?? new Date()).toISOString(),
    champion: baselines?.ref ?? null,
    problemType: plan.problemType,
    counts: shownCounts,
    minRows: m.minRows,
    failures,
    thresholds: rules.drift,
  };
  const failureFinding = 'share' in failures && failures.over ? [failuresSentence(failures)] : [];
  const empty = { features: [], driftedFeatures: [], missingFeatures: [], newFeatures: [], predictions: { drifted: false, columns: [] }, anomalies: [] };
  if (!baselines) {
    return {
      ...base,
      ...empty,
      verdict: 'no_baseline',
      headline: 'No champion to compare with',
      summary: `no champion: nothing serves from this pipeline yet (or champion/current.json cannot be read), so there is no baseline to compare ${int(counts.rows)} captured rows with`,
      findings: failureFinding,
    };
  }
  if (counts.rows < m.minRows && counts.predictions < m.minRows) {
    return {
      ...base,
      ...empty,
      verdict: 'insufficient_data',
      headline: `Too few captured rows to judge (${int(Math.max(counts.rows, counts.predictions))} of ${int(m.minRows)})`,
      summary: `too few captured rows to judge: ${int(Math.max(counts.rows, counts.predictions))} in the window, at least ${int(m.minRows)} needed (monitoring.minRows); nothing was compared`,
      findings: [...failureFinding, ...captureHints(counts, config)],
    };
  }

  // 1. Features: the columns that requests carried at all, against the champion's schema and statistics.
  const liveAll = DatasetStats.fromJSON(merged.features);
  const presentColumns = liveAll.columns.filter((c) => (presence[c.name] ?? 0) > 0);
  const live = DatasetStats.fromJSON({ ...merged.features, columns: presentColumns.map((c) => c.toJSON()) });
  const ignore = new Set(plan.ignore);
  const ids = idColumns(config, baselines.schema);
  const schema: DatasetSchema = {
    ...baselines.schema,
    source: baselines.schema.source === 'curated' ? 'curated' : 'champion',
    // Requests carry features: the label is not expected, and an id only when they carry one.
    columns: baselines.schema.columns.filter((c) => !ignore.has(c.name) && !(ids.includes(c.name) && !presentColumns.some((p) => p.name === c.name))),
  };
  const baselineStats = DatasetStats.fromJSON(baselines.features);
  const featureAnomalies = counts.rows >= m.minRows
    ? applyRules({ stats: live, schema, baseline: baselineStats, config: rules, labelColumn: plan.ignore[0] ?? '', idColumns: ids, ignoredColumns: plan.ignore }).filter((a) => significant(a, rules))
    : [];
  const features = live.columns
    .filter((c) => !ids.includes(c.name))
    .map((c) => columnReport(c, baselineStats.column(c.name), schema, featureAnomalies, rules.drift, presence[c.name] / Math.max(1, counts.rows)));
  const missingFeatures = featureAnomalies.filter((a) => a.rule === 'missing_column' && a.column).map((a) => a.column!);
  const newFeatures = [...featureAnomalies.filter((a) => a.rule === 'new_column' && a.column).map((a) => a.column!), ...Object.keys(counts.unplanned).filter((k) => !ignore.has(k))];
  const driftedFeatures = features.filter((f) => f.drifted).map((f) => f.name);

  // 2. Predictions: the same engine, against the champion's predictions on its validation rows.
  let predictionAnomalies: Anomaly[] = [];
  let predictionColumns: ColumnReport[] = [];
  let predictionNote: string | undefined = baselines.predictionsNote;
  if (baselines.predictions && counts.predictions >= m.minRows) {
    const livePred = DatasetStats.fromJSON(merged.predictions);
    const basePred = DatasetStats.fromJSON(baselines.predictions);
    const predSchema: DatasetSchema = { version: 1, source: 'champion', columns: plan.predictions.columns.map((c) => ({ name: c.name, type: c.kind, required: true })) };
    predictionAnomalies = applyRules({ stats: livePred, schema: predSchema, baseline: basePred, config: rules, labelColumn: '' }).filter((a) => DRIFT_RULES.has(a.rule));
    predictionColumns = livePred.columns.map((c) => columnReport(c, basePred.column(c.name), predSchema, predictionAnomalies, rules.drift, 1));
  } else if (!baselines.predictions) {
    predictionNote ??= 'no prediction baseline';
  } else {
    predictionNote = `${int(counts.predictions)} captured predictions, fewer than monitoring.minRows (${int(m.minRows)}): the prediction distribution was not compared`;
  }
  const predictionsDrifted = predictionColumns.some((c) => c.drifted);

  // 3. The verdict, in words.
  const anomalies = [
    ...featureAnomalies.map((a) => ({ ...a, target: 'feature' as const })),
    ...predictionAnomalies.map((a) => ({ ...a, target: 'prediction' as const, message: `predictions: ${a.message}` })),
  ];
  const drift = driftedFeatures.length > 0 || predictionsDrifted;
  const otherFindings = featureAnomalies.filter((a) => !DRIFT_RULES.has(a.rule));
  const unreadable = counts.unreadableRequests + counts.unreadableResponses + counts.badLines;
  const verdict: Verdict = drift ? 'drift' : otherFindings.length > 0 || failureFinding.length > 0 || unreadable > 0 ? 'issues' : 'ok';
  const findings = [
    ...featureAnomalies.filter((a) => DRIFT_RULES.has(a.rule)).map((a) => a.message),
    ...predictionAnomalies.map((a) => `predictions: ${a.message}`),
    ...otherFindings.map((a) => a.message),
    ...failureFinding,
    ...(unreadable > 0 ? [`${int(counts.unreadableRequests)} request(s), ${int(counts.unreadableResponses)} response(s) and ${int(counts.badLines)} capture line(s) could not be read (${counts.examples[0] ?? ''})`] : []),
    ...(counts.rows < m.minRows ? [`only ${int(counts.rows)} request rows were captured (fewer than ${int(m.minRows)}): features were not compared`] : []),
    ...(predictionNote && !predictionsDrifted ? [predictionNote] : []),
    ...(Date.parse(baselines.ref.promotedAt) > window.start.getTime()
      ? [`the champion was promoted at ${baselines.ref.promotedAt}, after the window's start: traffic before that was served by the previous model`]
      : []),
  ];
  const head = `${int(counts.rows)} captured rows from ${windowText(window)} against the champion ${baselines.ref.executionName}`;
  const what: string[] = [];
  if (driftedFeatures.length) what.push(`drift on ${driftedFeatures.length} feature${driftedFeatures.length === 1 ? '' : 's'} (${driftedFeatures.join(', ')})`);
  if (predictionsDrifted) what.push('the prediction distribution shifted');
  if (missingFeatures.length) what.push(`missing from requests: ${missingFeatures.join(', ')}`);
  if (newFeatures.length) what.push(`new in requests: ${newFeatures.join(', ')}`);
  if (failureFinding.length && 'share' in failures) what.push(`${pct(failures.share ?? 0)} of requests failed`);
  const rest = otherFindings.filter((a) => a.rule !== 'missing_column' && a.rule !== 'new_column').length;
  if (rest) what.push(`${rest} other finding${rest === 1 ? '' : 's'}`);
  if (unreadable) what.push(`${int(unreadable)} unreadable capture item(s)`);
  const found = what.length ? what.join('; ') : 'no drift, no schema or data-quality finding';
  return {
    ...base,
    verdict,
    headline: found[0].toUpperCase() + found.slice(1),
    summary: `${head}: ${found}`,
    findings,
    features,
    driftedFeatures,
    missingFeatures,
    newFeatures,
    predictions: { drifted: predictionsDrifted, columns: predictionColumns, ...(predictionNote ? { note: predictionNote } : {}) },
    anomalies,
  };
}

/**
 * Out-of-range values and unknown categories within their tolerated share are reported by validation as warnings (an
 * observed range is no contract); in traffic they are everyday noise, so the monitor keeps them only over the share.
 */
function significant(a: Anomaly, rules: ValidationConfig): boolean {
  if (a.rule === 'out_of_range') return ((a.observed as { share?: number } | undefined)?.share ?? 1) > rules.maxOutOfRangeShare;
  if (a.rule === 'unexpected_category') return typeof a.observed !== 'number' || a.observed > rules.maxNewCategoryShare;
  return true;
}

/** `2026-11-29 09:00 to 10:00 UTC` (the end's date only when it differs). */
export function windowText(w: { start: Date; end: Date }): string {
  const [sd, st] = w.start.toISOString().slice(0, 16).split('T');
  const [ed, et] = w.end.toISOString().slice(0, 16).split('T');
  return `${sd} ${st} to ${ed === sd ? '' : `${ed} `}${et} UTC`;
}

function idColumns(config: RelearnConfig, schema: DatasetSchema): string[] {
  const fromRoles = schema.columns.filter((c) => (c as { role?: string }).role === 'id').map((c) => c.name);
  return [...new Set([config.dataset.idColumn ?? '_row_id', ...fromRoles])];
}

function failureSummary(f: CompareInput['failures'], max: number): MonitorReport['failures'] {
  if ('unavailable' in f) return f;
  const failed = f.errors4xx + f.errors5xx;
  const share = f.invocations > 0 ? failed / f.invocations : null;
  return { ...f, share, max, over: share !== null && share > max };
}

function failuresSentence(f: Failures & { share: number | null; max: number }): string {
  return `${pct(f.share ?? 0)} of the endpoint's ${int(f.invocations)} invocations failed (${int(f.errors4xx)} 4xx, ${int(f.errors5xx)} 5xx), more than monitoring.maxFailedShare ${pct(f.max)}`;
}

/** Why a window may be empty: capture off, sampling low, or records outside the window. */
function captureHints(c: WindowCounts, config: RelearnConfig): string[] {
  const cap = config.monitoring.capture;
  const out: string[] = [];
  if (!cap.enabled) out.push('data capture is off (monitoring.capture.enabled: false)');
  else if (cap.samplingPercentage < 100) out.push(`data capture records ${cap.samplingPercentage}% of requests (monitoring.capture.samplingPercentage)`);
  if (cap.enabled && !cap.request) out.push('requests are not captured (monitoring.capture.request: false): features cannot be checked');
  if (c.outsideWindow > 0) out.push(`${int(c.outsideWindow)} captured record(s) of neighbouring hours lie outside the window`);
  return out;
}

function columnReport(c: ColumnStats, b: ColumnStats | undefined, schema: DatasetSchema, anomalies: Anomaly[], drift: ValidationConfig['drift'], presentShare: number): ColumnReport {
  const mine = anomalies.filter((a) => a.column === c.name);
  const expected = schema.columns.find((s) => s.name === c.name);
  const measures: ColumnReport['measures'] = [];
  let histogram: HistogramBin[] = [];
  let summary = { baseline: '–', live: '–' };
  if (b && b.kind === c.kind) {
    if (c.kind === 'numeric' && c.moments && b.moments && c.moments.n > 0 && b.moments.n > 0) {
      measures.push({ name: 'Jensen-Shannon divergence', value: r6(jensenShannon(c.sketch!, b.sketch!)), threshold: drift.numericJs });
      if (b.moments.std > 0) {
        measures.push({ name: 'mean shift (baseline std)', value: r6(Math.abs(c.moments.mean - b.moments.mean) / b.moments.std), threshold: drift.meanShiftStd });
        const ratio = c.moments.std / b.moments.std;
        measures.push({ name: 'std ratio (either way)', value: r6(ratio >= 1 ? ratio : ratio > 0 ? 1 / ratio : Infinity), threshold: drift.stdRatio });
      }
      histogram = decileHistogram(c, b);
      const d = (m: ColumnStats) => `mean ${r4(m.moments!.mean)}, std ${r4(m.moments!.std)}, median ${r4(m.sketch!.quantile(0.5) ?? NaN)}`;
      summary = { baseline: d(b), live: d(c) };
    } else if (c.kind === 'categorical' && c.freq && b.freq) {
      const d = linf(c.freq.top(), b.freq.top());
      measures.push({ name: `L-infinity distance ("${d.value}")`, value: r6(d.distance), threshold: drift.categoricalLinf });
      histogram = categoryHistogram(c, b);
      const top = (m: ColumnStats) => {
        const t = m.freq!.top(3);
        const n = t.reduce((s, e) => s + e.count, 0) + (m.freq!.top().slice(3).reduce((s, e) => s + e.count, 0));
        return t.map((e) => `${e.value} ${pct(e.count / (n || 1))}`).join(', ');
      };
      summary = { baseline: top(b), live: top(c) };
    }
  }
  const finite = measures.filter((x) => x.threshold > 0 && Number.isFinite(x.value));
  const driftScore = finite.length ? r6(Math.max(...finite.map(relativeDrift))) : null;
  return {
    name: c.name,
    kind: c.kind,
    presentShare: r6(presentShare),
    missingShare: c.count ? r6(c.missing / c.count) : null,
    baselineMissingShare: expected?.missingShare ?? (b && b.count ? r6(b.missing / b.count) : null),
    driftScore,
    measures,
    drifted: mine.some((a) => DRIFT_RULES.has(a.rule)),
    rules: [...new Set(mine.map((a) => a.rule))],
    histogram,
    summary,
  };
}

/**
 * A measure relative to its threshold: 0 when live equals the baseline, 1 at the threshold. A std ratio starts at 1
 * (equal spreads) and its threshold is a factor either way, so it maps (ratio - 1) / (threshold - 1).
 */
function relativeDrift(m: ColumnReport['measures'][number]): number {
  return m.name.startsWith('std ratio') ? (m.value - 1) / (m.threshold - 1) : m.value / m.threshold;
}

/** Shares of live and baseline values in the bins the baseline's deciles define (the bins Jensen-Shannon uses). */
function decileHistogram(c: ColumnStats, b: ColumnStats): HistogramBin[] {
  const edges = [...new Set([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((q) => b.sketch!.quantile(q)!))].sort((x, y) => x - y);
  const masses = (s: ColumnStats) => {
    const cdfs = edges.map((e) => s.sketch!.cdf(e));
    return [...cdfs, 1].map((v, i) => Math.max(0, v - (i > 0 ? cdfs[i - 1] : 0)));
  };
  const lb = masses(b);
  const ll = masses(c);
  return lb.map((x, i) => ({
    label: i === 0 ? `≤ ${r3(edges[0])}` : i === edges.length ? `> ${r3(edges[edges.length - 1])}` : `${r3(edges[i - 1])}–${r3(edges[i])}`,
    baseline: r6(x),
    live: r6(ll[i]),
  }));
}

/** Shares of the most frequent categories (baseline's and live's top 12), the rest together. */
function categoryHistogram(c: ColumnStats, b: ColumnStats): HistogramBin[] {
  const share = (s: ColumnStats) => {
    const top = s.freq!.top();
    const n = top.reduce((t, e) => t + e.count, 0) || 1;
    return new Map(top.map((e) => [e.value, e.count / n]));
  };
  const sb = share(b);
  const sl = share(c);
  const values = [...new Set([...sb.keys(), ...sl.keys()])].sort((x, y) => Math.max(sb.get(y) ?? 0, sl.get(y) ?? 0) - Math.max(sb.get(x) ?? 0, sl.get(x) ?? 0));
  const shown = values.slice(0, 12);
  const bins = shown.map((v) => ({ label: v, baseline: r6(sb.get(v) ?? 0), live: r6(sl.get(v) ?? 0) }));
  if (values.length > shown.length) {
    const rest = (m: Map<string, number>) => r6(1 - shown.reduce((t, v) => t + (m.get(v) ?? 0), 0));
    bins.push({ label: `${values.length - shown.length} others`, baseline: rest(sb), live: rest(sl) });
  }
  return bins;
}

/** Names the prediction columns in words (report and notification). */
export const PREDICTION_COLUMNS = { [PREDICTION_COLUMN]: 'score', [PREDICTED_LABEL_COLUMN]: 'predicted class' } as const;
