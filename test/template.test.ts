import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { LambdaEnvSchema } from '../lambdas/shared/env';
import { RESOURCE_STAR_ACTIONS } from '../lib/nag-acknowledgements';
import { SDK_CREDENTIAL_FALLBACKS, STAGE_BUNDLING } from '../lib/constructs/retraining-pipeline';

import { list, Statement, statementsOf, synth } from './helpers/templates';
import { STATE_MEMORY_ENV } from '../lambdas/shared/cost';

/**
 * Template assertions for what matters (encryption, versioning, public access, TLS, key rotation, IAM scope,
 * the Lambdas and the state machine's settings). One synth per configuration, shared by the tests; asset
 * bundling is skipped here (context `aws:cdk:bundling-stacks: []`): bundles are checked in cdk-app.test.ts.
 */
describe('relearn templates (reference configuration)', () => {
  let data: Template;
  let pipeline: Template;
  beforeAll(() => {
    // GIVEN the default configuration, WHEN both stacks synthesize
    ({ data, pipeline } = synth({ notifications: { emails: ['ops@example.com'] } }));
  });

  describe('data stack', () => {
    test('the customer-managed key rotates', () => {
      data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    });

    test('data and artifacts buckets are KMS-encrypted with that key; the log bucket uses SSE-S3 as S3 requires', () => {
      const buckets = data.findResources('AWS::S3::Bucket');
      const keyId = Object.keys(data.findResources('AWS::KMS::Key'))[0];
      for (const id of ['DataBucket', 'ArtifactsBucket']) {
        const [, b] = Object.entries(buckets).find(([k]) => k.startsWith(id))!;
        expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
        });
        expect(b.Properties.LoggingConfiguration.DestinationBucketName.Ref).toMatch(/^AccessLogsBucket/);
      }
      const [, logs] = Object.entries(buckets).find(([k]) => k.startsWith('AccessLogsBucket'))!;
      expect(logs.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    });

    test('every bucket is versioned and blocks all public access', () => {
      const buckets = Object.values(data.findResources('AWS::S3::Bucket'));
      expect(buckets).toHaveLength(3);
      for (const b of buckets) {
        expect(b.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
        expect(b.Properties.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
      }
    });

    test('every bucket policy denies requests without TLS', () => {
      const buckets = Object.keys(data.findResources('AWS::S3::Bucket'));
      const policies = Object.values(data.findResources('AWS::S3::BucketPolicy'));
      for (const bucket of buckets) {
        const policy = policies.find((p) => p.Properties.Bucket.Ref === bucket);
        expect(policy).toBeDefined();
        const statements = policy!.Properties.PolicyDocument.Statement as Statement[];
        expect(statements).toContainEqual(
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        );
      }
    });

    test('the data bucket sends its events to EventBridge', () => {
      data.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: { Ref: Match.stringLikeRegexp('^DataBucket') },
        NotificationConfiguration: { EventBridgeConfiguration: {} },
      });
    });

    test('the model package group is named after the config; stateful resources are retained by default', () => {
      data.hasResourceProperties('AWS::SageMaker::ModelPackageGroup', { ModelPackageGroupName: 'relearn-models' });
      for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::SageMaker::ModelPackageGroup']) {
        for (const r of Object.values(data.findResources(type))) expect(r.DeletionPolicy).toBe('Retain');
      }
    });

    test('stateful construct ids are stable (renaming one replaces the resource)', () => {
      const ids = Object.keys(data.toJSON().Resources);
      for (const prefix of ['Key', 'AccessLogsBucket', 'DataBucket', 'ArtifactsBucket', 'ModelPackageGroup']) {
        expect(ids.some((id) => id.startsWith(prefix))).toBe(true);
      }
    });
  });

  describe('pipeline stack: IAM', () => {
    test('iam:PassRole is granted only on the SageMaker role, only to SageMaker', () => {
      const smRole = Object.keys(pipeline.findResources('AWS::IAM::Role')).find((k) => k.startsWith('PipelineSageMakerRole'))!;
      const passRoles = Object.values(pipeline.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as Statement[]).filter((s) => list(s.Action).some((a) => a.startsWith('iam:'))),
      );
      expect(passRoles.length).toBeGreaterThanOrEqual(2); // StartTraining and Deploy
      for (const s of passRoles) {
        expect(s.Action).toBe('iam:PassRole');
        expect(s.Resource).toEqual({ 'Fn::GetAtt': [smRole, 'Arn'] });
        expect(s.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
      }
    });

    test('no role carries an AWS managed policy', () => {
      for (const role of Object.values(pipeline.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });

    test('the SageMaker role has no s3:* and no Resource * except for actions that have no resource-level permission', () => {
      const statements = statementsOf(pipeline, 'PipelineSageMakerRole');
      expect(statements.length).toBeGreaterThan(0);
      for (const s of statements) {
        expect(list(s.Action).filter((a) => a === 's3:*' || a === '*' || a.endsWith(':*'))).toEqual([]);
        if (list(s.Resource).includes('*')) {
          for (const a of list(s.Action)) expect(Object.keys(RESOURCE_STAR_ACTIONS)).toContain(a);
        }
      }
    });

    test('the SageMaker role may read the schema channel: exactly runs/*/validation/schema.json, nothing else of the run', () => {
      const statements = statementsOf(pipeline, 'PipelineSageMakerRole');
      const rendered = (s: Statement) => JSON.stringify(s.Resource) + JSON.stringify(s.Condition ?? {});
      const reads = statements.filter((s) => list(s.Action).includes('s3:GetObject') && rendered(s).includes('validation'));
      expect(reads).toHaveLength(1);
      expect(JSON.stringify(reads[0].Resource)).toMatch(/"\/runs\/\*\/validation\/schema\.json"\]\]\}$/);
      const lists = statements.filter((s) => list(s.Action).includes('s3:ListBucket') && rendered(s).includes('validation'));
      expect(lists).toHaveLength(1);
      expect(lists[0].Condition).toEqual({ StringLike: { 's3:prefix': ['runs/*/validation/schema.json'] } });
      // and not the run's statistics or anomalies
      expect(JSON.stringify(statements)).not.toMatch(/validation\/\*|stats\.json|anomalies\.json/);
    });

    test('stage roles use exact bucket prefixes: Ingest reads only incoming/ of the data bucket', () => {
      const reads = statementsOf(pipeline, 'PipelineIngestRole').filter((s) => s.Action === 's3:GetObject');
      const rendered = JSON.stringify(reads);
      expect(rendered).toContain('/incoming/*');
      expect(rendered).toContain('/datasets/*');
      expect(rendered).not.toMatch(/"\/\*"/);
      // No stage may write champion/ except PromoteBaseline.
      for (const role of ['PipelineIngestRole', 'PipelineEvaluateRole', 'PipelineDeployRole', 'PipelineNotifyRole']) {
        const writes = statementsOf(pipeline, role).filter((s) => list(s.Action).includes('s3:PutObject'));
        expect(JSON.stringify(writes)).not.toContain('champion/');
      }
      const promoteWrites = statementsOf(pipeline, 'PipelinePromoteBaselineRole').filter((s) => list(s.Action).includes('s3:PutObject'));
      expect(JSON.stringify(promoteWrites)).toContain('champion/current.json');
    });

    test('SageMaker ARNs are built from the pipeline name (training jobs, endpoint)', () => {
      const start = JSON.stringify(statementsOf(pipeline, 'PipelineStartTrainingRole'));
      expect(start).toContain(':training-job/relearn-train-*');
      const deploy = JSON.stringify(statementsOf(pipeline, 'PipelineDeployRole'));
      expect(deploy).toContain(':endpoint/relearn-endpoint');
      expect(deploy).toContain(':model/relearn-model-*');
      expect(deploy).toContain(':endpoint-config/relearn-epc-*');
    });
  });

  describe('pipeline stack: functions, topic, state machine', () => {
    test('fifteen stage functions, the abort cleanup, the trigger and the monitor: Node.js 22, traced, with their own encrypted log groups and the full environment', () => {
      const all = pipeline.findResources('AWS::Lambda::Function');
      // + the endpoint owner's handler and CDK's provider framework function (lib/constructs/endpoint-owner.ts)
      expect(Object.keys(all)).toHaveLength(22);
      const fns = Object.entries(all).filter(([id]) => !id.startsWith('PipelineEndpointOwner')).map(([, f]) => f);
      // 13 retrain stages + 2 rollback stages + AbortCleanup (lib/constructs/abort-cleanup.ts) + Trigger
      // (lib/constructs/trigger.ts) + 3 monitor tasks (lib/constructs/monitoring.ts)
      expect(fns).toHaveLength(20);
      // Every variable loadEnv requires (CURATED_SCHEMA_URI is optional: only with validation.schemaFile).
      const required = Object.entries(LambdaEnvSchema.shape).filter(([, v]) => !v.safeParse(undefined).success).map(([k]) => k);
      for (const f of fns) {
        expect(f.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
        expect(f.Properties.LoggingConfig.LogGroup).toBeDefined();
        const env = f.Properties.Environment.Variables;
        for (const k of required) expect(env[k]).toBeDefined();
        expect(JSON.parse(env.RELEARN_CONFIG).name).toBe('relearn');
        expect(env.AWS_NODEJS_CONNECTION_REUSE_ENABLED).toBe('1');
      }
      for (const lg of Object.values(pipeline.findResources('AWS::Logs::LogGroup'))) {
        expect(lg.Properties.KmsKeyId).toBeDefined();
        expect(lg.Properties.RetentionInDays).toBeGreaterThan(0);
      }
    });

    test('the training image is the SageMaker scikit-learn image of the stack region', () => {
      const env = Object.values(pipeline.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
      const uri = JSON.stringify(env.TRAINING_IMAGE_URI);
      expect(uri).toContain('Fn::FindInMap');
      expect(uri).toContain('/sagemaker-scikit-learn:1.2-1-cpu-py3');
      expect(pipeline.toJSON().Mappings).toBeDefined();
      const mapping = Object.values(pipeline.toJSON().Mappings as Record<string, Record<string, { account: string }>>)[0];
      expect(mapping['us-east-1'].account).toBe('683313688378');
      expect(mapping['eu-west-1'].account).toBe('141502667606');
    });

    test('the outcome topic is KMS-encrypted, TLS-only, with the configured e-mail subscription', () => {
      pipeline.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
      pipeline.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
      pipeline.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    });

    test('the state machine is STANDARD, logs ALL with execution data, and is traced', () => {
      pipeline.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: 'relearn-retrain',
        StateMachineType: 'STANDARD',
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
        TracingConfiguration: { Enabled: true },
      });
      pipeline.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: 'relearn-rollback',
        StateMachineType: 'STANDARD',
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
        TracingConfiguration: { Enabled: true },
      });
      // named under /aws/vendedlogs/, with a per-stack suffix so a redeploy never collides with a retained group
      const logGroups = Object.values(pipeline.findResources('AWS::Logs::LogGroup'));
      for (const machine of ['relearn-retrain', 'relearn-rollback']) {
        const named = logGroups.filter((g) => JSON.stringify(g.Properties.LogGroupName ?? '').includes(`${machine}-`));
        expect(named).toHaveLength(1);
        expect(JSON.stringify(named[0].Properties.LogGroupName)).toContain(`/aws/vendedlogs/states/${machine}-`);
        expect(JSON.stringify(named[0].Properties.LogGroupName)).toContain('AWS::StackId');
        expect(named[0].Properties.KmsKeyId).toBeDefined();
      }
    });

    test('outputs: state machine ARN and console URL, bucket names, endpoint name', () => {
      const outputs = Object.keys(pipeline.toJSON().Outputs);
      for (const o of ['StateMachineArn', 'RollbackStateMachineArn', 'StateMachineConsoleUrl', 'EndpointName', 'DataBucketName', 'ArtifactsBucketName', 'TopicArn']) {
        expect(outputs).toContain(o);
      }
      pipeline.hasOutput('EndpointName', { Value: 'relearn-endpoint' });
    });
  });
});

describe('abort cleanup (DESIGN principle 6: an aborted execution leaves no training job running)', () => {
  let pipeline: Template;
  const idOf = (type: string, prefix: string) => {
    const ids = Object.keys(pipeline.findResources(type)).filter((k) => k.startsWith(prefix));
    expect(ids).toHaveLength(1);
    return ids[0];
  };
  beforeAll(() => {
    ({ pipeline } = synth());
  });

  test("the rule matches only this state machine's ABORTED, TIMED_OUT and FAILED executions", () => {
    const stateMachine = idOf('AWS::StepFunctions::StateMachine', 'PipelineRetrainStateMachine');
    const rules = Object.entries(pipeline.findResources('AWS::Events::Rule')).filter(([id]) => id.startsWith('PipelineAbortCleanup')).map(([, r]) => r);
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ Ref: stateMachine }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
    });
    expect(rules[0].Properties.State).toBe('ENABLED');
  });

  test('its one target is the cleanup function, retried, with a dead-letter queue that only this rule may write to', () => {
    const fn = idOf('AWS::Lambda::Function', 'PipelineAbortCleanupFunction');
    const queue = idOf('AWS::SQS::Queue', 'PipelineAbortCleanupDeadLetterQueue');
    const rule = idOf('AWS::Events::Rule', 'PipelineAbortCleanupRule');
    const [target, ...others] = pipeline.toJSON().Resources[rule].Properties.Targets;
    expect(others).toEqual([]);
    expect(target).toMatchObject({
      Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
    });
    pipeline.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [rule, 'Arn'] },
    });
    // The queue: encrypted, TLS only, and EventBridge may send to it only for this rule.
    pipeline.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    pipeline.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' }, Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } } }),
        ],
      },
    });
  });

  test("the function is bundled like the stages, gets their environment, and keeps failed invocations in the same queue after 2 retries", () => {
    const fn = idOf('AWS::Lambda::Function', 'PipelineAbortCleanupFunction');
    const queue = idOf('AWS::SQS::Queue', 'PipelineAbortCleanupDeadLetterQueue');
    const props = pipeline.toJSON().Resources[fn].Properties;
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      LoggingConfig: { LogGroup: { Ref: idOf('AWS::Logs::LogGroup', 'PipelineAbortCleanupLogs') } },
    });
    // The stages' environment (Notify's, without the state memory map only Notify reads for the run's cost).
    const { [STATE_MEMORY_ENV]: _memory, ...stageEnv } = Object.entries(pipeline.findResources('AWS::Lambda::Function')).find(([k]) => k.startsWith('PipelineNotify'))![1].Properties.Environment.Variables;
    expect(props.Environment.Variables).toEqual(stageEnv);
    pipeline.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: fn }, MaximumRetryAttempts: 2 });
  });

  test("the role: Describe/ListTags/StopTrainingJob on this pipeline's training jobs, Publish on the topic, the topic's key; nothing else", () => {
    const topic = idOf('AWS::SNS::Topic', 'PipelineTopic');
    const statements = statementsOf(pipeline, 'PipelineAbortCleanupRole');
    const byAction = (a: string) => statements.filter((s) => list(s.Action).includes(a));
    expect(statements.flatMap((s) => list(s.Action)).sort()).toEqual(
      [
        'kms:Decrypt', 'kms:GenerateDataKey', 'logs:CreateLogStream', 'logs:PutLogEvents', 'sagemaker:DescribeTrainingJob',
        'sagemaker:ListTags', 'sagemaker:StopTrainingJob', 'sns:Publish', 'sqs:SendMessage', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments',
      ].sort(),
    );
    const [sagemaker] = byAction('sagemaker:StopTrainingJob');
    expect(list(sagemaker.Action).sort()).toEqual(['sagemaker:DescribeTrainingJob', 'sagemaker:ListTags', 'sagemaker:StopTrainingJob']);
    expect(JSON.stringify(sagemaker.Resource)).toMatch(/:training-job\/relearn-train-\*"\]\]\}$/);
    expect(byAction('sns:Publish')[0].Resource).toEqual({ Ref: topic });
    expect(JSON.stringify(byAction('kms:Decrypt')[0].Resource)).toContain('Key');
    expect(JSON.stringify(byAction('sqs:SendMessage')[0].Resource)).toContain('PipelineAbortCleanupDeadLetterQueue');
    for (const s of statements.filter((x) => list(x.Resource).includes('*'))) {
      for (const a of list(s.Action)) expect(Object.keys(RESOURCE_STAR_ACTIONS)).toContain(a);
    }
  });

  test("the state machine's TimeoutSeconds is the configured limit (reference config: 19560 s), so a stuck run ends TIMED_OUT", () => {
    const timeoutOf = (t: Template) => {
      const [sm] = Object.entries(t.findResources('AWS::StepFunctions::StateMachine')).filter(([id]) => id.startsWith('PipelineRetrain')).map(([, r]) => r);
      const def = sm.Properties.DefinitionString;
      const text = typeof def === 'string' ? def : (def['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
      return (JSON.parse(text) as { TimeoutSeconds?: number }).TimeoutSeconds;
    };
    expect(timeoutOf(pipeline)).toBe(19560);
    // GIVEN spot training with its default MaxWait (twice a 2 h runtime) THEN the limit grows by the extra 3 h of training
    expect(timeoutOf(synth({ training: { maxRuntimeSeconds: 7200, spot: { enabled: true } } }).pipeline)).toBe(19560 - 3600 + 14400);
  });
});

describe('configuration variants', () => {
  test('removalPolicy destroy deletes the stateful resources with the stack (buckets only when empty)', () => {
    // GIVEN a throw-away dev configuration, WHEN synthesized
    const { data } = synth({ name: 'dev', removalPolicy: 'destroy' });
    // THEN buckets, key and registry are deleted with the stack, and no auto-delete custom resource empties buckets
    for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::SageMaker::ModelPackageGroup']) {
      for (const r of Object.values(data.findResources(type))) expect(r.DeletionPolicy).toBe('Delete');
    }
    expect(Object.keys(data.findResources('Custom::S3AutoDeleteObjects'))).toEqual([]);
    data.hasResourceProperties('AWS::SageMaker::ModelPackageGroup', { ModelPackageGroupName: 'dev-models' });
  });

  test('a configured image URI replaces the scikit-learn mapping, and the SageMaker role may pull exactly that repository', () => {
    const { pipeline } = synth({ training: { imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-trainer:7' } });
    expect(pipeline.toJSON().Mappings).toBeUndefined();
    const pulls = statementsOf(pipeline, 'PipelineSageMakerRole').filter((s) => list(s.Action).includes('ecr:BatchGetImage'));
    expect(pulls).toHaveLength(1);
    expect(JSON.stringify(pulls[0].Resource)).toContain(':ecr:eu-west-1:123456789012:repository/my-trainer');
  });

  test('rollback alarms: Deploy and the SageMaker role may describe exactly those alarms', () => {
    const { pipeline } = synth({ deployment: { rollbackAlarms: ['relearn-5xx', 'relearn-latency'] } });
    for (const role of ['PipelineDeployRole', 'PipelineSageMakerRole']) {
      const describe = statementsOf(pipeline, role).filter((s) => list(s.Action).includes('cloudwatch:DescribeAlarms'));
      expect(describe).toHaveLength(1);
      const rendered = JSON.stringify(describe[0].Resource);
      expect(rendered).toContain(':alarm:relearn-5xx');
      expect(rendered).toContain(':alarm:relearn-latency');
    }
  });

  test('an unknown framework version fails with what was expected and what came in', () => {
    expect(() => synth({ training: { frameworkVersion: '9.9-9' } })).toThrow(
      /RetrainingPipeline: config\.training\.frameworkVersion must be one of 0\.20\.0, 0\.23-1, 1\.0-1, 1\.2-1 \(or set training\.imageUri, or the trainingImage prop\), but got '9\.9-9'/,
    );
  });

  test('a missing training source directory fails naming it', () => {
    expect(() => synth({ training: { sourceDir: 'training-scripts/nope' } })).toThrow(/RetrainingPipeline: config\.training\.sourceDir must be a folder .* but got 'training-scripts\/nope'/);
  });

  test('a configuration too large for the Lambda environment fails at synth with the sizes', () => {
    const hyperparameters = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`param-${i}`, 'x'.repeat(30)]));
    expect(() => synth({ training: { hyperparameters } })).toThrow(
      /Lambda environment must be at most 4096 bytes, but got about \d+ \(RELEARN_CONFIG alone is \d+ bytes, without its defaults\)/,
    );
  });

  test('a configuration that fits only without its defaults is passed without them, and parses back to the same configuration', () => {
    // GIVEN hyperparameters that leave no room for the defaults (the full JSON would exceed 4 KB with the rest)
    const input: RelearnConfigInput = { name: 'big', training: { hyperparameters: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`param-${i}`, 'x'.repeat(25)])) } };
    const full = JSON.stringify(parseConfig(input));
    expect(full.length).toBeGreaterThan(2700);
    // WHEN synthesized
    const { pipeline } = synth(input);
    // THEN RELEARN_CONFIG holds only what differs from the defaults, and loadEnv's parse gives the whole config back
    const env = Object.values(pipeline.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(env.RELEARN_CONFIG.length).toBeLessThan(full.length);
    expect(JSON.parse(env.RELEARN_CONFIG).dataset).toBeUndefined();
    expect(JSON.stringify(parseConfig(JSON.parse(env.RELEARN_CONFIG)))).toBe(full);
  });
});

describe('the SDK credential sources left out of the bundles', () => {
  // GIVEN an S3 client bundled with the stages' own esbuild options, into a folder where no node_modules
  // can be found (as in Lambda, where only the bundle is deployed)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-bundle-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bundle = path.join(dir, 'index.js');
  buildSync({
    stdin: {
      contents: "import { s3Client } from './lambdas/shared/clients';\nexport const credentials = () => s3Client().config.credentials();",
      resolveDir: path.resolve(__dirname, '..'),
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: bundle,
    minify: STAGE_BUNDLING.minify,
    target: STAGE_BUNDLING.target,
    mainFields: [...STAGE_BUNDLING.mainFields],
    external: [...STAGE_BUNDLING.externalModules],
    logLevel: 'silent',
  });
  /** Resolves the client's credentials in a fresh Node process with only `env` (and a HOME with no ~/.aws). */
  const resolveCredentials = (env: Record<string, string>) => {
    const script = `require(${JSON.stringify(bundle)}).credentials().then((c) => console.log('ok', c.accessKeyId), (e) => console.log('failed', e.message))`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir, AWS_REGION: 'eu-west-1', ...env } });
    return r.stdout.trim();
  };

  test('are not bundled: each is only imported lazily, by name, at run time', () => {
    const code = fs.readFileSync(bundle, 'utf8');
    const uses = (name: string) => ({ name, lazy: code.includes(`import("${name}")`), eager: code.includes(`require("${name}")`) });
    // (a source the S3 client's chain does not name at all, e.g. token-providers, simply does not appear)
    for (const name of SDK_CREDENTIAL_FALLBACKS) expect(uses(name)).toMatchObject({ name, eager: false });
    for (const name of ['@aws-sdk/credential-provider-ini', '@smithy/credential-provider-imds']) expect(uses(name)).toEqual({ name, lazy: true, eager: false });
    // and none of their code is inside: the ECS/EC2 metadata client's own messages are absent
    expect(code.includes('remoteProvider::fromInstanceMetadata')).toBe(true);
    expect(code.includes('EC2 Metadata token')).toBe(false);
  });

  test('are never reached with the credentials Lambda puts in the environment', () => {
    // WHEN the environment carries credentials, as Lambda's always does THEN they are used
    expect(resolveCredentials({ AWS_ACCESS_KEY_ID: 'AKIDLAMBDA', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token' })).toBe('ok AKIDLAMBDA');
    // WHEN it has none THEN the chain goes on to a left-out source, which is absent: this is the path a Lambda never takes
    expect(resolveCredentials({})).toMatch(/^failed Cannot find (module|package) '@aws-sdk\/credential-provider-ini'/);
  });
});
