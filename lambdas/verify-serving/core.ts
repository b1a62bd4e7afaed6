import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { s3Client, sageMakerClient, sageMakerRuntimeClient } from '../shared/clients';
import { RelearnConfig } from '../shared/config';
import { ServingRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput, ServingSkew } from '../shared/errors';
import { logger } from '../shared/logger';
import { PredictionTable, readPredictionTable, runClasses } from '../shared/predictions';
import { getStream, parseS3Uri } from '../shared/s3';
import { readRows, Value } from '../shared/tabular';
import { rollBackEndpoint } from '../deploy/endpoint';

export interface VerifyServingDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  readonly runtime: SageMakerRuntimeClient;
}

const defaultDeps = (): VerifyServingDeps => ({ s3: s3Client(), sagemaker: sageMakerClient(), runtime: sageMakerRuntimeClient() });

/** The id column Ingest guarantees: the configured one, or the `_row_id` it adds. */
export const idColumnOf = (config: RelearnConfig): string => config.dataset.idColumn ?? '_row_id';

export interface SampleRow {
  readonly id: string;
  /** Where it came from, for messages: `<key> line <n>`. */
  readonly at: string;
  /** The row as a client would send it: every column but the label, values as the CSV has them. */
  readonly features: Record<string, Value>;
}

export interface RowDifference {
  readonly id: string;
  readonly at: string;
  /** A score, or K class probabilities (multiclass). */
  readonly served: number | number[];
  readonly offline: number | number[];
  /** |served - offline|; multiclass: the largest over the K probabilities. */
  readonly diff: number;
}

/**
 * VerifyServing: the live endpoint must give the scores the training job gave offline for the same rows.
 * Sends `verifySampleRows` validation rows (label removed) as one JSON request, joins the answers with the
 * offline candidate predictions on the id column, and compares: per row |served - offline|, for multiclass
 * the largest difference over the K class probabilities (and the endpoint's `classes` must be the run's, in
 * order). Beyond `verifyTolerance`, or when the endpoint cannot answer the request, it rolls the endpoint back
 * (previous config, or delete on a first deploy) and throws ServingSkew naming the worst rows.
 */
export async function verifyServing(event: StageEvent, env: LambdaEnv, deps: VerifyServingDeps = defaultDeps()): Promise<ServingRef> {
  const { state } = event;
  const { config } = env;
  const deployment = state.deployment;
  if (!deployment) throw new InvalidStageInput('VerifyServing: the state has no deployment: it runs after CheckEndpoint');
  // A retrain checks its candidate on its own split; a rollback checks the model it restores on that model's.
  const validationUri = state.rollback?.target?.validationUri ?? state.dataset?.validationUri;
  if (!validationUri) throw new InvalidStageInput('VerifyServing: the state has no dataset');
  const outputDataUri = state.rollback?.target?.outputDataUri ?? state.training?.outputDataUri;
  if (!outputDataUri) throw new InvalidStageInput('VerifyServing: state.training.outputDataUri is missing: no offline predictions to compare with');

  const sample = await sampleValidationRows(deps.s3, validationUri, config, config.deployment.verifySampleRows);
  const problemType = config.evaluation.problemType;
  const classes = await runClasses(deps.s3, state.rollback?.target?.schemaUri ?? state.validation?.schemaUri, config);
  const table = await readPredictionTable(deps.s3, outputDataUri, { problemType, classes: classes ?? undefined });
  const offline = offlineScores(table);
  for (const row of sample) {
    if (!offline.has(row.id)) {
      throw new Error(`${row.at}: id "${row.id}" has no offline prediction in ${outputDataUri}: predictions.jsonl must score every validation row`);
    }
  }

  let served: (number | number[])[];
  try {
    served = await invoke(deps.runtime, deployment.endpointName, sample, problemType === 'multiclass_classification' ? classes! : null);
  } catch (err) {
    if (!(err instanceof UnusableAnswer)) throw err;
    const rollback = await rollBackEndpoint(deps.sagemaker, deployment);
    throw new ServingSkew(`endpoint ${deployment.endpointName} could not score ${sample.length} validation rows: ${err.message}. ${rollback.detail}`, { cause: err });
  }

  const diffs: RowDifference[] = sample.map((row, i) => {
    const off = offline.get(row.id)!;
    return { id: row.id, at: row.at, served: served[i], offline: off, diff: scoreDifference(served[i], off) };
  });
  // NaN never passes: a NaN score is as wrong as any.
  const maxAbsDifference = diffs.reduce((m, d) => (Number.isNaN(d.diff) ? Infinity : Math.max(m, d.diff)), 0);
  if (maxAbsDifference > config.deployment.verifyTolerance) {
    const worst = worstRows(diffs, 5);
    const rollback = await rollBackEndpoint(deps.sagemaker, deployment);
    throw new ServingSkew(
      `endpoint ${deployment.endpointName} (${deployment.endpointConfigName}) disagrees with the offline predictions: max |served - offline| = ${maxAbsDifference} ` +
        `> tolerance ${config.deployment.verifyTolerance} over ${sample.length} rows; worst: ${worst
          .map((d) => `id ${d.id} (${d.at}) served ${showScore(d.served)} offline ${showScore(d.offline)}`)
          .join('; ')}. ${rollback.detail}`,
    );
  }
  logger.info('VerifyServing: served scores match the offline predictions', { checkedRows: sample.length, maxAbsDifference });
  return { checkedRows: sample.length, maxAbsDifference };
}

/** The offline candidate score of each validation row, by id: a number, or K probabilities (multiclass). */
function offlineScores(t: PredictionTable): Map<string, number | number[]> {
  const out = new Map<string, number | number[]>();
  t.ids.forEach((id, i) => out.set(id, t.k === 1 ? t.candidate[i] : Array.from(t.candidate.subarray(i * t.k, (i + 1) * t.k))));
  return out;
}

/** |served - offline|, or for K class probabilities the largest of the K differences; NaN when they cannot be compared. */
export function scoreDifference(served: number | number[], offline: number | number[]): number {
  if (typeof served === 'number' && typeof offline === 'number') return Math.abs(served - offline);
  if (!Array.isArray(served) || !Array.isArray(offline) || served.length !== offline.length) return NaN;
  let max = 0;
  for (let k = 0; k < served.length; k++) {
    const d = Math.abs(served[k] - offline[k]);
    if (Number.isNaN(d)) return NaN;
    max = Math.max(max, d);
  }
  return max;
}

const showScore = (s: number | number[]) => (Array.isArray(s) ? `[${s.map((x) => Number(x.toPrecision(6))).join(', ')}]` : String(s));

export function worstRows(diffs: RowDifference[], n: number): RowDifference[] {
  const key = (d: RowDifference) => (Number.isNaN(d.diff) ? Infinity : d.diff);
  return [...diffs].sort((a, b) => key(b) - key(a)).slice(0, n);
}

/**
 * The first `n` rows of the validation split (its CSV part files in key order: deterministic), each without
 * the label column. Values stay as the CSV has them (text, or null for an empty field): the serving code
 * types columns by name, as it does for the training CSV, so nothing is lost or re-typed on the way.
 */
export async function sampleValidationRows(s3: S3Client, validationUri: string, config: RelearnConfig, n: number): Promise<SampleRow[]> {
  const { bucket, key: prefix } = parseS3Uri(validationUri);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key && /\.csv(\.gz)?$/.test(o.Key)) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  keys.sort();
  if (keys.length === 0) throw new Error(`${validationUri}: no CSV part files in the validation split`);

  const label = config.dataset.labelColumn;
  const idColumn = idColumnOf(config);
  const rows: SampleRow[] = [];
  for (const key of keys) {
    const file = `s3://${bucket}/${key}`;
    const stream = await getStream(s3, bucket, key);
    try {
      for await (const { line, row } of readRows(stream, { format: 'csv', file })) {
        if (!(idColumn in row)) throw new Error(`${file} line 1: no id column "${idColumn}" in the header`);
        if (!(label in row)) throw new Error(`${file} line 1: no label column "${label}" in the header`);
        const id = row[idColumn];
        if (id === null || id === '') throw new Error(`${file} line ${line}, column "${idColumn}": the id is empty`);
        const { [label]: _label, ...features } = row;
        rows.push({ id, at: `${file} line ${line}`, features });
        if (rows.length >= n) return rows;
      }
    } finally {
      stream.destroy();
    }
  }
  if (rows.length === 0) throw new Error(`${validationUri}: the validation split has no rows`);
  return rows;
}

/** The endpoint answered, but not with one score per row: the model cannot serve what it was trained on. */
export class UnusableAnswer extends Error {}

/**
 * One InvokeEndpoint with the sample as a JSON list of objects; the answer in the serving shape of
 * docs/training-contract.md: `{"predictions": [...], "classes": [...], "labels": [...]}` (a bare list is also
 * read). Multiclass: each prediction is the K class probabilities, and `classes`, when sent, must be the run's.
 */
async function invoke(runtime: SageMakerRuntimeClient, endpointName: string, sample: SampleRow[], classes: readonly string[] | null): Promise<(number | number[])[]> {
  let body: string;
  try {
    const res = await runtime.send(
      new InvokeEndpointCommand({
        EndpointName: endpointName,
        ContentType: 'application/json',
        Accept: 'application/json',
        Body: new TextEncoder().encode(JSON.stringify(sample.map((r) => r.features))),
      }),
    );
    body = new TextDecoder().decode(res.Body);
  } catch (err) {
    // ModelError: the container answered with an error (4xx/5xx from the serving code).
    const e = err as { name?: string; message?: string; OriginalMessage?: string };
    if (e?.name === 'ModelError') throw new UnusableAnswer(`the model answered with an error: ${e.OriginalMessage ?? e.message}`);
    throw err;
  }
  return parseServingAnswer(body, sample.length, classes);
}

/** The scores of a JSON serving answer, one per row sent; throws UnusableAnswer saying what is off. */
export function parseServingAnswer(body: string, rows: number, classes: readonly string[] | null): (number | number[])[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new UnusableAnswer(`the answer is not JSON: ${body.slice(0, 200)}`);
  }
  const answer = parsed as { predictions?: unknown; classes?: unknown };
  const scores = Array.isArray(parsed) ? parsed : answer?.predictions;
  const shape = classes ? `{"predictions": [[${classes.length} class probabilities], ...], "classes": [...]}` : '{"predictions": [scores]}';
  if (!Array.isArray(scores)) throw new UnusableAnswer(`expected ${shape}, got ${body.slice(0, 200)}`);
  if (scores.length !== rows) throw new UnusableAnswer(`sent ${rows} rows, got ${scores.length} scores`);
  if (classes && !Array.isArray(parsed) && answer.classes !== undefined) {
    const served = answer.classes;
    if (!Array.isArray(served) || served.length !== classes.length || served.some((c, k) => String(c) !== classes[k])) {
      throw new UnusableAnswer(`the endpoint's classes ${JSON.stringify(served).slice(0, 200)} are not the run's ${JSON.stringify(classes).slice(0, 200)} (same names, same order)`);
    }
  }
  return scores.map((s, i) => {
    if (!classes) {
      if (typeof s !== 'number') throw new UnusableAnswer(`score ${i + 1} is not a number: ${JSON.stringify(s)}`);
      return s;
    }
    if (!Array.isArray(s) || s.length !== classes.length || s.some((p) => typeof p !== 'number')) {
      throw new UnusableAnswer(`prediction ${i + 1} is not ${classes.length} class probabilities: ${JSON.stringify(s).slice(0, 200)}`);
    }
    return s as number[];
  });
}
