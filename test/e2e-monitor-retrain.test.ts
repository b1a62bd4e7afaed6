import { GetObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPythonWithSklearn } from '../local/commands/common';
import type { MonitorRetrainRun } from '../local/commands/monitor';
import { LOCAL_REGION } from '../local/local-env';
import { LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import type { StatusReport } from '../local/status';
import { REPO_ROOT } from '../local/synth';
import { startWatch, WatchEvent } from '../local/watch';
import { E2eProject, shiftedBodies } from './helpers/e2e';
import { waitFor } from './helpers/trigger-harness';

/**
 * Retrain on drift end to end, in local mode (issue 12): with `monitoring.retrainOnDrift` on, `relearn local monitor`'s
 * drift verdict goes to the trigger queue of the deployed app, and the same trigger core as in the cloud (local SQS ->
 * the bundled trigger function -> the local Step Functions) decides: nothing starts while nothing new has landed;
 * once data has landed (dropped into the landing folder of `relearn local watch`, with a quiet period long enough
 * that only the drift verdict can start it), exactly one retrain starts, whose execution input and decision record
 * carry the drift in words; the monitor again afterwards starts nothing (single flight: the run took the data).
 */
jest.setTimeout(1800000);

type MonitorJson = {
  status: string;
  verdict: string;
  driftedFeatures: string[];
  report: { uri: string };
  notifications: { subject?: string; message: string }[];
  retrain: { requested: boolean; started: MonitorRetrainRun[] };
};

let project: E2eProject;
let config: string;
beforeAll(() => {
  project = new E2eProject('relearn-e2e-monitor-retrain-');
  config = project.writeConfig('monitored', {
    dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'] },
    // An hour's quiet period: landed data waits, so only the drift verdict can start the run in this test.
    trigger: { quietPeriodSeconds: 3600, maxWaitSeconds: 7200 },
    monitoring: { capture: { samplingPercentage: 100 }, minRows: 200, drift: { numericJs: 0.03 }, retrainOnDrift: { enabled: true } },
  });
});
afterAll(() => project.cleanup());

async function monitor(): Promise<MonitorJson> {
  const { code, out, err } = await project.cli(['local', 'monitor', '--json', '--window', '2h', '--config', config]);
  const last = out.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`no JSON on stdout (exit ${code}):\n${out}\n${err}`);
  expect(code).toBe(0);
  return JSON.parse(last) as MonitorJson;
}

async function status(): Promise<StatusReport> {
  const { code, out, err } = await project.cli(['status', '--local', '--json', '--config', config]);
  if (code !== 0) throw new Error(`relearn status failed (${code}): ${err}`);
  return JSON.parse(out) as StatusReport;
}

describe('retrain on drift, end to end (local mode)', () => {
  let before: StatusReport;
  let retrain: MonitorRetrainRun;

  test('deploy, shifted traffic, then the monitor with nothing landed: drift asks for a retrain, and nothing starts', async () => {
    const { code, json } = await project.run({ config: 'monitored', extra: ['--fresh'] });
    expect({ code, status: json.status }).toEqual({ code: 0, status: 'SUCCEEDED' });
    const bodies = await shiftedBodies(2000, 50);
    await project.inspect(async (look) => {
      const rt = new SageMakerRuntimeClient({ endpoint: look.services.sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
      try {
        for (const body of bodies) await rt.send(new InvokeEndpointCommand({ EndpointName: 'relearn-endpoint', ContentType: 'text/csv', Body: Buffer.from(body) }));
      } finally {
        rt.destroy();
      }
    });
    before = await status();

    const m = await monitor();

    expect({ status: m.status, verdict: m.verdict }).toEqual({ status: 'SUCCEEDED', verdict: 'drift' });
    expect(m.retrain).toEqual({ requested: true, started: [] });
    expect(m.notifications.find((n) => n.subject === 'relearn relearn: drift in production traffic')?.message).toContain('asked the trigger to start a run now');
    const after = await status();
    expect(after.executions.map((e) => e.name)).toEqual(before.executions.map((e) => e.name));
    expect(after.next.pending.objects).toBe(0);
  });

  test('data landed (dropped into the watch folder), then the monitor: exactly one retrain starts, for drift, with the words in its input and decision record', async () => {
    // GIVEN labelled recent data landed under incoming/ through `relearn local watch`; its quiet period keeps it waiting
    const events: WatchEvent[] = [];
    const watch = await startWatch({ projectDir: project.dir, configFile: config, python: findPythonWithSklearn(), onEvent: (e) => events.push(e) });
    try {
      const file = join(watch.dir, 'day2', 'churn-day2.csv');
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(`${file}.tmp`, readFileSync(join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-day2.csv')));
      renameSync(`${file}.tmp`, file);
      await waitFor('the trigger took the landed object', () => events.some((e) => e.type === 'landed') && events.some((e) => e.type === 'batch' && e.records > 0 && e.failed === 0), 120_000);
      await watch.trigger.mapping.idle();
    } finally {
      await watch.stop();
    }
    expect(watch.runs).toEqual([]);
    const landed = await status();
    expect(landed.next.pending.objects).toBe(1);

    // WHEN the monitor finds drift again
    const m = await monitor();

    // THEN the trigger started exactly one run, for drift, with the monitor's words, and it ran to its end
    expect(m.verdict).toBe('drift');
    expect(m.retrain.requested).toBe(true);
    expect(m.retrain.started).toHaveLength(1);
    retrain = m.retrain.started[0];
    expect(retrain.executionName).toMatch(/^drift-/);
    expect(retrain.trigger?.reason).toBe('drift');
    expect(retrain.trigger?.because).toMatch(/^drift in production traffic, window \d{8}T\d{4}Z-\d{8}T\d{4}Z, champion local-\S+: 4 drifted feature\(s\): .*; the prediction distribution shifted \(report s3:\/\/.*report\.html\)$/);
    expect(retrain.status).toBe('SUCCEEDED');
    const after = await status();
    expect(after.executions.map((e) => e.name)).toEqual([retrain.executionName, ...before.executions.map((e) => e.name)]);
    expect(after.executions[0]).toMatchObject({ status: 'SUCCEEDED', reason: 'drift', objects: 1 });
    expect(after.next).toMatchObject({ pending: { objects: 0 }, queued: [] });
    expect(after.next.inFlight).toBeUndefined();
    // Its manifest took the landed object; Evaluate copied the words into its decision record
    const bucket = m.report.uri.match(/^s3:\/\/([^/]+)\//)![1];
    const read = (key: string) =>
      project.inspect(async (look) => JSON.parse(await (await look.services.s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as Record<string, unknown>);
    const manifest = await read(retrain.manifest!.replace(/^s3:\/\/[^/]+\//, ''));
    expect(manifest).toMatchObject({ reason: 'drift', objects: [{ key: 'incoming/day2/churn-day2.csv' }] });
    const decision = await read(`runs/${retrain.executionName}/decision.json`);
    expect(decision.trigger).toEqual({ reason: 'drift', because: retrain.trigger!.because });
  });

  test('the monitor again after the retrain: drift asks again, and nothing starts (the run took what had landed)', async () => {
    const before2 = await status();
    const m = await monitor();
    expect(m.retrain.started).toEqual([]);
    expect((await status()).executions.map((e) => e.name)).toEqual(before2.executions.map((e) => e.name));
    // Whether the traffic still drifts against the new champion or not, no second run: single flight and nothing new.
    if (m.verdict === 'drift') expect(m.retrain.requested).toBe(true);
  });
});
