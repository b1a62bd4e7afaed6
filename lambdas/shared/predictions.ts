import { S3Client } from '@aws-sdk/client-s3';
import type { ProblemType, RelearnConfig } from './config';
import { getJsonIfExists, getStream, parseS3Uri } from './s3';
import { readFileFromTarGz } from './tar-gz';

/**
 * predictions.jsonl, the training script's output (docs/training-contract.md): one line per validation row,
 * `{"id": "<id>", "label": <number>, "candidate": <score>, "champion": <score | null>}`, where a score is
 * - binary_classification: P(classes[1]), a number in [0, 1]; the label is 0 or 1 (1 = classes[1]);
 * - multiclass_classification: K probabilities in the order of the run's classes (schema.json `classes`),
 *   each in [0, 1], summing to 1 (within PROBABILITY_SUM_TOLERANCE); the label is the class index;
 * - regression: the predicted value; the label is the value.
 * The champion's score is on every row or on none (a first run).
 */
export interface ScoredRow {
  readonly id: string;
  readonly label: number;
  readonly candidate: number | number[];
  readonly champion: number | number[] | null;
}
/** A row with one score per model (binary, regression). */
export interface PredictionRow extends ScoredRow {
  readonly candidate: number;
  readonly champion: number | null;
}

/** What the rows must look like; without a problem type only the shape is checked (a number or K numbers per score). */
export interface PredictionSpec {
  readonly problemType?: ProblemType;
  /** Multiclass: the class names, in the order of each row's probabilities (K = their number). */
  readonly classes?: readonly string[];
}

/**
 * predictions.jsonl in columns, as Evaluate computes on it: `k` scores per row (1, or K for multiclass), row
 * after row, in typed arrays (a million rows of 10 classes is 80 MB per model, not a million JS arrays).
 */
export interface PredictionTable {
  readonly length: number;
  /** Scores per row: 1, or K for multiclass. */
  readonly k: number;
  readonly ids: string[];
  readonly labels: Float64Array;
  readonly candidate: Float64Array;
  /** null on a first run (no champion scored the rows). */
  readonly champion: Float64Array | null;
}

export const PREDICTIONS_FILE = 'predictions.jsonl';
/** Multiclass: how far a row's probabilities may sum from 1 (rounding in the script's output; not logits). */
export const PROBABILITY_SUM_TOLERANCE = 0.01;

/** A line of predictions.jsonl that breaks the contract; the message names the file, the line and the field. */
export class PredictionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PredictionsError';
  }
}

/** Builds a PredictionTable row by row, checking each against the spec. */
class TableBuilder {
  private n = 0;
  private k: number;
  private ids: string[] = [];
  private labels: Float64Array;
  private candidate: Float64Array;
  private champion: Float64Array | null = null;
  /** Whether rows carry a champion score, and the first line that said so. */
  private champ: { has: boolean; line: number } | null = null;

  constructor(
    private readonly spec: PredictionSpec,
    private readonly file: string,
    capacity: number,
  ) {
    const K = spec.problemType === 'multiclass_classification' ? (spec.classes?.length ?? 0) : 1;
    if (spec.problemType === 'multiclass_classification' && K < 2) {
      throw new PredictionsError(`${file}: multiclass_classification needs the run's class list (schema.json "classes"), but got ${spec.classes ? JSON.stringify(spec.classes) : 'none'}`);
    }
    // without a problem type, the first row decides K
    this.k = spec.problemType ? K : 0;
    const cap = Math.max(16, capacity);
    this.labels = new Float64Array(cap);
    this.candidate = new Float64Array(cap * Math.max(1, this.k));
  }

  add(value: unknown, line: number): void {
    const at = `${this.file} line ${line}`;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new PredictionsError(`${at}: expected a JSON object {"id", "label", "candidate", "champion"}`);
    const row = value as Record<string, unknown>;
    const id = row.id;
    if (!(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) || id === '') {
      throw new PredictionsError(`${at}: field "id": expected the row's id (a non-empty string or a number), but got ${show(id)}`);
    }
    const label = this.label(row.label, at);
    const championValue = row.champion ?? null;
    const hasChampion = championValue !== null;
    if (this.champ === null) this.champ = { has: hasChampion, line };
    else if (this.champ.has !== hasChampion) {
      throw new PredictionsError(
        `${at}: field "champion": ${hasChampion ? 'a champion score' : 'no champion score'}, but line ${this.champ.line} has ${this.champ.has ? 'one' : 'none'}: the champion's score must be on every row or on none`,
      );
    }
    if (this.k === 0) this.k = Array.isArray(row.candidate) ? row.candidate.length : 1;
    this.grow();
    const n = this.n;
    this.score(row.candidate, 'candidate', at, this.candidate, n);
    if (hasChampion) {
      this.champion ??= new Float64Array(this.labels.length * this.k);
      this.score(championValue, 'champion', at, this.champion, n);
    }
    this.ids.push(String(id));
    this.labels[n] = label;
    this.n++;
  }

  finish(): PredictionTable {
    const n = this.n;
    const k = Math.max(1, this.k);
    return {
      length: n,
      k,
      ids: this.ids,
      labels: this.labels.slice(0, n),
      candidate: this.candidate.slice(0, n * k),
      champion: this.champion ? this.champion.slice(0, n * k) : null,
    };
  }

  private label(v: unknown, at: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new PredictionsError(`${at}: field "label": expected a finite number, but got ${show(v)}`);
    const { problemType, classes } = this.spec;
    if (problemType === 'binary_classification' && v !== 0 && v !== 1) {
      const names = classes?.length === 2 ? ` (0 = ${JSON.stringify(classes[0])}, 1 = ${JSON.stringify(classes[1])})` : '';
      throw new PredictionsError(`${at}: field "label": binary_classification labels are 0 or 1${names}, but got ${v}`);
    }
    if (problemType === 'multiclass_classification' && !(Number.isInteger(v) && v >= 0 && v < this.k)) {
      throw new PredictionsError(`${at}: field "label": expected a class index in [0, ${this.k - 1}] into the run's ${this.k} classes (${classList(classes!)}), but got ${v}`);
    }
    return v;
  }

  private score(v: unknown, field: 'candidate' | 'champion', at: string, into: Float64Array, row: number): void {
    const { problemType, classes } = this.spec;
    const k = this.k;
    if (problemType === 'multiclass_classification' || (problemType === undefined && k > 1)) {
      if (!Array.isArray(v)) {
        throw new PredictionsError(`${at}: field "${field}": expected ${k} class probabilities${classes ? ` (${classList(classes)})` : ''}, but got ${show(v)}`);
      }
      if (v.length !== k) {
        throw new PredictionsError(`${at}: field "${field}": expected ${k} class probabilities${classes ? ` (${classList(classes)})` : ''}, but got ${v.length}`);
      }
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const p = v[j];
        if (typeof p !== 'number' || !Number.isFinite(p) || (problemType && (p < 0 || p > 1))) {
          throw new PredictionsError(`${at}: field "${field}", element ${j}${classes ? ` (${JSON.stringify(classes[j])})` : ''}: expected a probability in [0, 1], but got ${show(p)}`);
        }
        sum += p;
        into[row * k + j] = p;
      }
      if (problemType && Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
        throw new PredictionsError(
          `${at}: field "${field}": the ${k} class probabilities sum to ${Number(sum.toPrecision(6))}, not 1 (within ${PROBABILITY_SUM_TOLERANCE}): write predict_proba's output, not scores or logits`,
        );
      }
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const what = problemType === 'regression' ? 'the predicted value (a finite number)' : problemType ? 'P(positive class), a number in [0, 1]' : 'a finite number';
      throw new PredictionsError(`${at}: field "${field}": expected ${what}, but got ${show(v)}`);
    }
    if (problemType === 'binary_classification' && (v < 0 || v > 1)) {
      throw new PredictionsError(`${at}: field "${field}": expected P(${classes?.length === 2 ? JSON.stringify(classes[1]) : 'positive class'}), a number in [0, 1], but got ${v}`);
    }
    into[row] = v;
  }

  private grow(): void {
    if (this.n < this.labels.length) return;
    const cap = this.labels.length * 2;
    const k = Math.max(1, this.k);
    const more = (a: Float64Array, size: number) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.labels = more(this.labels, cap);
    this.candidate = more(this.candidate, cap * k);
    if (this.champion) this.champion = more(this.champion, cap * k);
  }
}

const show = (v: unknown): string => {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};
const classList = (classes: readonly string[]): string => {
  const shown = classes.slice(0, 10).map((c) => JSON.stringify(c)).join(', ');
  return classes.length > 10 ? `${shown}, ... ${classes.length - 10} more` : shown;
};

/**
 * Parses predictions.jsonl into columns, line by line from the bytes (no string of the whole file), checking
 * each row against the spec. A bad line fails with PredictionsError naming the file, line and field.
 */
export function parsePredictionTable(content: Buffer | string, spec: PredictionSpec = {}, file = PREDICTIONS_FILE): PredictionTable {
  const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  let lines = 0;
  for (let at = buf.indexOf(10); at >= 0; at = buf.indexOf(10, at + 1)) lines++;
  const builder = new TableBuilder(spec, file, lines + 1);
  let start = 0;
  let lineNo = 0;
  while (start < buf.length) {
    let end = buf.indexOf(10, start);
    if (end < 0) end = buf.length;
    lineNo++;
    const text = buf.toString('utf8', start, end).trim();
    start = end + 1;
    if (!text) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new PredictionsError(`${file} line ${lineNo}: not valid JSON`);
    }
    builder.add(value, lineNo);
  }
  return builder.finish();
}

/** A PredictionTable from row objects (tests, and callers that built rows themselves), with the same checks. */
export function predictionTable(rows: readonly ScoredRow[], spec: PredictionSpec = {}, file = 'predictions'): PredictionTable {
  const builder = new TableBuilder(spec, file, rows.length);
  rows.forEach((r, i) => builder.add(r, i + 1));
  return builder.finish();
}

/** The rows of a table as objects (a score is a number, or an array of K numbers). */
export function tableRows(t: PredictionTable): ScoredRow[] {
  const score = (a: Float64Array, i: number): number | number[] => (t.k === 1 ? a[i] : Array.from(a.subarray(i * t.k, (i + 1) * t.k)));
  return t.ids.map((id, i) => ({ id, label: t.labels[i], candidate: score(t.candidate, i), champion: t.champion ? score(t.champion, i) : null }));
}

/** Rows with one score each; multiclass predictions (K scores per row) are read with parsePredictionTable. */
function scalarRows(t: PredictionTable, file: string): PredictionRow[] {
  if (t.k !== 1) throw new PredictionsError(`${file}: expected one score per row, but the rows have ${t.k} (multiclass: read them as a table)`);
  return tableRows(t) as PredictionRow[];
}

/** Parses predictions.jsonl with one score per row (binary, regression); a bad line fails with the file and line number. */
export function parsePredictions(text: string, file = PREDICTIONS_FILE, spec: PredictionSpec = {}): PredictionRow[] {
  return scalarRows(parsePredictionTable(text, spec, file), file);
}

async function readPredictionsFile(s3: S3Client, outputDataUri: string): Promise<Buffer> {
  const { bucket, key } = parseS3Uri(outputDataUri);
  const body = await getStream(s3, bucket, key);
  const file = await readFileFromTarGz(body, PREDICTIONS_FILE, outputDataUri);
  if (!file) throw new PredictionsError(`${outputDataUri} has no ${PREDICTIONS_FILE}: the training script must write it to SM_OUTPUT_DATA_DIR`);
  return file;
}

/** The predictions a training job wrote, read from its output.tar.gz in S3, in columns. */
export async function readPredictionTable(s3: S3Client, outputDataUri: string, spec: PredictionSpec = {}): Promise<PredictionTable> {
  return parsePredictionTable(await readPredictionsFile(s3, outputDataUri), spec, `${outputDataUri}!${PREDICTIONS_FILE}`);
}

/** The predictions a training job wrote (one score per row), read from its output.tar.gz in S3, as row objects. */
export async function readPredictions(s3: S3Client, outputDataUri: string, spec: PredictionSpec = {}): Promise<PredictionRow[]> {
  return scalarRows(await readPredictionTable(s3, outputDataUri, spec), outputDataUri);
}

/**
 * The run's classes, in order: `classes` of the run's schema.json (ValidateData pins them there, Contract A),
 * else `dataset.classes` of the config. Null for regression, and for classification without either (binary then
 * works on 0/1 alone; multiclass fails, since the probabilities mean nothing without their order).
 */
export async function runClasses(s3: S3Client, schemaUri: string | undefined, config: RelearnConfig): Promise<string[] | null> {
  const problemType = config.evaluation.problemType;
  if (problemType === 'regression') return null;
  const fromConfig = (config.dataset as { classes?: unknown }).classes;
  let fromSchema: unknown;
  if (schemaUri) {
    const { bucket, key } = parseS3Uri(schemaUri);
    fromSchema = (await getJsonIfExists<{ classes?: unknown }>(s3, bucket, key))?.classes;
  }
  const list = fromSchema ?? fromConfig;
  const where = fromSchema !== undefined ? `${schemaUri} "classes"` : 'dataset.classes';
  if (list === undefined || list === null) {
    if (problemType === 'binary_classification') return null;
    throw new PredictionsError(
      `multiclass_classification needs the run's classes in order, but ${schemaUri ?? 'the run'} has no "classes" (ValidateData writes them) and dataset.classes is not set`,
    );
  }
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string') || new Set(list).size !== list.length) {
    throw new PredictionsError(`${where} must be a list of distinct class names, but got ${JSON.stringify(list).slice(0, 200)}`);
  }
  const need = problemType === 'binary_classification' ? 'exactly 2' : 'at least 2';
  if (problemType === 'binary_classification' ? list.length !== 2 : list.length < 2) {
    throw new PredictionsError(`${problemType} needs ${need} classes, but ${where} has ${list.length}: ${JSON.stringify(list).slice(0, 200)}`);
  }
  return list as string[];
}
