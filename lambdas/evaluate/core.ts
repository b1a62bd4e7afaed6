import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { defaultGates, GatesConfig, perClassMetric, ProblemType, RelearnConfig } from '../shared/config';
import { ChampionRecord, EvaluationRef, Layout, RunTrigger, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import {
  BiasResult, ClassCurves, ColumnCodes, ColumnEncoder, Curves, GateResult, GroupMetrics, judge, MetricsEngine, RegressionPlot, SliceMetrics, biasMetrics, sliceMetrics,
  smallValidationWarning,
} from '../shared/metrics';
import { PredictionsError, PredictionTable, readPredictionTable, runClasses } from '../shared/predictions';
import { getJsonIfExists, getStream, parseS3Uri, putText, s3Uri } from '../shared/s3';
import { openTable } from '../shared/tabular';
import { modelQualityStatistics } from './model-quality';
import { renderReport } from './report';

/** evaluation.json: every metric, slice, bias gap and gate of one run. */
export interface EvaluationDocument {
  readonly schemaVersion: 1;
  readonly executionName: string;
  readonly createdAt: string;
  readonly datasetId: string | null;
  readonly problemType: ProblemType;
  /** Classification: the class names in order (binary: the positive class second), when the run's schema has them. */
  readonly classes: string[] | null;
  /** Binary: a score >= threshold predicts the positive class. */
  readonly threshold: number;
  readonly confidence: number;
  readonly primaryMetric: string;
  /** `manual`: a passing candidate waits for a person (PendingManualApproval) instead of deploying. */
  readonly approval: 'auto' | 'manual';
  readonly firstRun: boolean;
  readonly champion: { readonly executionName?: string; readonly modelPackageArn?: string; readonly modelDataUri?: string } | null;
  readonly rows: { readonly predictions: number; readonly validation: number | null; readonly unscored: number };
  readonly overall: GroupMetrics;
  /** Binary: ROC, precision-recall and calibration curves. */
  readonly curves: Curves | null;
  /** Multiclass: the one-vs-rest ROC curve of every class. */
  readonly classCurves: ClassCurves | null;
  readonly regressionPlot: RegressionPlot | null;
  readonly slices: { readonly columns: string[]; readonly crosses: boolean; readonly omitted: number; readonly items: SliceMetrics[] };
  readonly bias: BiasResult[];
  readonly gates: GateResult[];
  readonly gatesSource: 'config' | 'default';
  readonly gatesConfig: GatesConfig;
  readonly decision: { readonly deploy: boolean; readonly reasons: string[] };
  /** Said next to the verdict without changing it: e.g. a validation set too small for its intervals to mean much. */
  readonly warnings: string[];
  readonly validation: DataValidationSummary | null;
}

export interface DataValidationSummary {
  readonly summary: string;
  readonly blocking: number;
  readonly warnings: number;
  readonly anomaliesUri: string;
  /** Up to 100 anomalies as read from anomaliesUri (defensively: unknown shapes are skipped). */
  readonly anomalies: { readonly id: string; readonly severity: string; readonly message: string; readonly column?: string }[];
  /** Set when the anomalies could not be read. */
  readonly note?: string;
}

/** decision.json: deploy or not, and every reason. */
export interface DecisionRecord {
  readonly executionName: string;
  readonly decidedAt: string;
  readonly deploy: boolean;
  readonly reasons: string[];
  readonly failedGates: string[];
  /** Warnings that do not change the verdict (also among the reasons). */
  readonly warnings: string[];
  readonly firstRun: boolean;
  readonly gatesSource: 'config' | 'default';
  readonly approval: 'auto' | 'manual';
  readonly primaryMetric: EvaluationRef['primaryMetric'];
  readonly evaluationUri: string;
  readonly reportUri: string;
  /** Why the run was started, when the trigger gave a reason in words (e.g. the monitor's drift verdict). */
  readonly trigger?: RunTrigger;
}

/** The scored rows of a run joined with the slice/group columns of its validation split. */
export interface JoinedRows {
  readonly predictions: PredictionTable;
  readonly columns: ColumnCodes[];
  readonly validationRows: number | null;
  readonly unscored: number;
}

export interface ComputeInput {
  readonly executionName: string;
  readonly datasetId: string | null;
  readonly config: LambdaEnv['config'];
  readonly joined: JoinedRows;
  readonly validation: DataValidationSummary | null;
  readonly champion: EvaluationDocument['champion'];
  /** Classification: the run's classes (multiclass: required, in the order of the probabilities). */
  readonly classes?: readonly string[] | null;
  readonly now?: Date;
}

/** The pure part of Evaluate: from joined rows to the evaluation document (metrics, slices, bias, gates, verdict). */
export function computeEvaluation(input: ComputeInput): EvaluationDocument {
  const { config, joined } = input;
  const ev = config.evaluation;
  const preds = joined.predictions;
  const n = preds.length;
  if (n === 0) throw new InvalidStageInput('Evaluate: predictions.jsonl has no rows: nothing to evaluate');
  const classes = input.classes ? [...input.classes] : null;
  if (ev.problemType === 'multiclass_classification' && !classes) throw new InvalidStageInput('Evaluate: multiclass_classification needs the run\'s classes (schema.json "classes")');
  const { champion } = preds;
  const engine = new MetricsEngine(
    { ids: preds.ids, labels: preds.labels, candidate: preds.candidate, champion, ...(ev.problemType === 'multiclass_classification' ? { classes: classes! } : {}) },
    { problemType: ev.problemType, threshold: ev.threshold, confidence: ev.confidence },
  );
  const overall = engine.overall();
  const sliceCols = config.dataset.sliceColumns;
  const byName = new Map(joined.columns.map((c) => [c.column, c]));
  const { slices, omitted } = sliceMetrics(
    engine,
    sliceCols.map((c) => byName.get(c)!).filter(Boolean),
    { crosses: ev.sliceCrosses, maxSlices: ev.maxSlices, perClass: slicePerClassMetrics(config), auc: sliceMetricNames(config).some((m) => m.startsWith('roc_auc')) },
  );
  const biasCfg = ev.gates?.bias;
  const bias = biasCfg ? biasCfg.columns.flatMap((c) => biasMetrics(engine, byName.get(c)!, biasCfg.metrics, biasCfg.minRows)) : [];
  const firstRun = champion === null;
  const small = smallValidationWarning(ev.problemType, overall, classes);
  const warnings = small ? [small] : [];
  const verdict = judge({ config: ev, overall, slices, bias, firstRun, unscoredRows: joined.unscored, classes: classes ?? undefined, warnings });
  return {
    schemaVersion: 1,
    executionName: input.executionName,
    createdAt: (input.now ?? new Date()).toISOString(),
    datasetId: input.datasetId,
    problemType: ev.problemType,
    classes,
    threshold: ev.threshold,
    confidence: ev.confidence,
    primaryMetric: ev.primaryMetric,
    approval: ev.approval,
    firstRun,
    champion: firstRun ? null : (input.champion ?? {}),
    rows: { predictions: n, validation: joined.validationRows, unscored: joined.unscored },
    overall,
    curves: engine.curves(),
    classCurves: engine.classCurves(),
    regressionPlot: engine.regressionPlot(),
    slices: { columns: sliceCols, crosses: ev.sliceCrosses, omitted, items: slices },
    bias,
    gates: verdict.gates,
    gatesSource: verdict.source,
    gatesConfig: verdict.gatesConfig,
    decision: {
      deploy: verdict.deploy,
      reasons:
        verdict.deploy && ev.approval === 'manual'
          ? [verdict.reasons[0], 'Approval is manual: the candidate is registered as PendingManualApproval and deploys only when a person approves it.', ...verdict.reasons.slice(1)]
          : verdict.reasons,
    },
    warnings,
    validation: input.validation,
  };
}

/** The per-class metrics (`recall:setosa`) that slices need: those the slice gates name, and a per-class primary metric. */
export function slicePerClassMetrics(config: RelearnConfig): string[] {
  return [...new Set(sliceMetricNames(config).filter((m) => perClassMetric(m)))];
}

/**
 * The metrics slices must have: the primary metric and those the slice gates name. Multiclass computes the
 * one-vs-rest AUC per slice (its costliest part) only when one of them is an AUC; binary and regression compute all.
 */
export function sliceMetricNames(config: RelearnConfig): string[] {
  const ev = config.evaluation;
  const s = ev.gates ? ev.gates.slices : defaultGates(ev.problemType, ev.primaryMetric).slices;
  return [ev.primaryMetric, ...Object.keys(s?.min ?? {}), ...Object.keys(s?.max ?? {}), ...(s?.noRegression?.metrics ?? [])];
}

/**
 * Joins predictions with the validation split's CSV parts on the id column, encoding the slice and group
 * columns per prediction row. A prediction whose id is not in the split, a duplicate id, or a missing
 * column is an error naming the file; validation rows without a prediction are counted (the coverage gate).
 */
export async function joinValidation(
  s3: S3Client,
  validationUri: string,
  predictions: PredictionTable,
  idColumn: string,
  columns: string[],
): Promise<JoinedRows> {
  const n = predictions.length;
  const index = new Map<string, number>();
  predictions.ids.forEach((id, i) => {
    if (index.has(id)) throw new InvalidStageInput(`Evaluate: predictions.jsonl has id "${id}" twice (lines ${index.get(id)! + 1} and ${i + 1})`);
    index.set(id, i);
  });
  const encoders = columns.map((c) => new ColumnEncoder(c, n));
  const seen = new Uint8Array(n);
  let validationRows = 0;
  let unscored = 0;
  const { bucket, key: prefix } = parseS3Uri(validationUri);
  const keys = await listKeys(s3, bucket, prefix);
  const parts = keys.filter((k) => /\.csv(\.gz)?$/.test(k));
  if (parts.length === 0) throw new InvalidStageInput(`Evaluate: no CSV part under ${validationUri}`);
  for (const key of parts) {
    const file = s3Uri(bucket, key);
    const table = await openTable(await getStream(s3, bucket, key), { format: 'csv', file });
    // A header refused below drops the table unread: close its S3 body first.
    if ([idColumn, ...columns].some((c) => !table.columns.includes(c))) await table.close();
    const idIdx = table.columns.indexOf(idColumn);
    if (idIdx < 0) throw new InvalidStageInput(`Evaluate: ${file} line 1: no id column "${idColumn}" in the header (${table.columns.join(', ')})`);
    const colIdx = columns.map((c) => {
      const i = table.columns.indexOf(c);
      if (i < 0) throw new InvalidStageInput(`Evaluate: ${file} line 1: slice/group column "${c}" is not in the header (${table.columns.join(', ')})`);
      return i;
    });
    for await (const { line, values } of table.rows) {
      validationRows++;
      const id = values[idIdx];
      const row = id === null ? undefined : index.get(id);
      if (row === undefined) {
        unscored++;
        continue;
      }
      if (seen[row]) throw new InvalidStageInput(`Evaluate: ${file} line ${line}: id "${id}" appears twice in the validation split`);
      seen[row] = 1;
      for (let c = 0; c < encoders.length; c++) encoders[c].set(row, values[colIdx[c]]);
    }
  }
  const orphan = seen.indexOf(0);
  if (orphan >= 0) {
    let count = 0;
    for (let i = 0; i < n; i++) count += seen[i] ? 0 : 1;
    throw new InvalidStageInput(
      `Evaluate: ${count} prediction row(s) have no row in the validation split ${validationUri} (first: id "${predictions.ids[orphan]}", line ${orphan + 1} of predictions.jsonl): ` +
        `the training script must score the validation rows under their "${idColumn}" value`,
    );
  }
  return { predictions, columns: encoders.map((e) => e.finish()), validationRows, unscored };
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Reads the run's anomalies defensively: an array or `{ anomalies: [...] }` of objects with id/severity/message. */
export async function readValidationSummary(s3: S3Client, validation: StageEvent['state']['validation']): Promise<DataValidationSummary | null> {
  if (!validation) return null;
  const base = { summary: validation.summary, blocking: validation.blocking, warnings: validation.warnings, anomaliesUri: validation.anomaliesUri };
  try {
    const { bucket, key } = parseS3Uri(validation.anomaliesUri);
    const raw = await getJsonIfExists<unknown>(s3, bucket, key);
    if (raw === undefined) return { ...base, anomalies: [], note: 'anomalies.json was not found' };
    const list = Array.isArray(raw) ? raw : Array.isArray((raw as { anomalies?: unknown })?.anomalies) ? (raw as { anomalies: unknown[] }).anomalies : null;
    if (!list) return { ...base, anomalies: [], note: 'anomalies.json has an unknown shape' };
    const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
    const anomalies = list
      .filter((a): a is Record<string, unknown> => !!a && typeof a === 'object')
      .slice(0, 100)
      .map((a) => ({
        id: str(a.id ?? a.rule),
        severity: str(a.severity),
        message: str(a.message ?? a.description),
        ...(a.column !== undefined ? { column: str(a.column) } : {}),
      }));
    return { ...base, anomalies, ...(list.length > 100 ? { note: `${list.length} anomalies; the first 100 are shown` } : {}) };
  } catch (err) {
    return { ...base, anomalies: [], note: `anomalies could not be read: ${(err as Error).message}` };
  }
}

/** Compact JSON: 6 significant digits are plenty for a metric, and keep thousands of slices small. */
export function compactJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) && Number.isFinite(v) ? Number(v.toPrecision(6)) : v));
}

/** Evaluate: computes everything, writes evaluation.json, report.html and decision.json, returns the verdict. */
export async function evaluateStage(event: StageEvent, env: LambdaEnv, deps: { s3: S3Client }): Promise<EvaluationRef> {
  const { executionName, state } = event;
  const { s3 } = deps;
  const config = env.config;
  if (!state.training?.outputDataUri) throw new InvalidStageInput('Evaluate: state.training.outputDataUri is missing: the training job has not produced output');
  if (!state.dataset) throw new InvalidStageInput('Evaluate: state.dataset is missing');
  const classes = await runClasses(s3, state.validation?.schemaUri, config).catch((err) => {
    throw err instanceof PredictionsError ? new InvalidStageInput(`Evaluate: ${err.message}`, { cause: err }) : err;
  });
  const predictions = await readPredictionTable(s3, state.training.outputDataUri, { problemType: config.evaluation.problemType, classes: classes ?? undefined }).catch((err) => {
    throw err instanceof PredictionsError ? new InvalidStageInput(`Evaluate: ${err.message}`, { cause: err }) : err;
  });
  const idColumn = config.dataset.idColumn ?? '_row_id';
  const columns = [...new Set([...config.dataset.sliceColumns, ...(config.evaluation.gates?.bias?.columns ?? [])])];
  const joined =
    columns.length > 0
      ? await joinValidation(s3, state.dataset.validationUri, predictions, idColumn, columns)
      : { predictions, columns: [], validationRows: state.dataset.rows.validation, unscored: Math.max(0, state.dataset.rows.validation - predictions.length) };

  const validation = await readValidationSummary(s3, state.validation);
  const championRecord = await getJsonIfExists<Partial<ChampionRecord>>(s3, env.artifactsBucket, Layout.champion);
  const doc = computeEvaluation({
    executionName,
    datasetId: state.dataset.datasetId,
    config,
    joined,
    validation,
    classes,
    champion: championRecord
      ? { executionName: championRecord.executionName, modelPackageArn: championRecord.modelPackageArn, modelDataUri: championRecord.modelDataUri ?? state.training.championModelDataUri }
      : state.training.championModelDataUri
        ? { modelDataUri: state.training.championModelDataUri }
        : null,
  });
  const bucket = env.artifactsBucket;
  const put = { kmsKeyArn: env.kmsKeyArn };
  const evaluationKey = `${Layout.evaluation(executionName)}evaluation.json`;
  const reportKey = `${Layout.evaluation(executionName)}report.html`;
  const modelQualityKey = `${Layout.evaluation(executionName)}model-quality.json`;
  const evaluationUri = s3Uri(bucket, evaluationKey);
  const reportUri = s3Uri(bucket, reportKey);
  const primary = doc.overall.metrics[doc.primaryMetric];
  const primaryMetric = { name: doc.primaryMetric, candidate: primary?.candidate.value ?? null, champion: doc.firstRun ? null : (primary?.champion?.value ?? null) };
  await putText(s3, bucket, evaluationKey, compactJson(doc), { ...put, contentType: 'application/json' });
  await putText(s3, bucket, reportKey, renderReport(doc), { ...put, contentType: 'text/html; charset=utf-8' });
  const modelQualityUri = await putText(s3, bucket, modelQualityKey, compactJson(modelQualityStatistics(doc)), { ...put, contentType: 'application/json' });
  const decision: DecisionRecord = {
    executionName,
    decidedAt: doc.createdAt,
    deploy: doc.decision.deploy,
    reasons: doc.decision.reasons,
    failedGates: doc.gates.filter((g) => !g.pass).map((g) => g.id),
    warnings: doc.warnings,
    firstRun: doc.firstRun,
    gatesSource: doc.gatesSource,
    approval: config.evaluation.approval,
    primaryMetric,
    evaluationUri,
    reportUri,
    ...(state.trigger ? { trigger: state.trigger } : {}),
  };
  const decisionUri = await putText(s3, bucket, Layout.decision(executionName), JSON.stringify(decision, null, 2), { ...put, contentType: 'application/json' });
  return {
    evaluationUri,
    modelQualityUri,
    reportUri,
    decisionUri,
    deploy: doc.decision.deploy,
    // the state stays small: the verdict line and at most 10 reasons (all of them are in decision.json)
    reasons: doc.decision.reasons.slice(0, 10).map((r) => (r.length > 300 ? `${r.slice(0, 297)}...` : r)),
    primaryMetric,
  };
}
