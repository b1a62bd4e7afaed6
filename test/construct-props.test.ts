import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RetrainingPipeline, RetrainingPipelineProps } from '../lib';
import { PIPELINE_METADATA_TYPE } from '../lib/constructs/retraining-pipeline';
import { FUNCTION_IDS } from '../lib/constructs/stages';
import { choosePipeline, findPipelines, PIPELINE_METADATA } from '../local/asl/pipelines';

/**
 * RetrainingPipeline as an L3 construct in a platform team's own app: props a team overrides, "bring your own or we
 * build it", validation that names the prop, two pipelines side by side, cdk-nag clean with the team's own
 * AwsSolutionsChecks, and the metadata local mode finds the pipelines by. Bundling is skipped (templates only).
 */
const outdirs: string[] = [];
afterAll(() => outdirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function teamApp(opts: { nag?: boolean } = {}) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-l3-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  if (opts.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Team');
  return { app, stack, outdir };
}

describe('RetrainingPipeline props', () => {
  test('GIVEN no props WHEN added THEN it builds its own key, buckets, access-log bucket, topic and model package group', () => {
    const { stack } = teamApp();
    const pipeline = new RetrainingPipeline(stack, 'Churn');
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::KMS::Key', 1);
    t.resourceCountIs('AWS::S3::Bucket', 3);
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.hasResourceProperties('AWS::SageMaker::ModelPackageGroup', { ModelPackageGroupName: 'relearn-models' });
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'relearn-retrain' });
    // the data bucket: SSE-KMS with the built key, EventBridge on, versioned, access logs
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { LogFilePrefix: 'data-bucket/' },
    });
    // EventBridge notifications (the trigger's source), through CDK's custom resource
    t.hasResourceProperties('Custom::S3BucketNotifications', { NotificationConfiguration: { EventBridgeConfiguration: {} } });
    expect(pipeline.modelPackageGroupName).toBe('relearn-models');
    expect(pipeline.accessLogsBucket).toBeDefined();
    // RETAIN by default (config.removalPolicy 'retain')
    for (const r of Object.values(t.findResources('AWS::S3::Bucket'))) expect(r.DeletionPolicy).toBe('Retain');
  });

  test('GIVEN existing buckets, key, topic and group WHEN added THEN it builds none of them and uses yours', () => {
    const { stack } = teamApp();
    const key = new kms.Key(stack, 'TeamKey', { enableKeyRotation: true });
    const topic = new sns.Topic(stack, 'TeamTopic', { masterKey: key, enforceSSL: true });
    new RetrainingPipeline(stack, 'Churn', {
      config: { name: 'churn' },
      dataBucket: s3.Bucket.fromBucketName(stack, 'Landing', 'team-landing'),
      artifactsBucket: s3.Bucket.fromBucketName(stack, 'Artifacts', 'team-artifacts'),
      encryptionKey: key,
      topic,
      modelPackageGroupName: 'team-models',
    });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::S3::Bucket', 0);
    t.resourceCountIs('AWS::KMS::Key', 1);
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.resourceCountIs('AWS::SageMaker::ModelPackageGroup', 0);
    const env = Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(env).toMatchObject({ DATA_BUCKET: 'team-landing', ARTIFACTS_BUCKET: 'team-artifacts', MODEL_PACKAGE_GROUP: 'team-models' });
    expect(env.TOPIC_ARN).toEqual({ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) });
  });

  test('GIVEN overrides WHEN added THEN names, instance types, image, removal policy and log retention follow them', () => {
    const { stack } = teamApp();
    const repo = new ecr.Repository(stack, 'Images');
    const pipeline = new RetrainingPipeline(stack, 'Churn', {
      config: { name: 'churn', training: { hyperparameters: { 'max-text-features': 300 } } },
      stateMachineName: 'team-churn-retraining',
      trainingInstanceType: 'ml.c5.xlarge',
      servingInstanceType: 'ml.t2.medium',
      trainingImage: tasks.DockerImage.fromEcrRepository(repo, '1.2-1'),
      removalPolicy: RemovalPolicy.DESTROY,
      logRetention: logs.RetentionDays.ONE_MONTH,
      dataBucketProps: { bucketName: 'team-churn-landing' },
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'team-churn-retraining' });
    t.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'team-churn-landing' });
    for (const r of Object.values(t.findResources('AWS::S3::Bucket'))) expect(r.DeletionPolicy).toBe('Delete');
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(pipeline.config.training.instanceType).toBe('ml.c5.xlarge');
    expect(pipeline.config.deployment.instanceType).toBe('ml.t2.medium');
    const env = Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(JSON.parse(env.RELEARN_CONFIG)).toMatchObject({ training: { instanceType: 'ml.c5.xlarge' }, deployment: { instanceType: 'ml.t2.medium' } });
    // the ECR repository's image is granted to the SageMaker role by DockerImage.bind
    const smPolicy = Object.entries(t.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('ChurnSageMakerRole'))![1];
    expect(JSON.stringify(smPolicy)).toContain(stack.getLogicalId(repo.node.defaultChild as ecr.CfnRepository));
  });

  test.each<[string, Partial<RetrainingPipelineProps>, string]>([
    ['both a bucket and its props', { dataBucketProps: {}, dataBucket: {} as s3.IBucket }, "RetrainingPipeline: dataBucket and dataBucketProps are exclusive: expected your own bucket (dataBucket) or overrides for the one relearn builds (dataBucketProps), but got both"],
    ['both a key and its props', { encryptionKeyProps: {}, encryptionKey: {} as kms.IKey }, 'RetrainingPipeline: encryptionKey and encryptionKeyProps are exclusive'],
    ['a bad instance type', { trainingInstanceType: 'm5.xlarge' }, "RetrainingPipeline: trainingInstanceType must be a SageMaker ML instance type such as ml.m5.large, but got 'm5.xlarge'"],
    ['a bad serving instance type', { servingInstanceType: 'large' }, "RetrainingPipeline: servingInstanceType must be a SageMaker ML instance type such as ml.m5.large, but got 'large'"],
    ['a bad state machine name', { stateMachineName: 'team churn!' }, "RetrainingPipeline: stateMachineName must be a Step Functions name (letters, digits, - and _, at most 80), but got 'team churn!'"],
    ['a bad model package group', { modelPackageGroupName: 'team models!' }, "RetrainingPipeline: modelPackageGroupName must be a SageMaker name (letters, digits, hyphens, at most 63), but got 'team models!'"],
    ['a bad config field', { config: { name: 'Churn Team', training: { instanceType: 'big' } } }, 'RetrainingPipeline: config must be a valid relearn configuration (docs/configuration.md), but got:\n  - config.name: '],
    ['a training folder that is not there', { config: { training: { sourceDir: 'no/such/dir' } } }, "RetrainingPipeline: config.training.sourceDir must be a folder (relative to appRoot"],
  ])('GIVEN %s WHEN added THEN the synth fails naming the prop', (_what, props, message) => {
    const { stack } = teamApp();
    expect(() => new RetrainingPipeline(stack, 'Churn', props as RetrainingPipelineProps)).toThrow(message);
  });
});

describe('two pipelines side by side', () => {
  test('GIVEN two names WHEN both are added to one stack THEN no physical name, pattern or construct id clashes', () => {
    const { app, stack, outdir } = teamApp();
    const a = new RetrainingPipeline(stack, 'Churn', { config: { name: 'churn' } });
    const b = new RetrainingPipeline(stack, 'Upsell', { config: { name: 'upsell' } });
    app.synth();
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 6);
    // each pipeline has its own functions (every FUNCTION_IDS stage, the abort clean-up, the endpoint owner, the
    // trigger, the monitor...), as many for one as for the other
    const fns = Object.keys(t.findResources('AWS::Lambda::Function'));
    const churnFns = fns.filter((id) => id.startsWith('Churn'));
    expect(churnFns.length).toBeGreaterThanOrEqual(FUNCTION_IDS.length + 2);
    expect(fns.filter((id) => id.startsWith('Upsell'))).toHaveLength(churnFns.length);
    const names = Object.values(t.findResources('AWS::StepFunctions::StateMachine')).map((r) => r.Properties.StateMachineName);
    expect(names.sort()).toEqual(['churn-monitor', 'churn-retrain', 'churn-rollback', 'upsell-monitor', 'upsell-retrain', 'upsell-rollback']);
    expect([a.endpointName, b.endpointName]).toEqual(['churn-endpoint', 'upsell-endpoint']);
    // each pipeline's stages are limited to its own SageMaker names
    const policies = JSON.stringify(Object.entries(t.findResources('AWS::IAM::Policy')).filter(([id]) => id.startsWith('Upsell')));
    expect(policies).toContain('training-job/upsell-train-*');
    expect(policies).not.toContain('churn-');
    // and local mode finds both by their metadata
    const found = findPipelines(outdir);
    expect(found.map((p) => ({ path: p.path, name: p.name }))).toEqual([
      { path: 'Team/Churn', name: 'churn' },
      { path: 'Team/Upsell', name: 'upsell' },
    ]);
    expect(found[0].stateMachineLogicalId).toBe(stack.getLogicalId(a.stateMachine.node.defaultChild as never));
    expect(choosePipeline(found, 'Upsell', 'the app').name).toBe('upsell');
    expect(choosePipeline(found, 'churn', 'the app').path).toBe('Team/Churn');
    expect(() => choosePipeline(found, undefined, 'the app')).toThrow('the app has 2 pipelines (Team/Churn (name churn), Team/Upsell (name upsell)): say which one with --pipeline <id|path|name>');
    expect(() => choosePipeline(found, 'Nope', 'the app')).toThrow('--pipeline Nope: expected the id, path or name of a pipeline of the app');
    expect(PIPELINE_METADATA).toBe(PIPELINE_METADATA_TYPE);
  });

  test.each<[string, RetrainingPipelineProps, string]>([
    ['the same name', { config: { name: 'churn' } }, "RetrainingPipeline: config.name must differ from that of the pipeline at Team/Churn (physical names derive from it), but got 'churn'"],
    ['a name under the other\'s IAM patterns', { config: { name: 'churn-train' } }, "RetrainingPipeline: config.name must differ from that of the pipeline at Team/Churn (its training jobs, models and endpoint configs would fall under the other's IAM patterns"],
    ['the same endpoint', { config: { name: 'upsell', deployment: { endpointName: 'churn-endpoint' } } }, 'RetrainingPipeline: config.deployment.endpointName must differ'],
    ['the same state machine name', { config: { name: 'upsell' }, stateMachineName: 'churn-retrain' }, 'RetrainingPipeline: stateMachineName must differ'],
  ])('GIVEN %s WHEN a second pipeline is added THEN it fails naming the prop', (_what, props, message) => {
    const { app, stack } = teamApp();
    new RetrainingPipeline(stack, 'Churn', { config: { name: 'churn' } });
    expect(() => new RetrainingPipeline(new Stack(app, 'Other'), 'Second', props)).toThrow(message);
  });

  test('GIVEN one artifacts bucket for two pipelines WHEN added THEN it fails naming artifactsBucket', () => {
    const { stack } = teamApp();
    const shared = new s3.Bucket(stack, 'Shared');
    new RetrainingPipeline(stack, 'Churn', { config: { name: 'churn' }, artifactsBucket: shared });
    expect(() => new RetrainingPipeline(stack, 'Upsell', { config: { name: 'upsell' }, artifactsBucket: shared })).toThrow(
      'RetrainingPipeline: artifactsBucket must differ from that of the pipeline at Team/Churn (datasets, runs and the champion record of two pipelines would collide in one bucket)',
    );
  });
});

describe('cdk-nag on a team\'s own app', () => {
  test('GIVEN the team\'s own AwsSolutionsChecks and two pipelines next to a resource of its own WHEN synthesized THEN no finding', () => {
    const { app, stack } = teamApp({ nag: true });
    const key = new kms.Key(stack, 'TeamKey', { enableKeyRotation: true });
    new RetrainingPipeline(stack, 'Churn', { config: { name: 'churn' } });
    new RetrainingPipeline(new Stack(app, 'Upsell'), 'Pipeline', { config: { name: 'upsell' }, encryptionKey: key });
    expect(() => app.synth()).not.toThrow();
  });

  test('GIVEN a careless resource of the team WHEN synthesized THEN its finding still fails the synth', () => {
    const { app, stack } = teamApp({ nag: true });
    new RetrainingPipeline(stack, 'Churn', { config: { name: 'churn' } });
    new s3.Bucket(stack, 'Careless');
    expect(() => app.synth()).toThrow(/Team\/Careless\/Resource[\s\S]*AwsSolutions-S10/);
  });
});
