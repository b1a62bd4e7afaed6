import { App, Aws, CfnMapping, Duration, Fn, Stack } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { CfnModelPackageGroup } from 'aws-cdk-lib/aws-sagemaker';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASSET_METADATA_CONTEXT } from '../asl/assembly';

/**
 * A small two-stack CDK app shaped like relearn's (data stack + pipeline stack with cross-stack references,
 * a mapping, a file asset, Lambda tasks, a Map, a polling Wait/Choice loop and a Catch -> NotifyFailure -> Fail),
 * for the resolver's and the runner's tests. Its one handler is a fixture written at test time.
 */

export const IMAGE = '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3';

export function writeFixtures(dir: string): void {
  writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion": 3}');
  // NodejsFunction bundles with `npx --no-install esbuild` run in the project root: lend it ours.
  symlinkSync(join(__dirname, '..', '..', 'node_modules'), join(dir, 'node_modules'), 'dir');
  // One handler for every task: echoes what the test needs to see, fails on request.
  writeFileSync(
    join(dir, 'step.ts'),
    `const attempts: Record<string, number> = {};
export const handler = async (event: any, context: any) => {
  const key = String(event.executionName) + ':' + process.env.STAGE + ':' + String(event.item ?? '');
  attempts[key] = (attempts[key] ?? 0) + 1;
  const mode = event.state?.mode ?? {};
  if (mode.fail && mode.fail.at === process.env.STAGE) { const e = new Error(mode.fail.message); e.name = mode.fail.name; throw e; }
  if (mode.flaky === process.env.STAGE && attempts[key] <= 2) { const e = new Error('throttled'); e.name = 'TransientError'; throw e; }
  return {
    stage: process.env.STAGE, functionName: context.functionName, item: event.item ?? null,
    env: { DATA_BUCKET: process.env.DATA_BUCKET, ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET, CODE_URI: process.env.CODE_URI,
      IMAGE: process.env.IMAGE, TOPIC_ARN: process.env.TOPIC_ARN, SPLIT: process.env.SPLIT, LOCAL_MARK: process.env.LOCAL_MARK },
    error: event.state?.error ?? null, items: ['part-0', 'part-1', 'part-2'], done: true,
  };
};
`,
  );
  mkdirSync(join(dir, 'code'), { recursive: true });
  writeFileSync(join(dir, 'code', 'sourcedir.tar.gz'), 'not really a tarball');
}

/** The test app: returns the outdir of its synthesized assembly. */
export function synthTestApp(dir: string): string {
  const out = join(dir, 'cdk.out');
  const app = new App({ outdir: out, context: { ...ASSET_METADATA_CONTEXT } });
  const data = new Stack(app, 'TestData');
  const landing = new Bucket(data, 'Landing');

  const stack = new Stack(app, 'TestPipeline');
  const artifacts = new Bucket(stack, 'Artifacts');
  const topic = new Topic(stack, 'Outcomes');
  new CfnModelPackageGroup(stack, 'Models', { modelPackageGroupName: 'test-models', modelPackageGroupDescription: 'test group' });
  const code = new Asset(stack, 'TrainingCode', { path: join(dir, 'code', 'sourcedir.tar.gz') });
  const images = new CfnMapping(stack, 'Images', { mapping: { 'us-east-1': { uri: IMAGE }, 'eu-west-1': { uri: 'other' } } });

  const fn = (id: string, stage: string) =>
    new NodejsFunction(stack, id, {
      entry: join(dir, 'step.ts'),
      projectRoot: dir,
      depsLockFilePath: join(dir, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      timeout: Duration.seconds(30),
      environment: {
        STAGE: stage,
        DATA_BUCKET: landing.bucketName,
        ARTIFACTS_BUCKET: artifacts.bucketName,
        CODE_URI: code.s3ObjectUrl,
        IMAGE: images.findInMap(Aws.REGION, 'uri'),
        TOPIC_ARN: topic.topicArn,
        SPLIT: Fn.select(1, Fn.split(',', Fn.join(',', ['a', Aws.ACCOUNT_ID, 'c']))),
      },
    });
  const invoke = (id: string, f: NodejsFunction, resultPath: string, item = false, responseOnly = false) =>
    new tasks.LambdaInvoke(stack, id, {
      lambdaFunction: f,
      payload: sfn.TaskInput.fromObject({
        executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
        // Inside a Map, the iteration's input is the ItemSelector's { state, item }.
        state: item ? sfn.JsonPath.objectAt('$.state') : sfn.JsonPath.entirePayload,
        ...(item ? { item: sfn.JsonPath.stringAt('$.item') } : {}),
      }),
      // Both forms CDK emits: lambda:invoke with its envelope, and the function ARN as Resource (payloadResponseOnly).
      ...(responseOnly ? { payloadResponseOnly: true } : { resultSelector: { 'out.$': '$.Payload' } }),
      resultPath,
      retryOnServiceExceptions: false,
    });

  const ingest = invoke('Ingest', fn('IngestFn', 'Ingest'), '$.ingest');
  const shard = invoke('ShardStatistics', fn('ShardFn', 'Shard'), sfn.JsonPath.DISCARD, true);
  const map = new sfn.Map(stack, 'ComputeStatistics', {
    itemsPath: '$.ingest.out.items',
    resultPath: sfn.JsonPath.DISCARD,
    itemSelector: { 'item.$': '$$.Map.Item.Value', 'state.$': '$' },
  });
  map.itemProcessor(shard);
  const train = invoke('StartTraining', fn('TrainFn', 'Train'), '$.training');
  train.addRetry({ errors: ['TransientError'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
  const wait = new sfn.Wait(stack, 'WaitForTraining', { time: sfn.WaitTime.duration(Duration.minutes(5)) });
  const check = invoke('CheckTraining', fn('CheckFn', 'Check'), '$.check', false, true);
  const notifyFailure = invoke('NotifyFailure', fn('NotifyFn', 'NotifyFailure'), '$.notified');
  const failed = new sfn.Fail(stack, 'Failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
  notifyFailure.next(failed);
  for (const t of [ingest, train, check]) t.addCatch(notifyFailure, { resultPath: '$.error' });
  const done = new sfn.Succeed(stack, 'Done');
  const definition = ingest
    .next(map)
    .next(train)
    .next(wait)
    .next(check)
    .next(new sfn.Choice(stack, 'TrainingComplete?').when(sfn.Condition.booleanEquals('$.check.done', true), done).otherwise(wait));
  new sfn.StateMachine(stack, 'Pipeline', { definitionBody: sfn.DefinitionBody.fromChainable(definition) });
  app.synth();
  return out;
}

