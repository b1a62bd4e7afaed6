import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  DescribeEndpointCommand,
  DescribeTrainingJobCommand,
  DescribeTrainingJobCommandOutput,
  ListModelsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { rollBackEndpoint } from '../lambdas/deploy/endpoint';
import { deleteEndpointAndModels } from '../lambdas/endpoint-owner/core';
import { parseConfig } from '../lambdas/shared/config';
import { buildCreateTrainingJobRequest } from '../lambdas/start-training/core';
import { resolvePipeline, ResolvedPipeline } from '../local/asl/assembly';
import { iamModelOf, removePolicyStatements } from '../local/iam/template';
import { LOCAL_REGION, LocalServices, provision, startLocalServices } from '../local/local-env';
import { artifactsBucketOf } from '../local/local-run';
import { synthesize } from '../local/synth';

/**
 * Issue 11's findings 2 and 3 on the local servers, with the synthesized template's IAM enforced: each passes with
 * the fix and fails with AWS's AccessDenied when the fix is taken out of the template (the assembly copied, the
 * statement removed, the servers started on that copy's policies). Finding 1's counterpart is in
 * test/e2e-rollback.test.ts (a model whose code is on S3 cannot start after a redeploy).
 */

jest.setTimeout(20 * 60 * 1000);

const PIPELINE_STACK = 'relearn-pipeline';

/**
 * A small script-mode program: training writes a checkpoint and waits (to be interrupted); run again with the
 * checkpoint there, it says so and saves a model. Serving answers with the model's number.
 */
const SCRIPT = `import json, os, sys, time

def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, model):
    return {"predictions": [model["answer"]] * len(data)}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"

if __name__ == "__main__":
    checkpoints = os.environ.get("RELEARN_CHECKPOINT_DIR", "/opt/ml/checkpoints")
    marker = os.path.join(checkpoints, "progress.json")
    if os.path.exists(marker):
        with open(marker) as f:
            print("resumed from checkpoint epoch=%d" % json.load(f)["epoch"], flush=True)
    else:
        os.makedirs(checkpoints, exist_ok=True)
        with open(marker + ".tmp", "w") as f:
            json.dump({"epoch": 3}, f)
        os.rename(marker + ".tmp", marker)
        print("checkpoint written; training on", flush=True)
        time.sleep(300)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
        json.dump({"answer": 42}, f)
    os.makedirs(os.environ["SM_OUTPUT_DATA_DIR"], exist_ok=True)
`;

let work: string;
let stateDir: string;
let outdir: string;
let pipeline: ResolvedPipeline;
let env: Record<string, string>;
const config = () => parseConfig({ training: { sourceDir: join(work, 'code'), spot: { enabled: true }, maxRuntimeSeconds: 600 } });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'relearn-cloud-truth-'));
  mkdirSync(join(work, 'code'));
  writeFileSync(join(work, 'code', 'train.py'), SCRIPT);
  stateDir = join(work, '.relearn');
  outdir = synthesize({ stateDir, config: config() }).outdir;
  pipeline = resolvePipeline(outdir);
  // Every stage function shares the pipeline's environment (buckets, key, roles, code asset).
  env = { ...Object.values(pipeline.functions).find((f) => f.environment.SAGEMAKER_ROLE_ARN)!.environment };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The assembly with `edit` applied to a copy: its policies are what the servers then enforce. */
function editedIam(name: string, edit: (copy: string) => void) {
  const copy = join(work, name);
  cpSync(outdir, copy, { recursive: true });
  edit(copy);
  return iamModelOf(copy);
}

/** A SageMaker client acting as one of the template's roles (as that function would, in Lambda). */
function clientAs(services: LocalServices, roleLogicalIdPrefix: string): SageMakerClient {
  const role = [...services.authorizer.model!.roles.values()].find((r) => r.id.includes(`/${roleLogicalIdPrefix}`));
  if (!role) throw new Error(`no role ${roleLogicalIdPrefix} in the template`);
  return new SageMakerClient({ endpoint: services.sagemaker.endpoint, region: LOCAL_REGION, credentials: services.authorizer.identities.session(role.arn, 'test').credentials });
}

async function until<T>(get: () => Promise<T>, done: (t: T) => boolean): Promise<T> {
  for (let i = 0; i < 3000; i++) {
    const t = await get();
    if (done(t)) return t;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('timed out');
}

describe('finding 3: a spot job resumes from its checkpoints, read as the execution role', () => {
  async function spotJob(services: LocalServices, executionName: string): Promise<DescribeTrainingJobCommandOutput> {
    const s3 = services.s3.client;
    const bucket = artifactsBucketOf(pipeline);
    for (const split of ['train', 'validation']) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `datasets/ds-spot/${split}/part-00000.csv`, Body: 'id,churned\n1,0\n2,1\n' }));
    }
    const request = buildCreateTrainingJobRequest({
      executionName,
      executionStartTime: new Date().toISOString(),
      config: config(),
      dataset: { datasetId: 'ds-spot', trainUri: `s3://${bucket}/datasets/ds-spot/train/`, validationUri: `s3://${bucket}/datasets/ds-spot/validation/` },
      artifactsBucket: bucket,
      kmsKeyArn: env.KMS_KEY_ARN,
      roleArn: env.SAGEMAKER_ROLE_ARN,
      imageUri: env.TRAINING_IMAGE_URI,
      codeUri: env.TRAINING_CODE_URI,
      region: LOCAL_REGION,
    });
    // StartTraining's own role creates it, as in the pipeline.
    const sm = clientAs(services, 'PipelineStartTrainingRole');
    try {
      await sm.send(new CreateTrainingJobCommand(request));
      return await until(() => sm.send(new DescribeTrainingJobCommand({ TrainingJobName: request.TrainingJobName })), (j) => j.TrainingJobStatus !== 'InProgress');
    } finally {
      sm.destroy();
    }
  }

  test('with the fix: interrupted after its checkpoint, the job restarts, reads the checkpoint back and completes', async () => {
    const services = await startLocalServices({ stateDir, faults: { spotInterruption: true } });
    try {
      await provision(pipeline, services.s3.client, services.sagemakerClient);
      const job = await spotJob(services, 'spot-fixed');
      expect({ status: job.TrainingJobStatus, reason: job.FailureReason }).toEqual({ status: 'Completed', reason: undefined });
      expect(job.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(expect.arrayContaining(['Interrupted', 'Training']));
      const log = readFileSync(join(stateDir, 'sagemaker', 'training-jobs', job.TrainingJobName!, 'training.log'), 'utf8');
      expect(log).toMatch(/checkpoint written/);
      expect(log).toMatch(/resumed from checkpoint epoch=3/);
      expect(services.enforcement().iam.denied).toBe(0);
    } finally {
      await services.stop();
    }
  });

  test('fix reverted (no GetObject/ListBucket on runs/*/checkpoints/*): the job fails with the SageMaker role’s AccessDenied', async () => {
    const iam = editedIam('no-checkpoint-read', (copy) =>
      removePolicyStatements(copy, PIPELINE_STACK, 'PipelineSageMakerRole', (s) => {
        const actions = ([] as unknown[]).concat(s.Action);
        return (actions.includes('s3:GetObject') || actions.includes('s3:ListBucket')) && JSON.stringify(s).includes('checkpoints');
      }),
    );
    const services = await startLocalServices({ stateDir, iam, faults: { spotInterruption: true } });
    try {
      const job = await spotJob(services, 'spot-reverted');
      expect(job.TrainingJobStatus).toBe('Failed');
      expect(job.FailureReason).toMatch(
        /^ClientError: .*User: arn:aws:sts::000000000000:assumed-role\/relearn-pipeline-PipelineSageMakerRole[A-Z0-9]+\/SageMaker is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::relearn-data-artifactsbucket[a-z0-9]+"/,
      );
    } finally {
      await services.stop();
    }
  });
});

describe('finding 2: every role that rolls an endpoint back may have SageMaker use the key (kms:CreateGrant)', () => {
  const ROLLING_BACK = ['PipelineCheckEndpointRole', 'PipelineVerifyServingRole', 'PipelineNotifyRole'];
  let configs: [string, string];

  /** An endpoint on config `rb-1`, with `rb-2` ready: both encrypted with the pipeline's key, as Deploy makes them. */
  async function endpointWithTwoConfigs(services: LocalServices): Promise<void> {
    const sm = services.sagemakerClient;
    const bucket = artifactsBucketOf(pipeline);
    const model = join(work, 'model');
    mkdirSync(join(model, 'code'), { recursive: true });
    writeFileSync(join(model, 'model.json'), JSON.stringify({ answer: 7 }));
    writeFileSync(join(model, 'code', 'train.py'), SCRIPT);
    await tar.c({ gzip: true, file: join(work, 'model.tar.gz'), cwd: model, portable: true }, ['.']);
    await services.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'runs/rb/model/model.tar.gz', Body: readFileSync(join(work, 'model.tar.gz')) }));
    configs = ['relearn-epc-rb-1', 'relearn-epc-rb-2'];
    for (const [i, name] of configs.entries()) {
      await sm.send(
        new CreateModelCommand({
          ModelName: `relearn-model-rb-${i + 1}`,
          ExecutionRoleArn: env.SAGEMAKER_ROLE_ARN,
          EnableNetworkIsolation: true,
          PrimaryContainer: { Image: env.TRAINING_IMAGE_URI, ModelDataUrl: `s3://${bucket}/runs/rb/model/model.tar.gz`, Environment: { SAGEMAKER_PROGRAM: 'train.py', SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code' } },
        }),
      );
      await sm.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: name,
          KmsKeyId: env.KMS_KEY_ARN,
          ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: `relearn-model-rb-${i + 1}`, InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }],
        }),
      );
    }
    await sm.send(new CreateEndpointCommand({ EndpointName: env.ENDPOINT_NAME, EndpointConfigName: configs[0] }));
    await inService(services, configs[0]);
  }

  const inService = (services: LocalServices, config: string) =>
    until(() => services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: env.ENDPOINT_NAME })), (e) => e.EndpointStatus === 'InService' && e.EndpointConfigName === config);

  test('with the fix: CheckEndpoint, VerifyServing and Notify each roll the endpoint back to the previous config', async () => {
    const services = await startLocalServices({ stateDir });
    try {
      await provision(pipeline, services.s3.client, services.sagemakerClient);
      await endpointWithTwoConfigs(services);
      for (const role of ROLLING_BACK) {
        // GIVEN the endpoint on the config this (pretend) run deployed
        const current = (await services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: env.ENDPOINT_NAME }))).EndpointConfigName!;
        const previous = current === configs[0] ? configs[1] : configs[0];
        // WHEN that role rolls it back, THEN the update goes through and the endpoint serves the previous config
        const sm = clientAs(services, role);
        const result = await rollBackEndpoint(sm, { endpointName: env.ENDPOINT_NAME, endpointConfigName: current, previousEndpointConfigName: previous });
        sm.destroy();
        expect([role, result.action]).toEqual([role, 'updated']);
        await inService(services, previous);
      }
      expect(services.enforcement().iam.denied).toBe(0);
    } finally {
      await services.stop();
    }
  });

  test.each(ROLLING_BACK)('fix reverted for %s (no kms:CreateGrant): its rollback is refused with AccessDeniedException, the endpoint untouched', async (role) => {
    const iam = editedIam(`no-grant-${role}`, (copy) =>
      removePolicyStatements(copy, PIPELINE_STACK, role, (s) => ([] as unknown[]).concat(s.Action).includes('kms:CreateGrant')),
    );
    const services = await startLocalServices({ stateDir, iam });
    try {
      const before = (await services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: env.ENDPOINT_NAME }))).EndpointConfigName!;
      const previous = before === configs[0] ? configs[1] : configs[0];
      const sm = clientAs(services, role);
      const err = await rollBackEndpoint(sm, { endpointName: env.ENDPOINT_NAME, endpointConfigName: before, previousEndpointConfigName: previous }).catch((e: Error) => e);
      sm.destroy();
      expect(err).toMatchObject({ name: 'AccessDeniedException' });
      expect((err as Error).message).toMatch(new RegExp(`assumed-role/relearn-pipeline-${role}[A-Z0-9]+/test is not authorized to perform: kms:CreateGrant on resource: arn:aws:kms:`));
      expect((await services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: env.ENDPOINT_NAME }))).EndpointConfigName).toBe(before);
      // AND an UpdateEndpoint by the operator still works: only the role lacks the grant
      await services.sagemakerClient.send(new UpdateEndpointCommand({ EndpointName: env.ENDPOINT_NAME, EndpointConfigName: previous }));
      await inService(services, previous);
    } finally {
      await services.stop();
    }
  });
});

describe('cdk destroy: the endpoint owner deletes what the pipeline created, as its own role', () => {
  const props = { EndpointName: '', ModelPrefix: 'relearn-model-', EndpointConfigPrefix: 'relearn-epc-', Retain: 'false' };

  test('retained: nothing is touched', async () => {
    const services = await startLocalServices({ stateDir });
    try {
      const sm = clientAs(services, 'PipelineEndpointOwnerRole');
      expect(await deleteEndpointAndModels(sm, { ...props, EndpointName: env.ENDPOINT_NAME, Retain: 'true' })).toEqual({ endpoint: 'retained', endpointConfigs: [], models: [] });
      sm.destroy();
      expect((await services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: env.ENDPOINT_NAME }))).EndpointStatus).toBe('InService');
    } finally {
      await services.stop();
    }
  });

  test('deleted: the endpoint and every model and endpoint config with the pipeline’s prefixes; another model stays; a second delete finds nothing left', async () => {
    const services = await startLocalServices({ stateDir });
    try {
      const admin = services.sagemakerClient;
      await admin.send(
        new CreateModelCommand({ ModelName: 'someone-elses-model', ExecutionRoleArn: env.SAGEMAKER_ROLE_ARN, PrimaryContainer: { Image: env.TRAINING_IMAGE_URI } }),
      );
      const sm = clientAs(services, 'PipelineEndpointOwnerRole');
      const deleted = await deleteEndpointAndModels(sm, { ...props, EndpointName: env.ENDPOINT_NAME });
      expect({ ...deleted, endpointConfigs: [...deleted.endpointConfigs].sort(), models: [...deleted.models].sort() }).toEqual({
        endpoint: 'deleted',
        endpointConfigs: ['relearn-epc-rb-1', 'relearn-epc-rb-2'],
        models: ['relearn-model-rb-1', 'relearn-model-rb-2'],
      });
      expect(await deleteEndpointAndModels(sm, { ...props, EndpointName: env.ENDPOINT_NAME })).toEqual({ endpoint: 'absent', endpointConfigs: [], models: [] });
      sm.destroy();
      const models = (await admin.send(new ListModelsCommand({}))).Models!.map((m) => m.ModelName);
      expect(models).toEqual(['someone-elses-model']);
      expect(services.enforcement().iam.denied).toBe(0);
    } finally {
      await services.stop();
    }
  });
});

