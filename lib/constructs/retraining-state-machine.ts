import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { RelearnConfig } from '../../lambdas/shared/config';
import { RETRYABLE_ERRORS } from '../../lambdas/shared/errors';
import { ENDPOINT_UPDATE_SECONDS, TRAINING_OVERHEAD_SECONDS } from '../../lambdas/shared/polling';
import { FunctionId, STAGE_IDS, STAGE_SIZING, StageId } from './stages';

/**
 * The state names of docs/architecture.md. They are a contract with local mode's progress display, the
 * tests and anyone reading an execution in the console: rename one only together with those.
 */
export const STATE_NAMES = {
  ingest: 'Ingest',
  computeStatistics: 'ComputeStatistics',
  shardStatistics: 'ShardStatistics',
  validateData: 'ValidateData',
  startTraining: 'StartTraining',
  waitForTraining: 'WaitForTraining',
  checkTraining: 'CheckTraining',
  trainingComplete: 'TrainingComplete?',
  evaluate: 'Evaluate',
  packageModel: 'PackageModel',
  register: 'Register',
  blessed: 'Blessed?',
  notPromoted: 'NotPromoted',
  deploy: 'Deploy',
  waitForEndpoint: 'WaitForEndpoint',
  checkEndpoint: 'CheckEndpoint',
  endpointReady: 'EndpointReady?',
  verifyServing: 'VerifyServing',
  promoteBaseline: 'PromoteBaseline',
  notify: 'Notify',
  done: 'Done',
  notifyFailure: 'NotifyFailure',
  failed: 'Failed',
} as const;

/** Errors every Lambda task retries: Lambda's own service errors and our TransientError (lambdas/shared/errors.ts). */
export const RETRIED_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  ...RETRYABLE_ERRORS,
];

/** The retry policy of every Lambda task: 2 s, 4 s, 8 s ... (full jitter), six retries after the first attempt (MaxAttempts counts retries). */
export const TASK_RETRY: sfn.RetryProps = {
  errors: RETRIED_ERRORS,
  interval: Duration.seconds(2),
  maxAttempts: 6,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

/** What every Lambda task's TaskTimeout adds to its function's own timeout. */
const TASK_TIMEOUT_MARGIN = Duration.seconds(30);

/** The fixed parts of the execution timeout (see executionTimeout). */
export const EXECUTION_TIMEOUT_MARGINS = {
  /** Instance provisioning, image and data download, model upload: around the job's own runtime limit. */
  trainingOverhead: Duration.seconds(TRAINING_OVERHEAD_SECONDS),
  /** Creating or updating the endpoint, when `deployment.blueGreen.maximumExecutionTimeoutSeconds` does not bound it. */
  endpointUpdate: Duration.seconds(ENDPOINT_UPDATE_SECONDS),
} as const;

/** A STANDARD execution's longest possible duration. */
const MAX_EXECUTION_DURATION = Duration.days(365);

/**
 * The whole execution's TimeoutSeconds, from the configuration. A backstop, not a schedule: an execution past
 * it is stuck, and ends TIMED_OUT (then AbortCleanup stops its training job). The sum of:
 *
 *   training   = (spot ? spot.maxWaitSeconds ?? 2 x maxRuntimeSeconds : maxRuntimeSeconds)   (SageMaker's own stop)
 *              + 30 min (provisioning, downloads, upload) + training.maxPollIntervalSeconds  (the last, longest wait)
 *   deployment = blueGreen.maximumExecutionTimeoutSeconds ?? (1 h + waitIntervalSeconds + terminationWaitSeconds)
 *              + deployment.maxPollIntervalSeconds                                         (the last, longest wait)
 *   stages     = 2 x the sum of every stage's task timeout (STAGE_SIZING timeout + 30 s)   (retries, shard rounds)
 *
 * The reference configuration gives 3600 + 1800 + 600 + 3780 + 120 + 9660 = 19560 s (5 h 26 min).
 */
export function executionTimeout(config: RelearnConfig): Duration {
  const t = config.training;
  const b = config.deployment.blueGreen;
  const training = (t.spot.enabled ? (t.spot.maxWaitSeconds ?? 2 * t.maxRuntimeSeconds) : t.maxRuntimeSeconds) + EXECUTION_TIMEOUT_MARGINS.trainingOverhead.toSeconds() + t.maxPollIntervalSeconds;
  const deployment =
    (b.maximumExecutionTimeoutSeconds ?? EXECUTION_TIMEOUT_MARGINS.endpointUpdate.toSeconds() + b.waitIntervalSeconds + b.terminationWaitSeconds) +
    config.deployment.maxPollIntervalSeconds;
  const stages = 2 * STAGE_IDS.reduce((sum, id) => sum + STAGE_SIZING[id].timeout.toSeconds() + TASK_TIMEOUT_MARGIN.toSeconds(), 0);
  return Duration.seconds(training + deployment + stages);
}

/** The execution log group of a state machine: its key, retention and removal policy. */
export interface ExecutionLogProps {
  /** Key for the execution log group. */
  readonly encryptionKey: kms.IKey;
  /**
   * Retention of the execution log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the execution log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

export interface RetrainingStateMachineProps extends ExecutionLogProps {
  /** The function behind each stage (notify serves Notify, NotPromoted and NotifyFailure). */
  readonly functions: Readonly<Record<StageId, lambda.IFunction>>;
  /** `<name>-retrain` */
  readonly stateMachineName: string;
  /**
   * The whole execution's limit (TimeoutSeconds): past it the execution ends TIMED_OUT. Use executionTimeout(config).
   * At most 365 days.
   */
  readonly timeout: Duration;
}

/**
 * The retraining state machine of docs/architecture.md, defined once: the cloud runs it, and local mode runs
 * the ASL this construct synthesizes. Every Lambda task is invoked with `{ executionName, state }`, stores
 * its stage result under its own key, retries service errors with backoff and full jitter, and on any other
 * error goes to NotifyFailure -> Failed.
 */
export class RetrainingStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** The name it is created with (`props.stateMachineName`): known before deploy, unlike the ARN's token. */
  public readonly stateMachineName: string;

  constructor(scope: Construct, id: string, props: RetrainingStateMachineProps) {
    super(scope, id);
    const fn = props.functions;
    this.stateMachineName = props.stateMachineName;
    const timeoutSeconds = props.timeout.toSeconds();
    if (timeoutSeconds < 1 || timeoutSeconds > MAX_EXECUTION_DURATION.toSeconds()) {
      throw new Error(`timeout must be between 1 second and ${MAX_EXECUTION_DURATION.toDays()} days (a STANDARD execution's limit), but got ${timeoutSeconds} seconds`);
    }

    // 1. The failure path. NotifyFailure keeps `$.error` (ResultPath DISCARD) so Failed can report it;
    //    if NotifyFailure itself fails, it goes straight to Failed, never back to itself.
    const failed = new sfn.Fail(this, STATE_NAMES.failed, {
      errorPath: sfn.JsonPath.stringAt('$.error.Error'),
      causePath: sfn.JsonPath.stringAt('$.error.Cause'),
    });
    const notifyFailure = stageTask(this, STATE_NAMES.notifyFailure, fn.notify, 'notify', sfn.JsonPath.DISCARD);
    notifyFailure.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.notifyFailureError' });
    notifyFailure.next(failed);

    const task = (name: string, stage: StageId, resultPath: string): tasks.LambdaInvoke => {
      const t = stageTask(this, name, fn[stage], stage, resultPath);
      t.addCatch(notifyFailure, { errors: ['States.ALL'], resultPath: '$.error' });
      return t;
    };

    // 2. Data: ingest, per-part statistics in parallel, validation.
    const ingest = task(STATE_NAMES.ingest, 'ingest', '$.dataset');
    // The iteration's input already is the shard's `{ executionName, state, item }`: passed as it is.
    const shardStatistics = stageTask(this, STATE_NAMES.shardStatistics, fn['shard-statistics'], 'shard-statistics', sfn.JsonPath.DISCARD, {
      wholeInput: true,
    });
    const computeStatistics = new sfn.Map(this, STATE_NAMES.computeStatistics, {
      itemsPath: sfn.JsonPath.stringAt('$.dataset.parts'),
      itemSelector: {
        'executionName.$': '$$.Execution.Name',
        'state.$': '$',
        'item.$': '$$.Map.Item.Value',
      },
      maxConcurrency: 10,
      resultPath: sfn.JsonPath.DISCARD,
    });
    computeStatistics.itemProcessor(shardStatistics);
    // A shard's own retries happen inside the iteration; what still fails ends the run.
    computeStatistics.addCatch(notifyFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    const validateData = task(STATE_NAMES.validateData, 'validate-data', '$.validation');

    // 3. Training: start, then poll until done (CheckTraining throws TrainingFailed on Failed/Stopped).
    const startTraining = task(STATE_NAMES.startTraining, 'start-training', '$.training');
    // The wait grows with the job's age: StartTraining and CheckTraining compute it (lambdas/shared/polling.ts).
    const waitForTraining = new sfn.Wait(this, STATE_NAMES.waitForTraining, { time: sfn.WaitTime.secondsPath('$.training.nextWaitSeconds') });
    const checkTraining = task(STATE_NAMES.checkTraining, 'check-training', '$.training');
    const trainingComplete = new sfn.Choice(this, STATE_NAMES.trainingComplete);

    // 4. Evaluation, registration and the gate.
    const evaluate = task(STATE_NAMES.evaluate, 'evaluate', '$.evaluation');
    // The candidate becomes self-contained (its serving code inside model.tar.gz) before it is registered.
    const packageModel = task(STATE_NAMES.packageModel, 'package-model', '$.model');
    const register = task(STATE_NAMES.register, 'register', '$.registration');
    const blessed = new sfn.Choice(this, STATE_NAMES.blessed);
    const done = new sfn.Succeed(this, STATE_NAMES.done);
    const notPromoted = task(STATE_NAMES.notPromoted, 'notify', sfn.JsonPath.DISCARD);

    // 5. Deployment: create/update, poll until InService, verify serving, promote the baselines, notify.
    const deploy = task(STATE_NAMES.deploy, 'deploy', '$.deployment');
    const waitForEndpoint = new sfn.Wait(this, STATE_NAMES.waitForEndpoint, { time: sfn.WaitTime.secondsPath('$.deployment.nextWaitSeconds') });
    const checkEndpoint = task(STATE_NAMES.checkEndpoint, 'check-endpoint', '$.deployment');
    const endpointReady = new sfn.Choice(this, STATE_NAMES.endpointReady);
    const verifyServing = task(STATE_NAMES.verifyServing, 'verify-serving', '$.serving');
    const promoteBaseline = task(STATE_NAMES.promoteBaseline, 'promote-baseline', '$.champion');
    const notify = task(STATE_NAMES.notify, 'notify', sfn.JsonPath.DISCARD);

    const deployment = deploy
      .next(waitForEndpoint)
      .next(checkEndpoint)
      .next(
        endpointReady
          .when(sfn.Condition.booleanEquals('$.deployment.done', true), verifyServing.next(promoteBaseline).next(notify).next(done))
          .otherwise(waitForEndpoint),
      );

    const definition = ingest
      .next(computeStatistics)
      .next(validateData)
      .next(startTraining)
      .next(waitForTraining)
      .next(checkTraining)
      .next(
        trainingComplete
          .when(
            sfn.Condition.booleanEquals('$.training.done', true),
            evaluate
              .next(packageModel)
              .next(register)
              .next(blessed.when(sfn.Condition.booleanEquals('$.registration.promote', true), deployment).otherwise(notPromoted.next(done))),
          )
          .otherwise(waitForTraining),
      );

    // 6. The state machine: STANDARD (a run lasts as long as training), bounded by the timeout, every event logged, traced.
    this.logGroup = executionLogGroup(this, 'Logs', props);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      // A stuck run ends TIMED_OUT instead of waiting forever (AbortCleanup then stops its training job).
      timeout: props.timeout,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
  }
}

/**
 * A Lambda task of the contract (both state machines): payload `{ executionName, executionStartTime, executionArn,
 * state }`, the stage result at ResultPath, our own retrier, the function's timeout plus a margin as the task's.
 */
export function stageTask(
  scope: Construct,
  name: string,
  fn: lambda.IFunction,
  stage: FunctionId,
  resultPath: string,
  opts: { wholeInput?: boolean } = {},
): tasks.LambdaInvoke {
  const t = new tasks.LambdaInvoke(scope, name, {
    lambdaFunction: fn,
    payload: opts.wholeInput
      ? undefined
      : sfn.TaskInput.fromObject({
          executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
          executionStartTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
          // Notify reads its own execution's history for the run's cost.
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
          state: sfn.JsonPath.objectAt('$'),
        }),
    // The task's result is the function's return value itself, so ResultPath `$.training` holds the
    // TrainingRef and `$.training.done` is readable by the Choice. (The lambda:invoke integration's
    // envelope cannot be unwrapped: a ResultSelector must build an object, `{ Payload: ... }` at best.)
    payloadResponseOnly: true,
    resultPath,
    // LambdaInvoke's built-in retrier would match first and shadow ours (it has no jitter).
    retryOnServiceExceptions: false,
    taskTimeout: sfn.Timeout.duration(STAGE_SIZING[stage].timeout.plus(TASK_TIMEOUT_MARGIN)),
  });
  t.addRetry(TASK_RETRY);
  STAGE_OF_TASK.set(t, stage);
  return t;
}

/** The stage behind each task stageTask built: Notify prices a run's Lambda time by state (stateMemoryMb). */
const STAGE_OF_TASK = new WeakMap<Construct, FunctionId>();

/**
 * State name -> memory (MB) of the function it invokes, for every stage task under `scopes` (both state machines).
 * Step Functions' history names the state and the function, never the memory: Notify gets this map in its
 * environment (RELEARN_STATE_MEMORY_MB) to count a run's Lambda GB-seconds. Static: no token, no dependency cycle.
 */
export function stateMemoryMb(...scopes: Construct[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const scope of scopes) {
    for (const c of scope.node.findAll()) {
      const stage = STAGE_OF_TASK.get(c);
      if (stage) out[c.node.id] = STAGE_SIZING[stage].memoryMb;
    }
  }
  return out;
}

/**
 * The execution log group of a state machine: under /aws/vendedlogs/ (keeps Step Functions' log delivery off the
 * account's CloudWatch Logs resource policy), with a suffix from the stack's UUID, so that a destroyed and redeployed
 * stack creates its log group next to the retained one instead of failing on "already exists".
 */
export function executionLogGroup(scope: Construct, id: string, props: { stateMachineName: string; encryptionKey: kms.IKey; logRetention?: logs.RetentionDays; logRemovalPolicy?: RemovalPolicy }): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: Fn.join('', [`/aws/vendedlogs/states/${props.stateMachineName}-`, Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))))]),
    retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    encryptionKey: props.encryptionKey,
    removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
  });
}
