import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../lambdas/shared/config';
import { buildRelearnApp } from '../lib/app';

/**
 * The template side of issue 11's fixes (their behaviour under the enforced policies is in
 * test/cloud-truth-local.test.ts and test/e2e-rollback.test.ts): what the SageMaker role reads now that models carry
 * their code, the checkpoints a spot job reads back, and the KMS grant on every path that changes the endpoint.
 */

type Statement = { Action: unknown; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
const list = (x: unknown) => ([] as unknown[]).concat(x);
let t: Template;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  t = Template.fromStack(buildRelearnApp(app, parseConfig({}), { nag: false }).pipeline);
});

function statementsOf(rolePrefix: string): Statement[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${rolePrefix}`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const objectKeysOf = (s: Statement) => list(s.Resource).map((r) => JSON.stringify(r).match(/\/([^"/][^"]*)"\]\]\}$/)?.[1] ?? JSON.stringify(r));

describe('the SageMaker execution role', () => {
  const role = () => statementsOf('PipelineSageMakerRole');

  test('reads self-contained models (runs/*/model/*), never the training outputs, and the code asset only for training', () => {
    const reads = role().filter((s) => list(s.Action).includes('s3:GetObject'));
    const keys = reads.flatMap(objectKeysOf);
    expect(keys).toEqual(expect.arrayContaining(['datasets/*', 'runs/*/model/*', 'runs/*/checkpoints/*']));
    expect(keys).not.toContain('runs/*/training/*');
    // One exact object of the asset bucket: the training code (a model's code is inside its own archive).
    const asset = reads.filter((s) => JSON.stringify(s.Resource).includes('cdk-hnb659fds-assets'));
    expect(asset).toHaveLength(1);
    expect(JSON.stringify(asset[0].Resource)).not.toContain('*');
  });

  test('finding 3: reads and lists its spot checkpoints (runs/*/checkpoints/*), as a resumed job must', () => {
    const read = role().find((s) => list(s.Action).includes('s3:GetObject') && JSON.stringify(s.Resource).includes('checkpoints'));
    expect(read && objectKeysOf(read)).toEqual(['runs/*/checkpoints/*']);
    const listing = role().find((s) => list(s.Action).includes('s3:ListBucket') && JSON.stringify(s.Condition).includes('checkpoints'));
    expect(listing?.Condition).toEqual({ StringLike: { 's3:prefix': ['runs/*/checkpoints/*'] } });
  });
});

describe('finding 2: every role that creates or updates the endpoint may have SageMaker use the key', () => {
  test.each(['PipelineDeployRole', 'PipelineCheckEndpointRole', 'PipelineVerifyServingRole', 'PipelineNotifyRole'])('%s: kms:CreateGrant for AWS resources only, and DescribeKey (unconditioned: a grant-only condition would never allow it)', (role) => {
    const grant = statementsOf(role).filter((s) => list(s.Action).includes('kms:CreateGrant'));
    expect(grant).toHaveLength(1);
    expect(list(grant[0].Action)).toEqual(['kms:CreateGrant']);
    expect(grant[0].Condition).toEqual({ Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    expect(JSON.stringify(grant[0].Resource)).toContain('Key');
    const describe = statementsOf(role).filter((s) => list(s.Action).includes('kms:DescribeKey'));
    expect(describe).toHaveLength(1);
    expect(describe[0].Condition).toBeUndefined();
    expect(JSON.stringify(describe[0].Resource)).toContain('Key');
  });

  test('the roles that update the endpoint are exactly those (and the rollback reuses Deploy, CheckEndpoint, VerifyServing, Notify)', () => {
    const updaters = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.PolicyDocument.Statement as Statement[]).some((s) => list(s.Action).includes('sagemaker:UpdateEndpoint')))
      .map((p) => String(p.Properties.Roles[0].Ref).replace(/Role[0-9A-F]{8}$/, 'Role'))
      .sort();
    expect(updaters).toEqual(['PipelineCheckEndpointRole', 'PipelineDeployRole', 'PipelineNotifyRole', 'PipelineVerifyServingRole']);
  });
});

describe('the rollback Lambdas have least privilege', () => {
  test('ResolveRollback reads champion records and manifests, lists what it verifies, and may only describe in SageMaker', () => {
    const s = statementsOf('PipelineResolveRollbackRole');
    const sagemaker = s.flatMap((x) => list(x.Action)).filter((a) => String(a).startsWith('sagemaker:')).sort();
    expect(sagemaker).toEqual(['sagemaker:DescribeEndpoint', 'sagemaker:DescribeModelPackage', 'sagemaker:ListModelPackages']);
    expect(s.some((x) => list(x.Action).includes('s3:PutObject'))).toBe(false);
  });

  test('RestoreChampion writes champion/ and updates model packages, nothing else in SageMaker', () => {
    const s = statementsOf('PipelineRestoreChampionRole');
    expect(s.flatMap((x) => list(x.Action)).filter((a) => String(a).startsWith('sagemaker:'))).toEqual(['sagemaker:UpdateModelPackage']);
    const writes = s.filter((x) => list(x.Action).includes('s3:PutObject')).flatMap(objectKeysOf).sort();
    expect(writes).toEqual(['champion/current.json', 'champion/history/*']);
  });
});
