import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateModelPackageGroupCommand, DescribeEndpointCommand, DescribeModelCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { handler as checkEndpoint } from '../lambdas/check-endpoint/handler';
import { handler as deploy } from '../lambdas/deploy/handler';
import { handler as notify } from '../lambdas/notify/handler';
import { handler as promoteBaseline } from '../lambdas/promote-baseline/handler';
import { s3Client, sageMakerClient, sageMakerRuntimeClient, snsClient } from '../lambdas/shared/clients';
import { DeploymentRef, Layout, PipelineState } from '../lambdas/shared/contracts';
import { getJson, parseS3Uri } from '../lambdas/shared/s3';
import { repackModel } from '../lambdas/package-model/repack';
import { handler as register } from '../lambdas/register/handler';
import { handler as verifyServing } from '../lambdas/verify-serving/handler';
import { findPython, LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The deploy side for real: the churn example trained by the built-in tabular script (Debian's python3 + scikit-learn), served
 * by the local SageMaker server (which loads it through the script's model_fn/input_fn/predict_fn/output_fn),
 * on the real local S3. Deploy -> CheckEndpoint -> VerifyServing -> PromoteBaseline, a first deploy then a
 * blue/green update; then a failed update and a skewed model, each leaving the previous model serving. The Lambda
 * handlers themselves run, their clients reaching the local servers through the SDK's AWS_ENDPOINT_URL_* variables.
 */
const A = `s3://${ARTIFACTS_BUCKET}`;
const CSV = readFileSync(join(__dirname, '..', 'examples', 'churn', 'data', 'churn-clean.csv'), 'utf8').split('\n');
const HEADER = CSV[0];

describe('deploy side on the local SageMaker server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let sm: LocalSageMaker;
  let work: string;
  let champion: string | undefined;

  /** Trains the built-in script on the churn example's `train` rows, scoring the validation split; uploads model.tar.gz and output.tar.gz. */
  async function train(exec: string, trainRows: string[], tamper?: (candidate: number) => number): Promise<{ modelDataUri: string; outputDataUri: string }> {
    const dir = join(work, exec);
    mkdirSync(join(dir, 'train'), { recursive: true });
    mkdirSync(join(dir, 'validation'), { recursive: true });
    writeFileSync(join(dir, 'train', 'part-00000.csv'), [HEADER, ...trainRows].join('\n') + '\n');
    writeFileSync(join(dir, 'validation', 'part-00000.csv'), [HEADER, ...CSV.slice(4001, 4201)].join('\n') + '\n');
    const env = { ...process.env, SM_MODEL_DIR: join(dir, 'model'), SM_OUTPUT_DIR: join(dir, 'out'), SM_OUTPUT_DATA_DIR: join(dir, 'out', 'data'), SM_CHANNEL_TRAIN: join(dir, 'train'), SM_CHANNEL_VALIDATION: join(dir, 'validation') };
    const run = spawnSync(findPython(), [join(__dirname, '..', 'training-scripts', 'tabular', 'train.py'), '--label-column', 'churned', '--id-column', 'customer_id'], { env, encoding: 'utf8', cwd: dir });
    if (run.status !== 0) throw new Error(`train.py failed: ${run.stderr}`);
    if (tamper) {
      const file = join(dir, 'out', 'data', 'predictions.jsonl');
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      writeFileSync(file, lines.map((p) => JSON.stringify({ ...p, candidate: tamper(p.candidate) })).join('\n') + '\n');
    }
    await create({ gzip: true, file: join(dir, 'model.tar.gz'), cwd: join(dir, 'model') }, ['.']);
    await create({ gzip: true, file: join(dir, 'output.tar.gz'), cwd: join(dir, 'out', 'data') }, ['.']);
    const prefix = `runs/${exec}/training/job/output/`;
    for (const f of ['model.tar.gz', 'output.tar.gz']) {
      await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: prefix + f, Body: readFileSync(join(dir, f)) }));
    }
    return { modelDataUri: `${A}/${prefix}model.tar.gz`, outputDataUri: `${A}/${prefix}output.tar.gz` };
  }

  /**
   * What PackageModel and Register do for a trained model: the real repack (code/ from the source directory into the
   * archive) and the real Register handler against the local registry. Deploy then reads the registered package.
   */
  async function packagedAndRegistered(exec: string, uris: { modelDataUri: string; outputDataUri: string }): Promise<PipelineState> {
    const base = state(exec, uris);
    const r = await repackModel({
      s3: s3.client,
      model: parseS3Uri(uris.modelDataUri),
      code: { bucket: ARTIFACTS_BUCKET, key: 'code/sourcedir.tar.gz' },
      out: { bucket: ARTIFACTS_BUCKET, key: `runs/${exec}/model/model.tar.gz` },
      kmsKeyArn: process.env.KMS_KEY_ARN!,
      entryPoint: 'train.py',
    });
    const model = {
      modelDataUri: `${A}/runs/${exec}/model/model.tar.gz`, trainingModelDataUri: uris.modelDataUri, codeUri: `${A}/code/sourcedir.tar.gz`,
      sha256: r.sha256, bytes: r.bytes, manifestUri: `${A}/runs/${exec}/model/manifest.json`,
    };
    const registration = await register({ executionName: exec, state: { ...base, model } });
    return { ...base, model, registration };
  }

  function state(exec: string, uris: { modelDataUri: string; outputDataUri: string }): PipelineState {
    return {
      source: { bucket: 'test-data', prefix: 'incoming/' },
      dataset: {
        datasetId: 'ds', uri: `${A}/datasets/ds/`, trainUri: `${A}/datasets/ds/train/`, validationUri: `${A}/datasets/ds/validation/`,
        manifestUri: `${A}/datasets/ds/manifest.json`, parts: [], rows: { train: 800, validation: 200 }, columns: HEADER.split(','), reused: false,
      },
      validation: { statsUri: `${A}/runs/${exec}/validation/stats.json`, schemaUri: `${A}/runs/${exec}/validation/schema.json`, anomaliesUri: `${A}/runs/${exec}/validation/anomalies.json`, blocking: 0, warnings: 0, summary: 'ok' },
      training: { jobName: `job-${exec}`, status: 'Completed', done: true, ...uris },
      evaluation: {
        evaluationUri: `${A}/runs/${exec}/evaluation/evaluation.json`, reportUri: `${A}/runs/${exec}/evaluation/report.html`, decisionUri: `${A}/runs/${exec}/decision.json`,
        deploy: true, reasons: ['passes every gate'], primaryMetric: { name: 'roc_auc', candidate: 0.8 },
      },
    };
  }

  /** Deploy, then CheckEndpoint as WaitForEndpoint would call it, until done (or it throws). */
  async function deployAndWait(exec: string, st: PipelineState): Promise<DeploymentRef> {
    let ref = await deploy({ executionName: exec, state: st });
    for (let i = 0; i < 600 && !ref.done; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ref = await checkEndpoint({ executionName: exec, state: { ...st, deployment: ref } });
    }
    return ref;
  }

  const endpoint = () => sageMakerClient().send(new DescribeEndpointCommand({ EndpointName: 'relearn-endpoint' }));
  async function untilInService(): Promise<string> {
    for (let i = 0; i < 600; i++) {
      const e = await endpoint();
      if (e.EndpointStatus === 'InService') return e.EndpointConfigName!;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('endpoint never came back InService');
  }
  const invokeOne = async () => {
    const row = Object.fromEntries(HEADER.split(',').map((c, i) => [c, CSV[4001].split(',')[i]]));
    const res = await sageMakerRuntimeClient().send(new InvokeEndpointCommand({ EndpointName: 'relearn-endpoint', ContentType: 'application/json', Body: JSON.stringify([row]) }));
    return JSON.parse(new TextDecoder().decode(res.Body)).predictions as number[];
  };

  beforeAll(async () => {
    s3 = await startTestS3();
    work = mkdtempSync(join(tmpdir(), 'relearn-deploy-local-'));
    sm = await startLocalSageMaker({ directory: join(work, 'sagemaker'), s3Endpoint: s3.endpoint });
    Object.assign(process.env, localSageMakerEnv(sm.endpoint));
    setLambdaEnv({ dataset: { idColumn: 'customer_id' }, deployment: { verifySampleRows: 50 } });
    // The model registry belongs to the data stack; here the test creates it.
    await sageMakerClient().send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: process.env.MODEL_PACKAGE_GROUP }));
    // The validation split the endpoint is checked on, and the serving code.
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/ds/validation/part-00000.csv', Body: [HEADER, ...CSV.slice(4001, 4201)].join('\n') + '\n' }));
    const code = join(work, 'sourcedir.tar.gz');
    await create({ gzip: true, file: code, cwd: join(__dirname, '..', 'training-scripts', 'tabular') }, ['train.py']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'code/sourcedir.tar.gz', Body: readFileSync(code) }));
  });
  afterAll(async () => {
    await sm?.stop();
    for (const c of [sageMakerClient(), sageMakerRuntimeClient(), snsClient(), s3Client()]) c.destroy();
    await s3.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('first deploy, then a blue/green update: each verified against the offline scores and promoted', async () => {
    // GIVEN a first model
    const first = await packagedAndRegistered('run-1', await train('run-1', CSV.slice(1, 801)));
    // WHEN it goes through Deploy -> CheckEndpoint -> VerifyServing -> PromoteBaseline
    const d1 = await deployAndWait('run-1', first);
    const s1 = await verifyServing({ executionName: 'run-1', state: { ...first, deployment: d1 } });
    await promoteBaseline({ executionName: 'run-1', state: { ...first, deployment: d1, serving: s1 } });
    // THEN the endpoint was created from the self-contained model (isolated: its code came from the archive, not S3),
    // serves exactly the offline scores, and run-1 is the champion
    expect(d1).toMatchObject({ status: 'InService', done: true });
    expect(await sageMakerClient().send(new DescribeModelCommand({ ModelName: d1.modelName }))).toMatchObject({
      EnableNetworkIsolation: true,
      PrimaryContainer: { ModelDataUrl: `${A}/runs/run-1/model/model.tar.gz`, Environment: { SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code' } },
    });
    expect(d1.previousEndpointConfigName).toBeUndefined();
    expect(s1.checkedRows).toBe(50);
    expect(s1.maxAbsDifference).toBeLessThanOrEqual(1e-6);
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, Layout.champion)).toMatchObject({ executionName: 'run-1', endpointConfigName: d1.endpointConfigName, modelDataUri: `${A}/runs/run-1/model/model.tar.gz` });

    // GIVEN a second model trained on other rows
    const second = await packagedAndRegistered('run-2', await train('run-2', CSV.slice(1001, 1801)));
    // WHEN it is deployed over the first
    const d2 = await deployAndWait('run-2', second);
    const s2 = await verifyServing({ executionName: 'run-2', state: { ...second, deployment: d2 } });
    await promoteBaseline({ executionName: 'run-2', state: { ...second, deployment: d2, serving: s2 } });
    // THEN it was an update with the first config as rollback target, verified, promoted, the first filed in history
    expect(d2).toMatchObject({ previousEndpointConfigName: d1.endpointConfigName, status: 'InService', done: true });
    expect(s2.maxAbsDifference).toBeLessThanOrEqual(1e-6);
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, 'champion/history/run-1.json')).toMatchObject({ executionName: 'run-1' });
    champion = d2.endpointConfigName;
    expect((await invokeOne())).toHaveLength(1);
  });

  test('a model that fails to load: DeploymentRolledBack, the previous model still answers', async () => {
    expect(champion).toBeDefined();
    // GIVEN the next endpoint update fails to load its model
    sm.setFaults({ failEndpointUpdate: 'model_fn raised: out of memory' });
    const st = await packagedAndRegistered('run-3', await train('run-3', CSV.slice(2001, 2801)));
    // WHEN / THEN
    await expect(deployAndWait('run-3', st)).rejects.toMatchObject({ name: 'DeploymentRolledBack', message: expect.stringMatching(/out of memory/) });
    expect(await untilInService()).toBe(champion);
    expect(await invokeOne()).toHaveLength(1);
  });

  test('serving skew: VerifyServing rolls back to the previous config, and NotifyFailure leaves it there', async () => {
    expect(champion).toBeDefined();
    // GIVEN a model whose offline scores (what it was evaluated on) differ from what it serves
    const st = await packagedAndRegistered('run-4', await train('run-4', CSV.slice(2001, 2801), (c) => Math.min(1, c + 0.05)));
    const d4 = await deployAndWait('run-4', st);
    expect(d4).toMatchObject({ done: true, previousEndpointConfigName: champion });
    // WHEN
    const err = await verifyServing({ executionName: 'run-4', state: { ...st, deployment: d4 } }).catch((e: Error) => e);
    // THEN ServingSkew with the worst rows, and the endpoint goes back to the champion's config
    expect(err).toMatchObject({ name: 'ServingSkew', message: expect.stringMatching(/worst: id cust-1-\d+ .*rolling back to/) });
    expect(await untilInService()).toBe(champion);
    // AND NotifyFailure reports it without touching the endpoint again (local SNS)
    const n = await notify({ executionName: 'run-4', state: { ...st, deployment: d4, error: { Error: 'ServingSkew', Cause: (err as Error).message } } });
    expect(n).toMatchObject({ outcome: 'failed', subject: '[relearn] relearn: FAILED at VerifyServing (run-4)', published: true, cleanup: [] });
    expect((await endpoint()).EndpointConfigName).toBe(champion);
  });
});
