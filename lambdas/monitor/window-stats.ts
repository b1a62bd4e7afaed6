import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { ColumnKind, CsvStatsScanner, DatasetStats, DatasetStatsJson, StatsPlan } from '../shared/stats';
import { Value, writeCsvRow } from '../shared/tabular';
import { CaptureFormatError, CaptureRecord, parseCaptureLine, payloadText, requestRows, responsePredictions, UnreadableBody } from './capture';

/**
 * The statistics of a window of captured traffic, computed with the validation's engine (CsvStatsScanner: the
 * same sketches, hashes and kinds), so that they compare with the champion's baseline statistics one to one.
 * Two tables are kept: the request rows (features, in the plan's columns) and the predictions (`prediction`, and
 * `predicted_label` for classification; for a multiclass model whose classes are known, also one `P(<class>)` column
 * per class). Memory is bounded: sketches per column, a few counters, and at most MAX_NAMED names of columns the
 * plan does not know.
 */

export const PREDICTION_COLUMN = 'prediction';
export const PREDICTED_LABEL_COLUMN = 'predicted_label';
/** A multiclass model's probability of one class, a column of the prediction table. */
export const classProbabilityColumn = (cls: string): string => `P(${cls})`;
/** Columns outside the plan whose names are kept (the rest are only counted). */
export const MAX_NAMED = 100;

export type ProblemType = 'binary_classification' | 'multiclass_classification' | 'regression' | (string & {});

/** What every shard of a window agrees on (written once by the plan step). */
export interface MonitorPlan {
  /** Request columns and kinds: the champion schema's features (its kinds), then new columns seen in a sample. */
  readonly features: StatsPlan;
  readonly predictions: StatsPlan;
  readonly problemType: ProblemType;
  /** Decision threshold of a binary classifier's P(positive) (evaluation.threshold). */
  readonly threshold: number;
  /** Class names in score order (the champion schema's `classes`), when known. */
  readonly classes?: readonly string[];
  /** Columns ignored in requests: the label (a request that carries it is not a feature). */
  readonly ignore: readonly string[];
  /** [start, end) of the window, ISO 8601. */
  readonly start: string;
  readonly end: string;
}

/**
 * The prediction table's plan for a problem type: the score (binary P(positive), the regression value, the most
 * probable class's probability) and the predicted class; a multiclass model with known classes adds each class's
 * probability, so that a shift between classes that leaves the winner alone is still seen.
 */
export function predictionPlan(problemType: ProblemType, classes?: readonly string[]): StatsPlan {
  const columns: { name: string; kind: ColumnKind }[] = [{ name: PREDICTION_COLUMN, kind: 'numeric' }];
  if (problemType !== 'regression') columns.push({ name: PREDICTED_LABEL_COLUMN, kind: 'categorical' });
  if (problemType === 'multiclass_classification') for (const c of classes ?? []) columns.push({ name: classProbabilityColumn(c), kind: 'numeric' });
  return { columns };
}

export interface WindowCounts {
  /** Capture files read. */
  files: number;
  /** Capture records (lines) read, in and out of the window. */
  records: number;
  /** Records whose inferenceTime is outside [start, end) (a file's hour folder is not its records' time). */
  outsideWindow: number;
  /** Records of the window with a captured request / response. */
  requests: number;
  responses: number;
  /** Request rows (instances): what the statistics count. */
  rows: number;
  /** Predictions read from responses. */
  predictions: number;
  /** Requests/responses that are not what relearn's serving contract describes (Contract A), and lines that are no capture record. */
  unreadableRequests: number;
  unreadableResponses: number;
  badLines: number;
  /** Responses whose number of predictions differs from the request's rows. */
  mismatched: number;
  /** Rows in which each plan column is present (a JSON key left out, or a CSV header without it, is absent). */
  presence: Record<string, number>;
  /** Rows carrying columns the plan does not know, by name (at most MAX_NAMED names), and rows beyond those. */
  unplanned: Record<string, number>;
  unplannedOther: number;
  /** First and last inferenceTime seen in the window (ISO), or null. */
  firstTime: string | null;
  lastTime: string | null;
  /** One example of each kind of problem, naming file and line. */
  examples: string[];
}

/** What one shard writes (and the merge of all shards). */
export interface WindowShardJson {
  readonly counts: WindowCounts;
  readonly features: DatasetStatsJson;
  readonly predictions: DatasetStatsJson;
}

const emptyCounts = (): WindowCounts => ({
  files: 0,
  records: 0,
  outsideWindow: 0,
  requests: 0,
  responses: 0,
  rows: 0,
  predictions: 0,
  unreadableRequests: 0,
  unreadableResponses: 0,
  badLines: 0,
  mismatched: 0,
  presence: {},
  unplanned: {},
  unplannedOther: 0,
  firstTime: null,
  lastTime: null,
  examples: [],
});

const MAX_EXAMPLES = 5;
const BATCH = 512;

/** Builds the statistics of captured records, one record at a time. */
export class WindowStatsBuilder {
  readonly counts = emptyCounts();
  private readonly featureScanner: CsvStatsScanner;
  private readonly predictionScanner: CsvStatsScanner;
  private readonly columns: string[];
  private readonly planned: Set<string>;
  private readonly ignored: Set<string>;
  private readonly presence: Float64Array;
  private readonly startMs: number;
  private readonly endMs: number;
  private firstMs = Infinity;
  private lastMs = -Infinity;
  private featureBatch: string[] = [];
  private predictionBatch: string[] = [];

  constructor(private readonly plan: MonitorPlan) {
    this.columns = plan.features.columns.map((c) => c.name);
    this.planned = new Set(this.columns);
    this.ignored = new Set(plan.ignore);
    this.presence = new Float64Array(this.columns.length);
    this.featureScanner = new CsvStatsScanner(plan.features, { file: 'captured requests' });
    this.featureScanner.push(Buffer.from(writeCsvRow(this.columns)));
    this.predictionScanner = new CsvStatsScanner(plan.predictions, { file: 'captured responses' });
    this.predictionScanner.push(Buffer.from(writeCsvRow(plan.predictions.columns.map((c) => c.name))));
    this.startMs = Date.parse(plan.start);
    this.endMs = Date.parse(plan.end);
  }

  private example(text: string): void {
    if (this.counts.examples.length < MAX_EXAMPLES) this.counts.examples.push(text);
  }

  /** Reads one capture file (JSON Lines), streaming; `file` names it in examples. */
  async addFile(input: Readable, file: string): Promise<void> {
    this.counts.files++;
    input.setEncoding('utf8');
    const lines = createInterface({ input, crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      this.addLine(line, file, n);
    }
  }

  /** One line of a capture file. */
  addLine(line: string, file: string, lineNo: number): void {
    this.counts.records++;
    let rec: CaptureRecord;
    try {
      rec = parseCaptureLine(line);
    } catch (err) {
      if (!(err instanceof CaptureFormatError)) throw err;
      this.counts.badLines++;
      this.example(`${file} line ${lineNo}: not a capture record: ${err.message}`);
      return;
    }
    this.addRecord(rec, file, lineNo);
  }

  addRecord(rec: CaptureRecord, file = 'record', lineNo = 0): void {
    const c = this.counts;
    const t = Date.parse(rec.eventMetadata.inferenceTime);
    if (!(t >= this.startMs && t < this.endMs)) {
      c.outsideWindow++;
      return;
    }
    if (t < this.firstMs) this.firstMs = t;
    if (t > this.lastMs) this.lastMs = t;
    const input = rec.captureData.endpointInput;
    const output = rec.captureData.endpointOutput;
    let rowCount: number | undefined;
    if (input) {
      c.requests++;
      try {
        const req = requestRows(payloadText(input), input.observedContentType);
        rowCount = req.rows.length;
        for (const row of req.rows) this.addRow(row, req.columns);
      } catch (err) {
        if (!(err instanceof UnreadableBody)) throw err;
        c.unreadableRequests++;
        this.example(`${file} line ${lineNo}: request: ${err.message}`);
      }
    }
    if (output) {
      c.responses++;
      try {
        const res = responsePredictions(payloadText(output), output.observedContentType);
        // The whole response is checked against the problem type before any of it is counted.
        const rows = res.scores.map((s) => predictionValues(s, this.plan, res.classes));
        if (rowCount !== undefined && res.scores.length !== rowCount) {
          c.mismatched++;
          this.example(`${file} line ${lineNo}: the response has ${res.scores.length} predictions for ${rowCount} request rows`);
        }
        for (const r of rows) this.addPrediction(r);
      } catch (err) {
        if (!(err instanceof UnreadableBody)) throw err;
        c.unreadableResponses++;
        this.example(`${file} line ${lineNo}: response: ${err.message}`);
      }
    }
  }

  private addRow(row: Readonly<Record<string, Value | undefined>>, keys: readonly string[]): void {
    const c = this.counts;
    c.rows++;
    const values: Value[] = new Array(this.columns.length);
    for (let i = 0; i < this.columns.length; i++) {
      const v = row[this.columns[i]];
      if (v !== undefined) this.presence[i]++;
      values[i] = v ?? null;
    }
    for (const k of keys) {
      if (this.planned.has(k) || this.ignored.has(k) || row[k] === undefined) continue;
      if (k in c.unplanned || Object.keys(c.unplanned).length < MAX_NAMED) c.unplanned[k] = (c.unplanned[k] ?? 0) + 1;
      else c.unplannedOther++;
    }
    this.featureBatch.push(writeCsvRow(values));
    if (this.featureBatch.length >= BATCH) this.flushFeatures();
  }

  /** One prediction, as a row of the prediction table (predictionValues). */
  private addPrediction(values: Value[]): void {
    this.counts.predictions++;
    this.predictionBatch.push(writeCsvRow(values));
    if (this.predictionBatch.length >= BATCH) this.flushPredictions();
  }

  private flushFeatures(): void {
    if (this.featureBatch.length) this.featureScanner.push(Buffer.from(this.featureBatch.join('')));
    this.featureBatch = [];
  }

  private flushPredictions(): void {
    if (this.predictionBatch.length) this.predictionScanner.push(Buffer.from(this.predictionBatch.join('')));
    this.predictionBatch = [];
  }

  finish(): WindowShardJson {
    this.flushFeatures();
    this.flushPredictions();
    const c = this.counts;
    this.columns.forEach((name, i) => (c.presence[name] = this.presence[i]));
    c.firstTime = Number.isFinite(this.firstMs) ? new Date(this.firstMs).toISOString() : null;
    c.lastTime = Number.isFinite(this.lastMs) ? new Date(this.lastMs).toISOString() : null;
    return { counts: c, features: this.featureScanner.end().toJSON(), predictions: this.predictionScanner.end().toJSON() };
  }
}

/**
 * The prediction table's row for one score, the same for served and baseline predictions, in the columns of
 * `plan.predictions` (predictionPlan):
 * - binary: a number, P(positive); the class is decided by `threshold`;
 * - regression: a number, the value;
 * - multiclass: K probabilities; the value is the most probable class's, the class is that one, then each known
 *   class's probability. A response that names its classes (Contract A's `classes`) is read by name: a class the
 *   plan does not know can still be the predicted one, a known class the response lacks has probability 0.
 *   Without names, the K probabilities are in the plan's class order and must be as many.
 * Classes are named by the response's or the plan's `classes` where known, else by index. A score of the wrong
 * shape for the problem type is an UnreadableBody.
 */
export function predictionValues(
  score: number | readonly number[],
  plan: Pick<MonitorPlan, 'problemType' | 'threshold' | 'classes'>,
  responseClasses?: readonly string[],
): Value[] {
  const names = responseClasses ?? plan.classes;
  if (plan.problemType !== 'multiclass_classification') {
    if (typeof score !== 'number') {
      throw new UnreadableBody(`a prediction of a ${plan.problemType} model is one number per row, but got a list of ${score.length}`);
    }
    if (plan.problemType === 'regression') return [String(score)];
    const k = score >= plan.threshold ? 1 : 0;
    return [String(score), names?.[k] ?? String(k)];
  }
  if (typeof score === 'number') throw new UnreadableBody('a prediction of a multiclass_classification model is a list of class probabilities per row, but got one number');
  if (responseClasses && responseClasses.length !== score.length) {
    throw new UnreadableBody(`the response names ${responseClasses.length} classes but gives ${score.length} probabilities`);
  }
  const known = plan.classes ?? [];
  if (!responseClasses && known.length && known.length !== score.length) {
    throw new UnreadableBody(`${score.length} probabilities per row, but the champion has ${known.length} classes (${known.join(', ')})`);
  }
  let best = 0;
  for (let i = 1; i < score.length; i++) if (score[i] > score[best]) best = i;
  const perClass = known.map((c) => {
    const i = responseClasses ? responseClasses.indexOf(c) : known.indexOf(c);
    return String(i < 0 ? 0 : score[i]);
  });
  return [String(score[best]), names?.[best] ?? String(best), ...perClass];
}

/** Merges shard results (statistics merge; counts add up; examples and names stay bounded). */
export function mergeShards(shards: readonly WindowShardJson[], plan: MonitorPlan): WindowShardJson {
  const features = new DatasetStats(plan.features);
  const predictions = new DatasetStats(plan.predictions);
  const c = emptyCounts();
  let first: string | null = null;
  let last: string | null = null;
  for (const s of shards) {
    features.merge(DatasetStats.fromJSON(s.features));
    predictions.merge(DatasetStats.fromJSON(s.predictions));
    const sc = s.counts;
    for (const k of ['files', 'records', 'outsideWindow', 'requests', 'responses', 'rows', 'predictions', 'unreadableRequests', 'unreadableResponses', 'badLines', 'mismatched', 'unplannedOther'] as const) c[k] += sc[k];
    for (const [k, v] of Object.entries(sc.presence)) c.presence[k] = (c.presence[k] ?? 0) + v;
    for (const [k, v] of Object.entries(sc.unplanned)) {
      if (k in c.unplanned || Object.keys(c.unplanned).length < MAX_NAMED) c.unplanned[k] = (c.unplanned[k] ?? 0) + v;
      else c.unplannedOther += v;
    }
    for (const e of sc.examples) if (c.examples.length < MAX_EXAMPLES) c.examples.push(e);
    if (sc.firstTime && (!first || sc.firstTime < first)) first = sc.firstTime;
    if (sc.lastTime && (!last || sc.lastTime > last)) last = sc.lastTime;
  }
  for (const col of plan.features.columns) c.presence[col.name] ??= 0;
  c.firstTime = first;
  c.lastTime = last;
  return { counts: c, features: features.toJSON(), predictions: predictions.toJSON() };
}
