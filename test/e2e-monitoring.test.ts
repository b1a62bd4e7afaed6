import { DescribeEndpointConfigCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { existsSync, readFileSync } from 'node:fs';
import { main } from '../local/cli';
import { acquireLock } from '../local/lock';
import { LOCAL_REGION } from '../local/local-env';
import { LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import { E2eProject, shiftedBodies } from './helpers/e2e';

/**
 * Production monitoring end to end, in local mode: `relearn local run` trains and deploys the churn model with data
 * capture on; shifted traffic (the example generator's `shift` variant) goes to the local endpoint through the SDK
 * and through `relearn local invoke`; `relearn local monitor` runs the synthesized monitoring state machine and
 * reports drift on exactly the shifted features, the drift alarm in ALARM, the report and the notification text.
 */
jest.setTimeout(1800000);

const SHIFTED = ['monthly_usage_hours', 'plan', 'support_tickets', 'tenure_months'];

type MonitorJson = {
  executionName: string;
  status: string;
  verdict: string;
  summary: string;
  findings: string[];
  driftedFeatures: string[];
  missingFeatures: string[];
  predictionsDrifted: boolean;
  counts: { rows: number; requests: number };
  report: { path: string; uri: string };
  alarm: { name: string; state: string; reason: string };
  notifications: { subject?: string; message: string }[];
};

let project: E2eProject;
beforeAll(() => {
  project = new E2eProject('relearn-e2e-monitor-');
  project.writeConfig('monitored', {
    dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'] },
    // Every request captured; support tickets' shift (~0.05 Jensen-Shannon) is under validation's default 0.1.
    monitoring: { capture: { samplingPercentage: 100 }, minRows: 200, drift: { numericJs: 0.03 } },
  });
});
afterAll(() => project.cleanup());

async function monitor(...flags: string[]): Promise<{ code: number; json: MonitorJson; log: string }> {
  let out = '';
  let err = '';
  const code = await main(['local', 'monitor', '--json', '--config', `${project.dir}/monitored.json`, ...flags], {
    cwd: project.dir,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  const last = out.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`no JSON on stdout (exit ${code}):\n${out}\n${err}`);
  return { code, json: JSON.parse(last) as MonitorJson, log: err };
}

describe('production monitoring, end to end (local mode)', () => {
  let first: MonitorJson;

  test('deploy: the endpoint config captures requests and responses, KMS-encrypted, to the artifacts bucket', async () => {
    const { code, json } = await project.run({ config: 'monitored', extra: ['--fresh'] });
    expect({ code, status: json.status, promoted: json.decision?.promoted }).toEqual({ code: 0, status: 'SUCCEEDED', promoted: true });
    const config = await project.inspect((look) => look.services.sagemakerClient.send(new DescribeEndpointConfigCommand({ EndpointConfigName: json.champion!.endpointConfigName })));
    expect(config.DataCaptureConfig).toMatchObject({
      EnableCapture: true,
      InitialSamplingPercentage: 100,
      DestinationS3Uri: expect.stringMatching(/^s3:\/\/[a-z0-9-]+artifactsbucket[a-z0-9-]*\/capture$/),
      KmsKeyId: expect.stringMatching(/^arn:aws:kms:/),
      CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }],
    });
  });

  test('shifted traffic through the SDK and `relearn local invoke`, then `relearn local monitor`: drift on exactly the shifted features, the alarm, the report and the message', async () => {
    // GIVEN 2,000 shifted rows sent to the endpoint, in requests of 50 rows, and one more through the CLI
    const bodies = await shiftedBodies(2000, 50);
    await project.inspect(async (look) => {
      const rt = new SageMakerRuntimeClient({ endpoint: look.services.sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
      try {
        for (const body of bodies.slice(1)) await rt.send(new InvokeEndpointCommand({ EndpointName: 'relearn-endpoint', ContentType: 'text/csv', Body: Buffer.from(body) }));
      } finally {
        rt.destroy();
      }
    });
    const cli = await project.invoke(bodies[0]);
    expect(cli.code).toBe(0);

    // WHEN the monitor runs on the last two hours
    const { code, json } = await monitor('--window', '2h');
    first = json;

    // THEN
    expect({ code, status: json.status }).toEqual({ code: 0, status: 'SUCCEEDED' });
    expect(json.verdict).toBe('drift');
    expect([...json.driftedFeatures].sort()).toEqual(SHIFTED);
    expect(json.missingFeatures).toEqual([]);
    // 2,000 shifted rows, plus VerifyServing's check of the deployed model (clean validation rows)
    expect(json.counts.rows).toBeGreaterThanOrEqual(2000);
    expect(json.predictionsDrifted).toBe(true); // shifted customers churn more: the served scores moved too
    expect(json.alarm).toMatchObject({ state: 'ALARM', name: 'relearn-monitor-drift' });
    expect(existsSync(json.report.path)).toBe(true);
    const html = readFileSync(json.report.path, 'utf8');
    for (const f of SHIFTED) expect(html).toContain(f);
    expect(html).toContain('Drifted features: baseline vs live');
    const words = json.notifications.find((n) => n.subject === 'relearn relearn: drift in production traffic');
    expect(words?.message).toMatch(/^Drift in production traffic: [\d,]+ captured rows from .* UTC against the champion local-.*: drift on 4 features \(monthly_usage_hours, tenure_months, support_tickets, plan\); the prediction distribution shifted/);
    expect(words?.message).toContain('Asked by: relearn local monitor');
    const alarm = json.notifications.find((n) => n.subject?.startsWith('ALARM: '));
    expect(JSON.parse(alarm!.message)).toMatchObject({ NewStateValue: 'ALARM', Trigger: { MetricName: 'DriftDetected' } });
  });

  test('the monitor again on the same window: the same verdict and message, the alarm stays in ALARM without a second alarm message', async () => {
    const { json } = await monitor('--window', first.report.uri.match(/monitoring\/(\d{8}T\d{4}Z)-(\d{8}T\d{4}Z)\//)!.slice(1).map((s) => s.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5Z')).join('/'));
    expect(json.verdict).toBe('drift');
    expect(json.report.uri).toBe(first.report.uri);
    expect(json.driftedFeatures).toEqual(first.driftedFeatures);
    expect(json.alarm.state).toBe('ALARM');
    expect(json.notifications.map((n) => n.subject)).toEqual(['relearn relearn: drift in production traffic']);
  });

  test('a busy pipeline: the monitor is refused (exit 2, one line naming who holds it) and changes nothing', async () => {
    const lock = acquireLock(project.stateDir, 'relearn', 'relearn local run');
    try {
      let err = '';
      const code = await main(['local', 'monitor', '--window', '2h'], { cwd: project.dir, stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) } });
      expect(code).toBe(2);
      expect(err).toMatch(/^relearn: pipeline "relearn" is busy: "relearn local run" is running \(pid \d+ .*\n$/);
    } finally {
      lock.release();
    }
  });

  test('bad input: a window that is not one exits 2 with one line', async () => {
    let err = '';
    const code = await main(['local', 'monitor', '--window', 'yesterday'], { cwd: project.dir, stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) } });
    expect(code).toBe(2);
    expect(err).toMatch(/^relearn: --window must be a duration \(90m, 6h, 7d\) or <start>\/<end> in ISO 8601 .*but got "yesterday"\n$/);
  });
});
