import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RelearnConfig } from '../../lambdas/shared/config';
import { EXECUTION_TIMEOUT_MARGINS, executionLogGroup, ExecutionLogProps, stageTask } from './retraining-state-machine';
import { FunctionId, STAGE_SIZING } from './stages';

/** The rollback state machine's state names (docs/architecture.md, "Rollback"): a contract with local mode and the CLI. */
export const ROLLBACK_STATE_NAMES = {
  resolveRollback: 'ResolveRollback',
  approvedTarget: 'ApprovedTarget',
  deploy: 'Deploy',
  waitForEndpoint: 'WaitForEndpoint',
  checkEndpoint: 'CheckEndpoint',
  endpointReady: 'EndpointReady?',
  verifyServing: 'VerifyServing',
  restoreChampion: 'RestoreChampion',
  notify: 'Notify',
  done: 'Done',
  notifyFailure: 'NotifyFailure',
  failed: 'Failed',
} as const;

/** The rollback's states that run a Lambda, each counted once in its timeout. */
const ROLLBACK_TASKS: readonly FunctionId[] = ['resolve-rollback', 'deploy', 'check-endpoint', 'verify-serving', 'restore-champion', 'notify', 'notify'];

/**
 * The rollback execution's TimeoutSeconds: the endpoint update's bound (as executionTimeout counts it) and a poll,
 * plus twice every task's timeout (retries). The reference configuration gives 3780 + 30 + 2 x 1050 = 5910 s.
 */
export function rollbackTimeout(config: RelearnConfig): Duration {
  const b = config.deployment.blueGreen;
  const update = (b.maximumExecutionTimeoutSeconds ?? EXECUTION_TIMEOUT_MARGINS.endpointUpdate.toSeconds() + b.waitIntervalSeconds + b.terminationWaitSeconds) + config.deployment.pollIntervalSeconds;
  const tasks = 2 * ROLLBACK_TASKS.reduce((sum, id) => sum + STAGE_SIZING[id].timeout.toSeconds() + 30, 0);
  return Duration.seconds(update + tasks);
}

type RollbackFunctions = Readonly<Record<'resolve-rollback' | 'deploy' | 'check-endpoint' | 'verify-serving' | 'restore-champion' | 'notify', lambda.IFunction>>;

export interface RollbackStateMachineProps extends ExecutionLogProps {
  /** ResolveRollback and RestoreChampion, and the retrain's own Deploy, CheckEndpoint, VerifyServing and Notify. */
  readonly functions: RollbackFunctions;
  /** `<name>-rollback` */
  readonly stateMachineName: string;
  /** Seconds between two CheckEndpoint polls (config.deployment.pollIntervalSeconds). */
  readonly endpointPollInterval: Duration;
  /** The whole execution's limit: the endpoint update's bound plus the stages'. */
  readonly timeout: Duration;
}

/**
 * `relearn rollback` as a state machine: the previous (or the named) champion goes back on the endpoint through the
 * very states a retrain deploys with, so it runs with the same least-privilege roles in the cloud and through the
 * same IAM-checked path in local mode:
 *
 *   ResolveRollback -> ApprovedTarget -> Deploy -> WaitForEndpoint <-> CheckEndpoint -> VerifyServing -> RestoreChampion
 *     -> Notify -> Done
 *   any failure: NotifyFailure (puts the endpoint back on what served before) -> Failed
 *
 * Input: `{ "rollback": { "request": { "to"?: "<execution name or model package ARN>" } } }`. ResolveRollback adds the
 * target and the champion it replaces under `$.rollback` (RollbackRefSchema).
 */
export class RollbackStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RollbackStateMachineProps) {
    super(scope, id);
    const fn = props.functions;
    const N = ROLLBACK_STATE_NAMES;

    const failed = new sfn.Fail(this, N.failed, { errorPath: sfn.JsonPath.stringAt('$.error.Error'), causePath: sfn.JsonPath.stringAt('$.error.Cause') });
    const notifyFailure = stageTask(this, N.notifyFailure, fn.notify, 'notify', sfn.JsonPath.DISCARD);
    notifyFailure.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.notifyFailureError' });
    notifyFailure.next(failed);
    const task = (name: string, stage: FunctionId & keyof RollbackFunctions, resultPath: string) => {
      const t = stageTask(this, name, fn[stage], stage, resultPath);
      t.addCatch(notifyFailure, { errors: ['States.ALL'], resultPath: '$.error' });
      return t;
    };

    // ResolveRollback checks the target (an Approved, self-contained package with its baselines) or refuses; the
    // registration Deploy reads is then the target's, built by a Pass state where anyone reading the execution sees it.
    const resolve = task(N.resolveRollback, 'resolve-rollback', '$.rollback');
    const approved = new sfn.Pass(this, N.approvedTarget, {
      parameters: { 'modelPackageArn.$': '$.rollback.target.modelPackageArn', approvalStatus: 'Approved', promote: true },
      resultPath: '$.registration',
    });
    const deploy = task(N.deploy, 'deploy', '$.deployment');
    const wait = new sfn.Wait(this, N.waitForEndpoint, { time: sfn.WaitTime.duration(props.endpointPollInterval) });
    const check = task(N.checkEndpoint, 'check-endpoint', '$.deployment');
    const ready = new sfn.Choice(this, N.endpointReady);
    const verify = task(N.verifyServing, 'verify-serving', '$.serving');
    const restore = task(N.restoreChampion, 'restore-champion', '$.champion');
    const notify = task(N.notify, 'notify', sfn.JsonPath.DISCARD);
    const done = new sfn.Succeed(this, N.done);

    const definition = resolve
      .next(approved)
      .next(deploy)
      .next(wait)
      .next(check)
      .next(ready.when(sfn.Condition.booleanEquals('$.deployment.done', true), verify.next(restore).next(notify).next(done)).otherwise(wait));

    this.logGroup = executionLogGroup(this, 'Logs', props);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: props.timeout,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
  }
}
