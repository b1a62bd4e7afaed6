import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { parseConfig } from '../lambdas/shared/config';
import { buildRelearnApp } from '../lib/app';
import { BUCKET_NOTIFICATIONS_FINDING, REVIEWED_FINDINGS } from '../lib/nag-acknowledgements';

/**
 * cdk-nag's AwsSolutions checks over the whole app, as `cdk synth` runs them (a finding fails the synth).
 * Bundling is skipped: the checks read the templates, not the bundles.
 */
const outdirs: string[] = [];
afterAll(() => outdirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function newApp() {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildRelearnApp(app, parseConfig({ notifications: { emails: ['ops@example.com'] } }));
  return { app, outdir, ...stacks };
}

function acknowledgementsIn(app: App): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of app.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(m.data as Record<string, string>)) out.push({ path: c.node.path, id, reason });
    }
  }
  return out;
}

describe('cdk-nag AwsSolutions', () => {
  test('the whole app synthesizes with zero unacknowledged findings, each acknowledgement from the reviewed list', () => {
    // GIVEN the reference app with the checks on
    const { app } = newApp();
    // WHEN it synthesizes
    expect(() => app.synth()).not.toThrow();
    // THEN every acknowledgement carries a reason from lib/nag-acknowledgements.ts, and every reviewed entry is still needed
    const acks = acknowledgementsIn(app);
    expect(acks.length).toBeGreaterThan(0);
    const reasons = new Set([...REVIEWED_FINDINGS, BUCKET_NOTIFICATIONS_FINDING].map((r) => r.reason));
    for (const a of acks) expect(reasons.has(a.reason)).toBe(true);
    for (const r of [...REVIEWED_FINDINGS, BUCKET_NOTIFICATIONS_FINDING]) {
      expect(r.reason.length).toBeGreaterThan(40);
      expect({ entry: r.finding({ data: 'D', artifacts: 'A' }).source, used: acks.some((a) => a.reason === r.reason) }).toEqual({ entry: r.finding({ data: 'D', artifacts: 'A' }).source, used: true });
    }
  });

  test('a finding outside the reviewed list fails the synth (an unencrypted bucket without TLS)', () => {
    const { app, pipeline } = newApp();
    new s3.Bucket(pipeline, 'Careless');
    expect(() => app.synth()).toThrow(/Pipeline\/Careless\/Resource[\s\S]*AwsSolutions-S10/);
  });

  test('Resource * on a stage role is accepted only for actions without resource-level permissions', () => {
    // GIVEN a stage role that is also granted s3:GetObject on *
    const { app, pipeline } = newApp();
    pipeline.pipeline.functions.ingest.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
    // THEN the X-Ray acknowledgement no longer covers that role, and the synth fails
    expect(() => app.synth()).toThrow(/IngestRole\/DefaultPolicy\/Resource[\s\S]*AwsSolutions-IAM5\[Resource::\*\]/);
    const ingestAcks = acknowledgementsIn(app).filter((a) => a.path.includes('IngestRole') && a.id.endsWith('AwsSolutions-IAM5[Resource::*]'));
    expect(ingestAcks).toEqual([]);
  });

  test('a stack added next to relearn is checked too', () => {
    const { app } = newApp();
    const extra = new Stack(app, 'Extra');
    new iam.User(extra, 'User').addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    expect(() => app.synth()).toThrow(/Extra\/User\/DefaultPolicy\/Resource[\s\S]*AwsSolutions-IAM5\[Action::s3:\*\]/);
  });
});
