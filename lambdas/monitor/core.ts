import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { RelearnConfig } from '../shared/config';
import { ChampionRecord } from '../shared/contracts';
import { InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJsonIfExists, getStream, putJson, putText, s3Uri } from '../shared/s3';
import { ColumnKind, DatasetSchema, inferKinds } from '../shared/stats';
import { Value } from '../shared/tabular';
import { baselineRef, loadBaselines, readChampion, readSchema } from './baseline';
import { parseCaptureLine, payloadText, requestRows, UnreadableBody } from './capture';
import { SERVING_VARIANT } from './capture-config';
import { BaselineRef, compareWindow, MonitorReport, Verdict, windowText } from './compare';
import { endpointFailures } from './failures';
import { monitoringMetricData, putMonitoringMetrics } from './metrics';
import { renderMonitorReport } from './report';
import { requestRetrain, retrainReason } from './retrain';
import { listCaptureFiles, MonitorWindow, parseWindow, scheduledWindow, windowOf, WindowError } from './window';
import { mergeShards, MonitorPlan, predictionPlan, WindowShardJson, WindowStatsBuilder } from './window-stats';

/**
 * The monitor's three steps, each a task of the monitoring state machine (lib/constructs/monitoring.ts):
 *
 *   PlanWindow     which capture files the window needs, the plan every shard uses, and the champion it is judged against
 *   WindowStatistics (Map)  MonitorShard: the statistics of a group of capture files, written to S3
 *   CompareWithBaseline     merge, compare, report.json + report.html, metrics, one notification in words
 *
 * S3 layout: `monitoring/<window>/report.json` and `report.html` (the latest run of that window), the run's working
 * files under `monitoring/<window>/runs/<execution>/`, `monitoring/latest.json` (the newest window's verdict, read by
 * `relearn status`) and `monitoring/baselines/<champion>/` (the champion's prediction baseline).
 */

export const MonitorLayout = {
  window: (windowId: string) => `monitoring/${windowId}/`,
  run: (windowId: string, executionName: string) => `monitoring/${windowId}/runs/${executionName}/`,
  plan: (windowId: string, executionName: string) => `monitoring/${windowId}/runs/${executionName}/plan.json`,
  shard: (windowId: string, executionName: string, shard: number) => `monitoring/${windowId}/runs/${executionName}/shards/${shard}.json`,
  report: (windowId: string) => `monitoring/${windowId}/report.json`,
  html: (windowId: string) => `monitoring/${windowId}/report.html`,
  latest: 'monitoring/latest.json',
} as const;

/** The monitoring execution's input: a window (`--window`), else the `monitoring.windowMinutes` before its start. */
export const MonitorInputSchema = z
  .object({
    /** A duration ending at the execution's start (`6h`), or `<start>/<end>` in ISO 8601. */
    window: z.string().min(1).optional(),
    /** Who asked, in words (shown in the report's logs). @default - the schedule */
    reason: z.string().max(500).optional(),
  })
  .passthrough();

export const PlanEventSchema = z.object({ executionName: z.string().min(1), startTime: z.string().min(1), input: MonitorInputSchema });
export type PlanEvent = z.infer<typeof PlanEventSchema>;

/** PlanWindow's result, at `$.plan` (small: the shard list is indices, the keys are in plan.json). */
export const PlanResultSchema = z.object({
  windowId: z.string(),
  start: z.string(),
  end: z.string(),
  planKey: z.string(),
  shards: z.array(z.number().int()),
  files: z.number().int(),
  bytes: z.number(),
  champion: z.string().nullable(),
});
export type PlanResult = z.infer<typeof PlanResultSchema>;

export const ShardEventSchema = z.object({ executionName: z.string().min(1), planKey: z.string().min(1), shard: z.number().int().min(0) });
export const CompareEventSchema = z.object({ executionName: z.string().min(1), plan: PlanResultSchema });

/** plan.json: everything the shards and the comparison agree on. */
export interface PlanFile {
  readonly window: { readonly id: string; readonly start: string; readonly end: string };
  readonly plan: MonitorPlan;
  readonly shards: string[][];
  readonly champion: ChampionRecord | null;
  readonly schema: DatasetSchema | null;
  readonly reason?: string;
}

export interface MonitorDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly config: RelearnConfig;
  readonly endpointName: string;
}

export interface CompareDeps extends MonitorDeps {
  readonly cloudwatch: CloudWatchClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  /** Where a drift retrain is asked for (the trigger queue): required when monitoring.retrainOnDrift is on. */
  readonly retrain?: { readonly sqs: SQSClient; readonly queueUrl: string };
  /** @default - the current time */
  readonly now?: () => Date;
}

/** Bytes of the first capture files read to find the columns requests carry (as ComputeStatistics samples 1 MB). */
export const SAMPLE_BYTES = 1 << 20;
const SAMPLE_ROWS = 2000;

export async function planMonitor(event: PlanEvent, deps: MonitorDeps): Promise<PlanResult> {
  const { s3, artifactsBucket: bucket, config } = deps;
  const m = config.monitoring;
  let window: MonitorWindow;
  try {
    window = event.input.window ? parseWindow(event.input.window, new Date(event.startTime)) : scheduledWindow(new Date(event.startTime), m.windowMinutes);
  } catch (err) {
    if (err instanceof WindowError) throw new InvalidStageInput(`the monitoring window: ${err.message}`, { cause: err });
    throw err;
  }
  const champion = await readChampion(s3, bucket);
  const schema = champion ? await readSchema(s3, champion.schemaUri) : undefined;
  const files = await listCaptureFiles(s3, bucket, m.capture.prefix, deps.endpointName, window);
  const sample = await sampleRequests(s3, bucket, files.map((f) => f.key));
  const plan = buildPlan(config, schema, sample, window);
  const shards: string[][] = [];
  for (let i = 0; i < files.length; i += m.filesPerShard) shards.push(files.slice(i, i + m.filesPerShard).map((f) => f.key));
  const planKey = MonitorLayout.plan(window.id, event.executionName);
  const file: PlanFile = {
    window: { id: window.id, start: window.start.toISOString(), end: window.end.toISOString() },
    plan,
    shards,
    champion: champion ?? null,
    schema: schema ?? null,
    ...(event.input.reason ? { reason: event.input.reason } : {}),
  };
  await putJson(s3, bucket, planKey, file, { kmsKeyArn: deps.kmsKeyArn });
  logger.info('monitoring plan', { window: window.id, files: files.length, shards: shards.length, champion: champion?.executionName });
  return {
    windowId: window.id,
    start: file.window.start,
    end: file.window.end,
    planKey,
    shards: shards.map((_, i) => i),
    files: files.length,
    bytes: files.reduce((s, f) => s + f.size, 0),
    champion: champion?.executionName ?? null,
  };
}

/**
 * The plan: the champion schema's features with its kinds (the label and ignored columns left out), then any column
 * the sampled requests carry that the schema does not know, with kinds inferred as ComputeStatistics infers them.
 */
export function buildPlan(config: RelearnConfig, schema: DatasetSchema | undefined, sample: { columns: string[]; rows: Value[][] }, window: MonitorWindow): MonitorPlan {
  const withContract = schema as (DatasetSchema & { problemType?: string; classes?: string[]; labelColumn?: string }) | undefined;
  const label = withContract?.labelColumn ?? config.dataset.labelColumn;
  const roleOf = (c: DatasetSchema['columns'][number]) => (c as { role?: string }).role;
  const ignore = [label, ...(schema?.columns.filter((c) => roleOf(c) === 'ignore' || roleOf(c) === 'label').map((c) => c.name) ?? [])];
  const known = new Set([...(schema?.columns.map((c) => c.name) ?? []), ...ignore]);
  const columns: { name: string; kind: ColumnKind }[] = (schema?.columns ?? []).filter((c) => !ignore.includes(c.name)).map((c) => ({ name: c.name, kind: c.type }));
  const fresh = sample.columns.map((name, i) => ({ name, i })).filter((c) => !known.has(c.name));
  if (fresh.length) {
    const kinds = inferKinds(fresh.map((c) => c.name), sample.rows.map((r) => fresh.map((c) => r[c.i])));
    fresh.forEach((c, j) => columns.push({ name: c.name, kind: kinds[j] }));
  }
  const problemType = withContract?.problemType ?? config.evaluation.problemType;
  const classes = withContract?.classes?.length ? withContract.classes : undefined;
  return {
    features: { columns },
    predictions: predictionPlan(problemType, classes),
    problemType,
    threshold: config.evaluation.threshold,
    ...(classes ? { classes } : {}),
    ignore: [...new Set(ignore)],
    start: window.start.toISOString(),
    end: window.end.toISOString(),
  };
}

/** Request rows from the first capture files (at most SAMPLE_BYTES of them), aligned on the columns seen. */
async function sampleRequests(s3: S3Client, bucket: string, keys: readonly string[]): Promise<{ columns: string[]; rows: Value[][] }> {
  const columns: string[] = [];
  const seen = new Map<string, number>();
  const rows: Record<string, Value | undefined>[] = [];
  let bytes = 0;
  for (const key of keys) {
    if (bytes >= SAMPLE_BYTES || rows.length >= SAMPLE_ROWS) break;
    const body = await getStream(s3, bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) {
      chunks.push(c);
      bytes += c.length;
      if (bytes >= SAMPLE_BYTES) break;
    }
    body.destroy();
    const text = Buffer.concat(chunks).toString('utf8');
    // A line cut by the byte limit fails to parse and is skipped.
    for (const line of text.split('\n')) {
      if (!line.trim() || rows.length >= SAMPLE_ROWS) continue;
      try {
        const input = parseCaptureLine(line).captureData.endpointInput;
        if (!input) continue;
        const req = requestRows(payloadText(input), input.observedContentType);
        for (const c of req.columns) if (!seen.has(c)) seen.set(c, columns.push(c) - 1);
        rows.push(...req.rows);
      } catch (err) {
        if (!(err instanceof UnreadableBody) && (err as Error).name !== 'CaptureFormatError') throw err;
      }
    }
  }
  return { columns, rows: rows.map((r) => columns.map((c) => r[c] ?? null)) };
}

/** One Map iteration: the statistics of one group of capture files, to S3 (too big for the state). */
export async function shardMonitor(event: z.infer<typeof ShardEventSchema>, deps: MonitorDeps): Promise<{ shard: number; rows: number; records: number }> {
  const plan = await readPlan(deps, event.planKey);
  const keys = plan.shards[event.shard];
  if (!keys) throw new InvalidStageInput(`MonitorShard: shard ${event.shard} is not in ${event.planKey} (${plan.shards.length} shards)`);
  const stats = await computeShard(deps, plan, keys);
  await putJson(deps.s3, deps.artifactsBucket, MonitorLayout.shard(plan.window.id, event.executionName, event.shard), stats, { kmsKeyArn: deps.kmsKeyArn });
  return { shard: event.shard, rows: stats.counts.rows, records: stats.counts.records };
}

async function computeShard(deps: MonitorDeps, plan: PlanFile, keys: readonly string[]): Promise<WindowShardJson> {
  const builder = new WindowStatsBuilder(plan.plan);
  for (const key of keys) await builder.addFile(await getStream(deps.s3, deps.artifactsBucket, key), s3Uri(deps.artifactsBucket, key));
  return builder.finish();
}

async function readPlan(deps: MonitorDeps, planKey: string): Promise<PlanFile> {
  const plan = await getJsonIfExists<PlanFile>(deps.s3, deps.artifactsBucket, planKey);
  if (!plan) throw new InvalidStageInput(`the monitoring plan ${s3Uri(deps.artifactsBucket, planKey)} does not exist: PlanWindow writes it first`);
  return plan;
}

/** `monitoring/latest.json`: the newest window's verdict (what `relearn status` shows). */
export interface LatestVerdict {
  readonly windowId: string;
  readonly start: string;
  readonly end: string;
  readonly verdict: Verdict;
  readonly summary: string;
  readonly driftedFeatures: string[];
  readonly reportUri: string;
  readonly htmlUri: string;
  readonly createdAt: string;
  readonly executionName: string;
  readonly champion: string | null;
  /** This window's drift asked the trigger for a retrain. */
  readonly retrainRequested?: boolean;
}

/** CompareWithBaseline's result, at `$.result`. */
export interface MonitorResult {
  readonly windowId: string;
  readonly verdict: Verdict;
  readonly summary: string;
  readonly driftedFeatures: string[];
  readonly reportUri: string;
  readonly htmlUri: string;
  readonly notified: boolean;
  /** A drift retrain was asked of the trigger (monitoring.retrainOnDrift). */
  readonly retrainRequested: boolean;
}

export async function compareMonitor(event: z.infer<typeof CompareEventSchema>, deps: CompareDeps): Promise<MonitorResult> {
  const { s3, artifactsBucket: bucket, config } = deps;
  const now = deps.now?.() ?? new Date();
  const planFile = await readPlan(deps, event.plan.planKey);
  const window = windowOf(new Date(planFile.window.start), new Date(planFile.window.end));

  // 1. Merge the shards (computing any the Map did not leave behind, as ValidateData does).
  const shards: WindowShardJson[] = [];
  for (let i = 0; i < planFile.shards.length; i++) {
    const saved = await getJsonIfExists<WindowShardJson>(s3, bucket, MonitorLayout.shard(window.id, event.executionName, i));
    shards.push(saved ?? (await computeShard(deps, planFile, planFile.shards[i])));
  }
  const merged = mergeShards(shards, planFile.plan);

  // 2. Compare with the champion's baselines, and the endpoint's failed requests.
  const baselines = planFile.champion && planFile.schema ? await loadBaselines(s3, bucket, planFile.champion, planFile.schema, planFile.plan, deps.kmsKeyArn) : undefined;
  const failures = await endpointFailures(deps.cloudwatch, deps.endpointName, SERVING_VARIANT, window);
  const report = compareWindow({ window, plan: planFile.plan, merged, baselines, config, failures, now });

  // 3. Outputs: report.json and report.html of the window, its metrics, the newest verdict, one message.
  const put = { kmsKeyArn: deps.kmsKeyArn };
  const reportUri = await putJson(s3, bucket, MonitorLayout.report(window.id), report, put);
  const htmlUri = await putText(s3, bucket, MonitorLayout.html(window.id), renderMonitorReport(report, { reportJson: reportUri }), { ...put, contentType: 'text/html; charset=utf-8' });
  await putMonitoringMetrics(deps.cloudwatch, monitoringMetricData(report, config.name, now));
  const previous = await getJsonIfExists<LatestVerdict>(s3, bucket, MonitorLayout.latest);
  const latest: LatestVerdict = {
    windowId: window.id,
    start: report.window.start,
    end: report.window.end,
    verdict: report.verdict,
    summary: report.summary,
    driftedFeatures: report.driftedFeatures,
    reportUri,
    htmlUri,
    createdAt: report.createdAt,
    executionName: event.executionName,
    champion: baselines?.ref.executionName ?? null,
  };
  // Retrain on drift: through the trigger's single-flight path (lambdas/monitor/retrain.ts).
  const because = retrainReason(report, config.monitoring.retrainOnDrift, htmlUri);
  let retrain: string | undefined;
  if (because) {
    if (!deps.retrain) throw new Error('monitoring.retrainOnDrift is on, but the monitor has no trigger queue (TRIGGER_QUEUE_URL) to ask');
    await requestRetrain(deps.retrain.sqs, deps.retrain.queueUrl, because);
    retrain = 'asked the trigger to start a run now with what has landed since the last one (nothing starts when nothing new has landed; a run in flight is never doubled)';
  }
  // A re-run of an older window does not hide a newer window's verdict.
  if (!previous || previous.end <= latest.end) await putJson(s3, bucket, MonitorLayout.latest, { ...latest, ...(retrain ? { retrainRequested: true } : {}) }, put);
  const notify = shouldNotify(report.verdict, previous?.verdict);
  if (notify) {
    const { subject, message } = notificationText(report, { pipeline: config.name, htmlUri, reportUri, reason: planFile.reason, ...(retrain ? { retrain } : {}) });
    await deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: subject, Message: message, MessageAttributes: { kind: { DataType: 'String', StringValue: 'monitoring' }, verdict: { DataType: 'String', StringValue: report.verdict } } }));
  }
  logger.info('monitoring verdict', { window: window.id, verdict: report.verdict, drifted: report.driftedFeatures, notified: notify, retrainRequested: !!retrain });
  return { windowId: window.id, verdict: report.verdict, summary: report.summary.slice(0, 1000), driftedFeatures: report.driftedFeatures.slice(0, 50), reportUri, htmlUri, notified: notify, retrainRequested: !!retrain };
}

/** Drift and findings are told every time; any other verdict only when it changed (no hourly "all is well"). */
export function shouldNotify(verdict: Verdict, previous: Verdict | undefined): boolean {
  return verdict === 'drift' || verdict === 'issues' || (previous !== undefined && previous !== verdict);
}

const SUBJECT: Record<Verdict, string> = {
  drift: 'drift in production traffic',
  issues: 'findings in production traffic',
  ok: 'production traffic back to normal',
  insufficient_data: 'too little production traffic to judge',
  no_baseline: 'production traffic has no champion to compare with',
};

/** The notification: a subject (at most 100 characters, SNS's limit) and a message in words. */
export function notificationText(report: MonitorReport, ctx: { pipeline: string; htmlUri: string; reportUri: string; reason?: string; retrain?: string }): { subject: string; message: string } {
  const subject = `relearn ${ctx.pipeline}: ${SUBJECT[report.verdict]}`.slice(0, 100);
  const champion: BaselineRef | null = report.champion;
  const lines = [
    `${SUBJECT[report.verdict][0].toUpperCase()}${SUBJECT[report.verdict].slice(1)}: ${report.summary}.`,
    '',
    ...(report.findings.length ? ['What the monitor found:', ...report.findings.map((f) => `  - ${f}`), ''] : []),
    `Window: ${windowText({ start: new Date(report.window.start), end: new Date(report.window.end) })} (${report.counts.requests.toLocaleString('en-US')} requests, ${report.counts.rows.toLocaleString('en-US')} rows captured).`,
    champion ? `Baseline: the champion ${champion.executionName}, promoted ${champion.promotedAt} (its training statistics and schema, and its validation predictions).` : 'Baseline: none (no champion).',
    ...(ctx.retrain ? [`Retrain: ${ctx.retrain}`] : []),
    ...(ctx.reason ? [`Asked by: ${ctx.reason}`] : []),
    `Report: ${ctx.htmlUri}`,
    `Details: ${ctx.reportUri}`,
  ];
  return { subject, message: lines.join('\n') };
}

export { baselineRef };
