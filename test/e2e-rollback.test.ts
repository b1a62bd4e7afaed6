import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  DescribeModelCommand,
  DescribeModelPackageCommand,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChampionRecord, ModelManifest } from '../lambdas/shared/contracts';
import { resolvePipeline } from '../local/asl/assembly';
import { main } from '../local/cli';
import { rollbackLocal } from '../local/commands/rollback';
import { iamModelOf } from '../local/iam/template';
import { startLocalServices } from '../local/local-env';
import { artifactsBucketOf } from '../local/local-run';
import { bodyOf, E2eProject, Inspector, RunJson } from './helpers/e2e';

/**
 * Issue 11's end-to-end test, with IAM enforced as in every local run: model A trained and deployed; the training
 * code changes and the stack is "redeployed" (a new synth with a new code asset: the SageMaker role can now read
 * only the new one); model B trained and deployed; `relearn local rollback` puts A back and A answers as it did;
 * the endpoint's instance is replaced and the restored model starts again from scratch. An old-style model whose
 * code is on S3 (the code before finding 1's fix) cannot start after that redeploy: AccessDenied.
 */

jest.setTimeout(40 * 60 * 1000);

const TABULAR = join(__dirname, '..', 'training-scripts', 'tabular');
const project = new E2eProject('relearn-e2e-rollback-');
// Absolute gates only: B is deployed over A whatever their metrics (the test is about rollback, not the gate).
const settings = (sourceDir: string) => ({
  training: { sourceDir, pollIntervalSeconds: 1 },
  deployment: { pollIntervalSeconds: 1 },
  evaluation: { gates: { min: { roc_auc: 0.6 } } },
});

let a: RunJson;
let b: RunJson;
let body: string;
let answerA: string;
let answerB: string;

const cli = async (...argv: string[]) => {
  let out = '';
  let err = '';
  const code = await main(argv, { cwd: project.dir, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
};
const artifact = async <T>(look: Inspector, key: string) => JSON.parse((await look.artifact(key))!) as T;

beforeAll(() => {
  // Two versions of the training code: B's default regularization differs, so its model answers differently.
  const codeA = join(project.dir, 'code-a');
  const codeB = join(project.dir, 'code-b');
  cpSync(TABULAR, codeA, { recursive: true, filter: (p) => !p.includes('__pycache__') });
  cpSync(TABULAR, codeB, { recursive: true, filter: (p) => !p.includes('__pycache__') });
  const script = readFileSync(join(codeB, 'train.py'), 'utf8');
  const changed = script.replace('p.add_argument("-C", "--C", type=_positive(float), default=1.0,', 'p.add_argument("-C", "--C", type=_positive(float), default=0.02,');
  expect(changed).not.toBe(script);
  writeFileSync(join(codeB, 'train.py'), changed);
  project.writeConfig('a', settings(codeA));
  project.writeConfig('b', settings(codeB));
});
afterAll(() => project.cleanup());

describe('rollback after a code change, with IAM enforced', () => {
  test('model A: trained, packaged with its code, deployed with network isolation, and it answers', async () => {
    const { code, json } = await project.run({ config: 'a', extra: ['--fresh'] });
    a = json;
    expect({ status: json.status, error: json.error }).toEqual({ status: 'SUCCEEDED', error: undefined });
    expect(code).toBe(0);
    expect(json.champion?.executionName).toBe(json.executionName);
    body = bodyOf(json.invoke!);
    const answer = await project.invoke(body);
    expect(answer.code).toBe(0);
    answerA = answer.answer;
    await project.inspect(async (look) => {
      const champion = await artifact<ChampionRecord>(look, 'champion/current.json');
      expect(champion.modelDataUri).toMatch(new RegExp(`/runs/${a.executionName}/model/model\\.tar\\.gz$`));
      const model = await look.services.sagemakerClient.send(new DescribeModelCommand({ ModelName: champion.modelName }));
      expect(model).toMatchObject({ EnableNetworkIsolation: true, PrimaryContainer: { ModelDataUrl: champion.modelDataUri, Environment: { SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code' } } });
    });
  });

  test('the training code changes and the stack is redeployed: model B (a new code asset) is deployed and answers differently', async () => {
    const { code, json } = await project.run({ config: 'b' });
    b = json;
    expect({ status: json.status, error: json.error }).toEqual({ status: 'SUCCEEDED', error: undefined });
    expect(code).toBe(0);
    expect(json.timings.synthCached).toBe(false);
    expect(json.champion?.executionName).toBe(b.executionName);
    answerB = (await project.invoke(body)).answer;
    expect(answerB).not.toBe(answerA);
    // The redeployed SageMaker role may read B's code asset, and not A's any more.
    await project.inspect(async (look) => {
      const manifestA = await artifact<ModelManifest>(look, `runs/${a.executionName}/model/manifest.json`);
      const manifestB = await artifact<ModelManifest>(look, `runs/${b.executionName}/model/manifest.json`);
      expect(manifestA.model.codeUri).not.toBe(manifestB.model.codeUri);
      const iam = iamModelOf(join(project.stateDir, 'cdk.out'));
      const role = [...iam.roles.values()].find((r) => r.name.includes('SageMakerRole'))!;
      const granted = JSON.stringify(role.policies);
      expect(granted).toContain(manifestB.model.codeUri.replace('s3://', 'arn:aws:s3:::'));
      expect(granted).not.toContain(manifestA.model.codeUri.replace('s3://', 'arn:aws:s3:::'));
    });
  });

  test('finding 1, the code before the fix: a model of A whose code is on S3 cannot start after the redeploy (AccessDenied)', async () => {
    await project.inspect(async (look) => {
      const sm = look.services.sagemakerClient;
      const manifestA = await artifact<ModelManifest>(look, `runs/${a.executionName}/model/manifest.json`);
      const champion = await artifact<ChampionRecord>(look, 'champion/current.json');
      const role = (await sm.send(new DescribeModelCommand({ ModelName: champion.modelName }))).ExecutionRoleArn!;
      // GIVEN A's model as the pipeline made it before finding 1's fix: SAGEMAKER_SUBMIT_DIRECTORY = A's code asset
      await sm.send(
        new CreateModelCommand({
          ModelName: 'legacy-a',
          ExecutionRoleArn: role,
          PrimaryContainer: {
            Image: manifestA.container.Image,
            ModelDataUrl: manifestA.model.modelDataUri,
            Environment: { ...manifestA.container.Environment, SAGEMAKER_SUBMIT_DIRECTORY: manifestA.model.codeUri },
          },
        }),
      );
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'legacy-a', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'legacy-a', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
      // WHEN an instance of it starts (a rollback, or SageMaker replacing an instance)
      await sm.send(new CreateEndpointCommand({ EndpointName: 'legacy-a', EndpointConfigName: 'legacy-a' }));
      let ep = await sm.send(new DescribeEndpointCommand({ EndpointName: 'legacy-a' }));
      for (let i = 0; i < 600 && ep.EndpointStatus === 'Creating'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        ep = await sm.send(new DescribeEndpointCommand({ EndpointName: 'legacy-a' }));
      }
      // THEN it cannot fetch its code: the role reads only the current code asset
      expect(ep.EndpointStatus).toBe('Failed');
      const { key } = { key: manifestA.model.codeUri.replace(/^s3:\/\/[^/]+\//, '') };
      expect(ep.FailureReason).toMatch(/AccessDenied/);
      expect(ep.FailureReason).toMatch(new RegExp(`assumed-role/relearn-pipeline-PipelineSageMakerRole[A-Z0-9]+/SageMaker is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::[^"]+/${key}"`));
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'legacy-a' }));
    });
  });

  test('relearn local rollback: A is back on the endpoint and answers as before; its record, baselines, registry and history follow', async () => {
    // WHEN
    const r = await cli('local', 'rollback', '--json');
    // THEN
    expect(r.err).not.toMatch(/relearn: /);
    expect(r.code).toBe(0);
    const outcome = JSON.parse(r.out.trim().split('\n').pop()!) as { status: string; target: { executionName: string }; replaced: string; enforcement: { iam: { denied: number; allowed: number } } };
    expect(outcome).toMatchObject({ status: 'SUCCEEDED', target: { executionName: a.executionName }, replaced: b.executionName });
    expect(outcome.enforcement.iam).toMatchObject({ denied: 0 });
    expect(outcome.enforcement.iam.allowed).toBeGreaterThan(10);
    expect((await project.invoke(body)).answer).toBe(answerA);

    await project.inspect(async (look) => {
      const champion = await artifact<ChampionRecord>(look, 'champion/current.json');
      expect(champion).toMatchObject({
        executionName: a.executionName,
        statsUri: expect.stringContaining(`/runs/${a.executionName}/validation/stats.json`),
        schemaUri: expect.stringContaining(`/runs/${a.executionName}/validation/schema.json`),
        restored: { by: expect.stringMatching(/^rollback-/), replacedExecutionName: b.executionName },
      });
      expect(await look.servingConfig(a.endpointName)).toBe(champion.endpointConfigName);
      const filedB = await artifact<ChampionRecord>(look, `champion/history/${b.executionName}.json`);
      expect(filedB.rolledBack).toMatchObject({ restoredExecutionName: a.executionName });
      const pkgA = await look.services.sagemakerClient.send(new DescribeModelPackageCommand({ ModelPackageName: champion.modelPackageArn }));
      expect(pkgA.ApprovalDescription).toMatch(/restored by rollback rollback-/);
      expect(pkgA.CustomerMetadataProperties).toMatchObject({ restoredBy: expect.stringMatching(/^rollback-/) });
      const pkgB = await look.services.sagemakerClient.send(new DescribeModelPackageCommand({ ModelPackageName: filedB.modelPackageArn }));
      expect(pkgB.CustomerMetadataProperties).toMatchObject({ rolledBackBy: expect.stringMatching(/^rollback-/) });
      // The notification went out.
      const notifications = readFileSync(join(project.stateDir, 'sagemaker', 'notifications.jsonl'), 'utf8');
      expect(notifications).toMatch(/rolled back \(rollback-/);
    });
  });

  test('the endpoint’s instance is replaced: the restored model starts again from scratch, as the execution role', async () => {
    const r = await cli('local', 'replace-instance');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/replaced the instance of .*serves \(InService\)/);
    expect((await project.invoke(body)).answer).toBe(answerA);
  });

  test('with B rolled back and A restored, a plain rollback has no previous champion: refused, nothing changed', async () => {
    const before = await project.servingConfig(a.endpointName);
    const r = await cli('local', 'rollback');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^relearn: rollback rollback-\S+ refused: RollbackRefused: champion \S+ has no previous champion to roll back to/);
    expect(await project.servingConfig(a.endpointName)).toBe(before);
  });

  test('rollback --to B puts B back (a named model, even one rolled back before); its instance is replaced and B starts', async () => {
    const r = await cli('local', 'rollback', '--to', b.executionName);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`rolled back \\(rollback-\\S+\\): ${b.executionName} is the champion again, replacing ${a.executionName}`));
    expect((await project.invoke(body)).answer).toBe(answerB);
    expect((await cli('local', 'replace-instance')).code).toBe(0);
    expect((await project.invoke(body)).answer).toBe(answerB);
  });

  test('a rollback while an endpoint update is in flight is refused, and the update is left alone', async () => {
    // GIVEN an update of the endpoint held in flight (back to A's config, started by someone else)
    const services = await startLocalServices({ stateDir: project.stateDir, faults: { holdEndpointUpdateMs: 120000 } });
    try {
      const sm = services.sagemakerClient;
      const bucket = artifactsBucketOf(resolvePipeline(join(project.stateDir, 'cdk.out')));
      const historyA = await new Inspector(services, project.stateDir).object(bucket, `champion/history/${a.executionName}.json`);
      const configA = (JSON.parse(historyA!) as ChampionRecord).endpointConfigName;
      await sm.send(new UpdateEndpointCommand({ EndpointName: a.endpointName, EndpointConfigName: configA }));
      expect((await sm.send(new DescribeEndpointCommand({ EndpointName: a.endpointName }))).EndpointStatus).toBe('Updating');
      // WHEN a rollback is asked for
      const outcome = await rollbackLocal({ projectDir: project.dir, services });
      // THEN it is refused at ResolveRollback, naming the update, and the endpoint is still updating to that config
      expect(outcome.status).toBe('FAILED');
      expect(outcome.error).toMatchObject({ Error: 'RollbackRefused', Cause: expect.stringMatching(/is Updating \(to \S+\): an update is in flight, and a rollback never races one/) });
      expect(outcome.states!.map((s) => s.name)).toEqual(['ResolveRollback', 'NotifyFailure', 'Failed']);
      const ep = await sm.send(new DescribeEndpointCommand({ EndpointName: a.endpointName }));
      expect(ep.EndpointStatus).toBe('Updating');
    } finally {
      await services.stop();
    }
    expect(existsSync(join(project.stateDir, 'last-rollback.json'))).toBe(true);
  });
});
