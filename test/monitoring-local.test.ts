import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, PutMetricAlarmCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';
import { generateChurn } from '../examples/churn/generate';
import { parseCaptureLine, payloadText } from '../lambdas/monitor/capture';
import { dataCaptureConfig } from '../lambdas/monitor/capture-config';
import { MonitorReport } from '../lambdas/monitor/compare';
import { LatestVerdict, MonitorLayout, MonitorResult, PlanResult } from '../lambdas/monitor/core';
import { compare, plan, shard } from '../lambdas/monitor/handler';
import { MONITORING_NAMESPACE } from '../lambdas/monitor/metrics';
import { parseConfig } from '../lambdas/shared/config';
import { ChampionRecord } from '../lambdas/shared/contracts';
import { inferSchema, planFor, statsOfCsv } from '../lambdas/shared/stats';
import { openTable, Value, writeCsvRow } from '../lambdas/shared/tabular';
import { LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { CaptureWriter } from '../local/services/sagemaker/serving';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import { ARTIFACTS_BUCKET, putChampionOf, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The monitor on the real local S3 and the local SageMaker server's CloudWatch and SNS: captures written by the
 * local endpoint's capture writer in SageMaker's layout, then the three handlers as the state machine calls them
 * (PlanWindow, MonitorShard per shard, CompareWithBaseline), against a champion whose baselines are real
 * (statistics and schema from the validation engine, predictions in an output.tar.gz).
 */
jest.setTimeout(300000);

const KMS = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';
const CONFIG = { dataset: { labelColumn: 'churned', idColumn: 'customer_id' }, monitoring: { minRows: 200, filesPerShard: 2, capture: { samplingPercentage: 100 }, drift: { numericJs: 0.03 } } };
const ENDPOINT = 'relearn-endpoint';
const ROLE = 'arn:aws:iam::000000000000:role/relearn-sagemaker';
const JOB = 'relearn-champion-run-job';
const PREDICTIONS_URI = `s3://${ARTIFACTS_BUCKET}/runs/champion-run/training/${JOB}/output/output.tar.gz`;

let s3: Awaited<ReturnType<typeof startTestS3>>;
let sm: LocalSageMaker;
let dir: string;
let cloudwatch: CloudWatchClient;

async function csvRows(rows: number, seed: number, variant: 'clean' | 'shift') {
  const parts: string[] = [];
  for await (const c of generateChurn({ rows, seed, variant })) parts.push(c as string);
  const t = await openTable(Readable.from([Buffer.from(parts.join(''))]), { format: 'csv', file: 'g.csv' });
  const out: Value[][] = [];
  for await (const r of t.rows) out.push(r.values);
  return { columns: t.columns, rows: out, csv: parts.join('') };
}

beforeAll(async () => {
  s3 = await startTestS3();
  dir = mkdtempSync(join(tmpdir(), 'relearn-monitor-'));
  sm = await startLocalSageMaker({ directory: join(dir, 'sagemaker'), s3Endpoint: s3.endpoint });
  Object.assign(process.env, localSageMakerEnv(sm.endpoint));
  setLambdaEnv(CONFIG);
  cloudwatch = new CloudWatchClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS });

  // The champion: ValidateData's statistics and schema of its dataset, and its validation predictions.
  const exec = 'champion-run';
  const data = await csvRows(4000, 1, 'clean');
  const stats = await statsOfCsv(Readable.from([Buffer.from(data.csv)]), planFor(data.columns, data.rows.slice(0, 2000), { labelColumn: 'churned' }), { file: 'd.csv' });
  const put = (key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key, Body: body }));
  await put(`runs/${exec}/validation/stats.json`, JSON.stringify(stats.toJSON()));
  await put(`runs/${exec}/validation/schema.json`, JSON.stringify(inferSchema(stats, 'churned')));
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'predictions.jsonl'), Array.from({ length: 800 }, (_, i) => JSON.stringify({ id: `c${i}`, label: i % 3 === 0 ? 1 : 0, candidate: 0.05 + (i % 30) / 100, champion: null })).join('\n') + '\n');
  await create({ gzip: true, file: join(dir, 'output.tar.gz'), cwd: out }, ['predictions.jsonl']);
  // A self-contained champion (cloud's PackageModel): it serves runs/<exec>/model/model.tar.gz, a repack, and its
  // model manifest names the job's output.tar.gz, where its validation predictions are.
  await put(`runs/${exec}/training/${JOB}/output/output.tar.gz`, readFileSync(join(dir, 'output.tar.gz')));
  await putChampionOf(s3.client, exec);
  const record = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json' }))).Body!.transformToString()) as ChampionRecord;
  await put('champion/current.json', JSON.stringify({ ...record, modelDataUri: `s3://${ARTIFACTS_BUCKET}/runs/${exec}/model/model.tar.gz` }));
  await put(`runs/${exec}/model/manifest.json`, JSON.stringify({ executionName: exec, outputDataUri: PREDICTIONS_URI }));
});

afterAll(async () => {
  cloudwatch?.destroy();
  await sm?.stop();
  await s3?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const notifications = () =>
  readFileSync(join(dir, 'sagemaker', 'notifications.jsonl'), { encoding: 'utf8', flag: 'a+' }).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { subject?: string; message: string });

describe('data capture on the local endpoint', () => {
  test("records land in SageMaker's layout and format, only the sampled share and the configured sides", async () => {
    // GIVEN an endpoint config with DataCaptureConfig as Deploy builds it (requests only, 50%), and a seeded draw
    const config = { DataCaptureConfig: dataCaptureConfig(parseConfig({ monitoring: { capture: { samplingPercentage: 50, response: false, prefix: 'cap-test/' } } }).monitoring.capture, ARTIFACTS_BUCKET, KMS) };
    const draws = [0.1, 0.9, 0.3, 0.7];
    const writer = new CaptureWriter(() => s3.client, () => undefined, { random: () => draws.shift()! });
    const t = new Date('2026-11-29T09:32:24.517Z');
    // WHEN four invocations are answered
    for (let i = 0; i < 4; i++) writer.record(ENDPOINT, 'AllTraffic', config, ROLE, { body: Buffer.from(`a,b\n${i},x\n`), contentType: 'text/csv' }, { body: Buffer.from('{"predictions":[0.5]}'), contentType: 'application/json' }, t);
    await writer.flush();
    // THEN one file for the flush, under <prefix><endpoint>/<variant>/yyyy/mm/dd/hh/, with the two sampled requests
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: ARTIFACTS_BUCKET, Prefix: 'cap-test/' }));
    expect(listed.Contents!.map((o) => o.Key)).toEqual([expect.stringMatching(/^cap-test\/relearn-endpoint\/AllTraffic\/2026\/11\/29\/09\/32-24-517-[0-9a-f-]{36}\.jsonl$/)]);
    const key = listed.Contents![0].Key!;
    const body = await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToString();
    const records = body.trim().split('\n').map(parseCaptureLine);
    expect(records.map((r) => payloadText(r.captureData.endpointInput!))).toEqual(['a,b\n0,x\n', 'a,b\n2,x\n']);
    expect(records[0]).toMatchObject({ captureData: { endpointInput: { observedContentType: 'text/csv', mode: 'INPUT', encoding: 'CSV' } }, eventMetadata: { inferenceTime: '2026-11-29T09:32:24Z' }, eventVersion: '0' });
    expect(records[0].captureData.endpointOutput).toBeUndefined();
  });
});

describe('the local CloudWatch', () => {
  test('GetMetricData sums what was put, per exact dimensions and period', async () => {
    const at = new Date();
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'test/Sums', MetricData: [1, 2, 3].map((v) => ({ MetricName: 'M', Dimensions: [{ Name: 'D', Value: 'a' }], Value: v, Timestamp: at })) }));
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'test/Sums', MetricData: [{ MetricName: 'M', Dimensions: [{ Name: 'D', Value: 'b' }], Value: 100, Timestamp: at }] }));
    const res = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(at.getTime() - 60000),
        EndTime: new Date(at.getTime() + 60000),
        MetricDataQueries: [{ Id: 'm', MetricStat: { Metric: { Namespace: 'test/Sums', MetricName: 'M', Dimensions: [{ Name: 'D', Value: 'a' }] }, Period: 120, Stat: 'Sum' } }],
      }),
    );
    expect(res.MetricDataResults?.[0].Values).toEqual([6]);
    await expect(cloudwatch.send(new PutMetricDataCommand({ Namespace: 'AWS/SageMaker', MetricData: [{ MetricName: 'X', Value: 1 }] }))).rejects.toThrow(/reserved for AWS services/);
  });

  test('an alarm goes to ALARM when its metric breaches, back to OK when it does not, and tells its topic each time', async () => {
    const topic = 'arn:aws:sns:us-east-1:000000000000:alarms';
    await cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: 'test-drift', Namespace: 'test/Alarm', MetricName: 'Drift', Dimensions: [{ Name: 'Pipeline', Value: 'p' }], Statistic: 'Maximum', Period: 3600,
        EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'ignore', AlarmActions: [topic], OKActions: [topic],
      }),
    );
    const state = async () => (await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['test-drift'] }))).MetricAlarms![0].StateValue;
    expect(await state()).toBe('INSUFFICIENT_DATA');
    const before = notifications().length;
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'test/Alarm', MetricData: [{ MetricName: 'Drift', Dimensions: [{ Name: 'Pipeline', Value: 'p' }], Value: 1 }] }));
    expect(await state()).toBe('ALARM');
    const sent = notifications().slice(before);
    expect(sent.map((n) => n.subject)).toEqual(['ALARM: "test-drift" in us-east-1']);
    expect(JSON.parse(sent[0].message)).toMatchObject({ AlarmName: 'test-drift', NewStateValue: 'ALARM', OldStateValue: 'INSUFFICIENT_DATA', Trigger: { MetricName: 'Drift', Threshold: 1 } });
    // A later, lower datapoint in the same period: Maximum still breaches. (A new period with 0 would turn it OK.)
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'test/Alarm', MetricData: [{ MetricName: 'Drift', Dimensions: [{ Name: 'Pipeline', Value: 'p' }], Value: 0 }] }));
    expect(await state()).toBe('ALARM');
  });
});

describe('the monitor handlers on captured traffic', () => {
  let planned: PlanResult;
  let result: MonitorResult;
  const window = '2026-11-29T09:00Z/2026-11-29T11:00Z';

  test('PlanWindow, MonitorShard per shard and CompareWithBaseline find the shifted features, write the report, the metrics, the verdict and one message', async () => {
    // GIVEN 2,400 shifted rows captured by the local endpoint's writer in 6 files (JSON requests of 40 rows)
    const config = { DataCaptureConfig: dataCaptureConfig(parseConfig(CONFIG).monitoring.capture, ARTIFACTS_BUCKET, KMS) };
    const writer = new CaptureWriter(() => s3.client, () => undefined);
    const { columns, rows } = await csvRows(2400, 31, 'shift');
    const keep = columns.filter((c) => c !== 'churned');
    for (let f = 0; f < 6; f++) {
      for (let r = f * 400; r < (f + 1) * 400; r += 40) {
        const batch = rows.slice(r, r + 40);
        const body = writeCsvRow(keep) + batch.map((row) => writeCsvRow(keep.map((k) => row[columns.indexOf(k)]))).join('');
        const scores = batch.map((_, i) => 0.05 + ((r + i) % 30) / 100);
        writer.record(ENDPOINT, 'AllTraffic', config, ROLE, { body: Buffer.from(body), contentType: 'text/csv' }, { body: Buffer.from(JSON.stringify({ predictions: scores })), contentType: 'application/json' }, new Date(Date.UTC(2026, 10, 29, 9, 10 * f, 0)));
      }
      await writer.flush();
    }
    const before = notifications().length;

    // WHEN the three tasks run as the state machine runs them
    planned = await plan({ executionName: 'monitor-1', startTime: '2026-11-29T11:05:00Z', input: { window, reason: 'a test' } });
    for (const i of planned.shards) await shard({ executionName: 'monitor-1', planKey: planned.planKey, shard: i });
    result = await compare({ executionName: 'monitor-1', plan: planned });

    // THEN
    expect(planned).toMatchObject({ windowId: '20261129T0900Z-20261129T1100Z', files: 6, shards: [0, 1, 2], champion: 'champion-run' });
    expect(result).toMatchObject({ verdict: 'drift', notified: true, windowId: planned.windowId });
    expect([...result.driftedFeatures].sort()).toEqual(['monthly_usage_hours', 'plan', 'support_tickets', 'tenure_months']);
    const read = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToString();
    const report = JSON.parse(await read(MonitorLayout.report(planned.windowId))) as MonitorReport;
    expect(report.counts).toMatchObject({ files: 6, requests: 60, rows: 2400, predictions: 2400 });
    expect(report.predictions.drifted).toBe(false); // the same scores as the champion's validation predictions
    expect(report.champion).toMatchObject({ executionName: 'champion-run', predictionsUri: PREDICTIONS_URI });
    const html = await read(MonitorLayout.html(planned.windowId));
    expect(html).toMatch(/<title>relearn monitoring 20261129T0900Z-20261129T1100Z: Drift on 4 features/);
    expect(html).toContain('Drifted features: baseline vs live');
    const latest = JSON.parse(await read(MonitorLayout.latest)) as LatestVerdict;
    expect(latest).toMatchObject({ windowId: planned.windowId, verdict: 'drift', executionName: 'monitor-1', champion: 'champion-run' });
    // the prediction baseline is kept per champion
    expect(await read('monitoring/baselines/champion-run/predictions.json')).toContain('"rows": 800');
    // the metrics, in the local CloudWatch
    const metric = async (name: string, dims: { Name: string; Value: string }[]) =>
      (await cloudwatch.send(new GetMetricDataCommand({ StartTime: new Date(Date.now() - 600000), EndTime: new Date(Date.now() + 60000), MetricDataQueries: [{ Id: 'm', MetricStat: { Metric: { Namespace: MONITORING_NAMESPACE, MetricName: name, Dimensions: dims }, Period: 3600, Stat: 'Maximum' } }] }))).MetricDataResults![0].Values;
    expect(await metric('DriftDetected', [{ Name: 'Pipeline', Value: 'relearn' }])).toEqual([1]);
    expect(await metric('DriftedFeatures', [{ Name: 'Pipeline', Value: 'relearn' }])).toEqual([4]);
    expect((await metric('FeatureDrift', [{ Name: 'Pipeline', Value: 'relearn' }, { Name: 'Feature', Value: 'plan' }]))![0]).toBeGreaterThan(1);
    // one message, in words
    const sent = notifications().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].subject).toBe('relearn relearn: drift in production traffic');
    expect(sent[0].message).toMatch(/^Drift in production traffic: 2,400 captured rows from 2026-11-29 09:00 to 11:00 UTC against the champion champion-run: drift on 4 features/);
    expect(sent[0].message).toContain('Asked by: a test');
    expect(sent[0].message).toContain(`Report: s3://${ARTIFACTS_BUCKET}/monitoring/20261129T0900Z-20261129T1100Z/report.html`);
  });

  test('a shard the Map did not leave behind is computed by CompareWithBaseline; the same window gives the same report', async () => {
    const again = await plan({ executionName: 'monitor-2', startTime: '2026-11-29T11:05:00Z', input: { window } });
    const second = await compare({ executionName: 'monitor-2', plan: again });
    expect(second).toMatchObject({ windowId: result.windowId, verdict: 'drift', driftedFeatures: result.driftedFeatures });
  });

  test('an older window does not replace the newest verdict; an empty window says it has too few rows, and a bad window is refused', async () => {
    const earlier = await plan({ executionName: 'monitor-3', startTime: '2026-11-29T08:00:00Z', input: { window: '2026-11-28T00:00Z/2026-11-28T06:00Z' } });
    expect(earlier).toMatchObject({ files: 0, shards: [] });
    const verdict = await compare({ executionName: 'monitor-3', plan: earlier });
    expect(verdict.verdict).toBe('insufficient_data');
    const latest = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: MonitorLayout.latest }))).Body!.transformToString()) as LatestVerdict;
    expect(latest.windowId).toBe(result.windowId);
    await expect(plan({ executionName: 'monitor-4', startTime: '2026-11-29T08:00:00Z', input: { window: 'yesterday' } })).rejects.toMatchObject({ name: 'InvalidStageInput', message: expect.stringMatching(/--window must be a duration/) });
  });
});
