import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { s3Client, sageMakerClient, sfnClient, snsClient } from '../shared/clients';
import { Layout, PipelineState, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { trainingJobName } from '../shared/names';
import { getJsonIfExists, putJson, s3Uri } from '../shared/s3';
import { readDeploymentRecord, rollBackEndpoint, RollbackTarget } from '../deploy/endpoint';
import { canonicalStartTime, stopTrainingJobIfRunning } from '../shared/sagemaker';
import { costLine, runCostRecord, RunCostRecord } from './cost';

export type Outcome = 'promoted' | 'not promoted' | 'rolled back' | 'failed';

export interface NotifyResult {
  readonly outcome: Outcome;
  readonly subject: string;
  /** False when SNS refused the message even after the SDK's retries: see publishError and the outcome file. */
  readonly published: boolean;
  readonly messageId?: string;
  readonly publishError?: string;
  /** What a failed run cleaned up (or could not), one sentence each. */
  readonly cleanup: string[];
  /** s3://.../runs/<exec>/outcome.json: the same message, kept whatever SNS did. */
  readonly outcomeUri?: string;
  /** What the run cost at list prices up to Notify (also in outcome.json and the message), or why it is unknown. */
  readonly cost: RunCostRecord;
}

export interface NotifyDeps {
  readonly sns: SNSClient;
  readonly sagemaker: SageMakerClient;
  readonly s3: S3Client;
  /** Reads this run's history for its cost. */
  readonly sfn?: SFNClient;
  /** @default Date.now */
  readonly now?: () => number;
}

const defaultDeps = (): NotifyDeps => ({ sns: snsClient(), sagemaker: sageMakerClient(), s3: s3Client(), sfn: sfnClient() });

/**
 * Notify (states Notify, NotPromoted and NotifyFailure): tells people what the run did, from the state alone.
 * - `state.error` -> "failed": names the error, its cause and the stage; first cleans up, so nothing keeps
 *   running or half-deployed after a failure (stops this run's training job if still InProgress; rolls the
 *   endpoint back if it serves this run's model that was never promoted).
 * - `state.champion` -> "promoted"; otherwise "not promoted" with the evaluation's reasons.
 * A failed publish does not fail the stage (a deployed, verified model must not turn into a failed execution
 * because an e-mail could not be sent): it is logged as an error, returned as `published: false` in the
 * execution's history, and the message is kept in runs/<exec>/outcome.json.
 * The message's last line and outcome.json's `cost` say what the run cost at list prices (./cost.ts); a history
 * that cannot be read makes the cost unknown, never the run failed.
 */
export async function notify(event: StageEvent, env: LambdaEnv, deps: NotifyDeps = defaultDeps()): Promise<NotifyResult> {
  const { executionName, state } = event;
  const outcome: Outcome = state.error ? 'failed' : state.champion ? (state.rollback ? 'rolled back' : 'promoted') : 'not promoted';
  const cleanup = outcome === 'failed' ? await cleanUp(event, env, deps) : [];
  const stage = outcome === 'failed' ? failedStage(state) : undefined;
  const subject = subjectLine(`[relearn] ${env.config.name}: ${outcome === 'failed' ? `FAILED at ${stage}` : outcome} (${executionName})`);
  // After the clean-up: a stopped training job has its billable time by then.
  const cost = await runCostRecord(event, { sfn: deps.sfn ?? sfnClient(), sagemaker: deps.sagemaker, ...(deps.now ? { now: deps.now } : {}) });
  if ('unknown' in cost) logger.warn('Notify: the run cost is unknown', { why: cost.unknown });
  const message = [body(outcome, event, env, stage, cleanup), costLine(cost)].join('\n');

  let published = false;
  let messageId: string | undefined;
  let publishError: string | undefined;
  try {
    const res = await deps.sns.send(
      new PublishCommand({
        TopicArn: env.topicArn,
        Subject: subject,
        Message: message,
        // Lets a subscription filter on the outcome (e.g. page only on failures).
        MessageAttributes: { outcome: { DataType: 'String', StringValue: outcome } },
      }),
    );
    published = true;
    messageId = res.MessageId;
  } catch (err) {
    publishError = `${(err as Error).name}: ${(err as Error).message}`;
    logger.error('Notify: the outcome could not be published to SNS', { topicArn: env.topicArn, outcome, error: publishError });
  }

  // The decision record (Evaluate's decision.json, when this run got that far) carries the cost too.
  if (state.evaluation && !state.rollback) {
    try {
      const key = Layout.decision(executionName);
      const decision = await getJsonIfExists<Record<string, unknown>>(deps.s3, env.artifactsBucket, key);
      if (decision) await putJson(deps.s3, env.artifactsBucket, key, { ...decision, cost }, { kmsKeyArn: env.kmsKeyArn });
    } catch (err) {
      logger.error('Notify: the cost could not be added to the decision record', err as Error);
    }
  }

  let outcomeUri: string | undefined;
  try {
    const key = `${Layout.run(executionName)}outcome.json`;
    await putJson(deps.s3, env.artifactsBucket, key, { executionName, outcome, subject, message, published, publishError, cleanup, cost }, { kmsKeyArn: env.kmsKeyArn });
    outcomeUri = s3Uri(env.artifactsBucket, key);
  } catch (err) {
    logger.error('Notify: the outcome file could not be written', err as Error);
  }
  return { outcome, subject, published, ...(messageId ? { messageId } : {}), ...(publishError ? { publishError } : {}), cleanup, ...(outcomeUri ? { outcomeUri } : {}), cost };
}

/** SNS: ASCII, no line breaks or control characters, under 100 characters. */
export function subjectLine(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?').trim();
  return ascii.length < 100 ? ascii : `${ascii.slice(0, 96)}...`;
}

/**
 * Which state failed, from the error's name and how far the state got (each stage stores its result under its
 * own key). The Catch does not record the state name; this is exact for every stage's own errors.
 */
export function failedStage(state: PipelineState): string {
  if (state.rollback) return failedRollbackStage(state);
  switch (state.error?.Error) {
    case 'NoNewData':
    case 'IngestError':
      return 'Ingest';
    case 'DataValidationFailed':
      return 'ValidateData';
    case 'TrainingFailed':
      return state.training ? 'CheckTraining' : 'StartTraining';
    case 'DeploymentRolledBack':
      return 'CheckEndpoint';
    case 'ServingSkew':
      return 'VerifyServing';
  }
  // The furthest stage with a result: the failure is in the one after it.
  if (state.champion) return 'Notify';
  if (state.serving) return 'PromoteBaseline';
  if (state.deployment) return state.deployment.done ? 'VerifyServing' : 'CheckEndpoint';
  if (state.registration) return 'Deploy';
  if (state.evaluation) return 'Register';
  if (state.training) return state.training.done ? 'Evaluate' : 'CheckTraining';
  if (state.validation) return 'StartTraining';
  if (state.dataset) return 'ComputeStatistics/ValidateData';
  return 'Ingest';
}

/** The same for the rollback state machine: ResolveRollback -> Deploy -> CheckEndpoint -> VerifyServing -> RestoreChampion -> Notify. */
function failedRollbackStage(state: PipelineState): string {
  if (state.error?.Error === 'ServingSkew') return 'VerifyServing';
  if (state.error?.Error === 'DeploymentRolledBack') return 'CheckEndpoint';
  if (state.champion) return 'Notify';
  if (state.serving) return 'RestoreChampion';
  if (state.deployment) return state.deployment.done ? 'VerifyServing' : 'CheckEndpoint';
  if (state.rollback?.target) return 'Deploy';
  return 'ResolveRollback';
}

/** The error's message: Step Functions stores a Lambda error's Cause as JSON {errorType, errorMessage, trace}. */
export function causeOf(cause: string | undefined): string {
  if (!cause) return '(no cause recorded)';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the cause as it is
  }
  return cause;
}

async function cleanUp(event: StageEvent, env: LambdaEnv, deps: NotifyDeps): Promise<string[]> {
  const { executionName, state } = event;
  const done: string[] = [];
  // 1. Nothing keeps running: this run's training job (a Lambda-started job outlives an aborted execution).
  const jobName = trainingJobName(env.config.name, executionName);
  // With the start time, a running job of the same name from an earlier execution (a name used again) is left alone.
  const owner = event.executionStartTime ? { executionName, startTime: event.executionStartTime } : undefined;
  // A rollback execution never trains: no job of its name to look for.
  if (!state.rollback) {
    try {
      const training = await stopTrainingJobIfRunning(deps.sagemaker, jobName, owner);
      if (training.action !== 'none' || /left alone/.test(training.detail)) done.push(training.detail);
    } catch (err) {
      // Throttled even after the SDK's retries: say so rather than fail the notification itself.
      done.push(`could not check or stop training job ${jobName} (${(err as Error).name}: ${(err as Error).message}); stop it by hand: aws sagemaker stop-training-job --training-job-name ${jobName}`);
    }
  }
  // 2. Nothing half-deployed: an endpoint left on this run's unpromoted model goes back to the previous one.
  //    ServingSkew already rolled back; CheckEndpoint's errors mean SageMaker kept or restored the old config.
  if (!state.champion && state.error?.Error !== 'ServingSkew') {
    try {
      const target: RollbackTarget | undefined = state.deployment ?? (await ownDeploymentRecord(event, env, deps));
      if (target) {
        const result = await rollBackEndpoint(deps.sagemaker, target);
        if (result.action !== 'none' || !/nothing to roll back/.test(result.detail)) done.push(result.detail);
      }
    } catch (err) {
      done.push(`could not check the endpoint for a rollback (${(err as Error).name}: ${(err as Error).message}); check ${env.endpointName} by hand`);
    }
  }
  for (const line of done) logger.warn('Notify cleanup', { line });
  return done;
}

/**
 * runs/<exec>/deployment.json, when this execution wrote it: only a run that reached Deploy (it has a
 * registration) can have one, and a record that names another start time is an earlier execution's of the same
 * name, whose deployment may be the live champion: never rolled back from here.
 */
async function ownDeploymentRecord(event: StageEvent, env: LambdaEnv, deps: NotifyDeps): Promise<RollbackTarget | undefined> {
  if (!event.state.registration) return undefined;
  const record = await readDeploymentRecord(deps.s3, env.artifactsBucket, event.executionName);
  if (!record) return undefined;
  if (record.executionStartTime && event.executionStartTime && canonicalStartTime(record.executionStartTime) !== canonicalStartTime(event.executionStartTime)) {
    return undefined;
  }
  return record;
}

function body(outcome: Outcome, event: StageEvent, env: LambdaEnv, stage: string | undefined, cleanup: string[]): string {
  const { executionName, state } = event;
  const lines: string[] = [];
  const ev = state.evaluation;
  const metric = ev
    ? `${ev.primaryMetric.name}: candidate ${fmt(ev.primaryMetric.candidate)}${ev.primaryMetric.champion !== undefined ? `, champion ${fmt(ev.primaryMetric.champion)}` : ''}`
    : undefined;
  lines.push(`relearn pipeline "${env.config.name}", execution ${executionName}: ${outcome.toUpperCase()}`, '');

  if (outcome === 'failed') {
    lines.push(`Failed at: ${stage}`, `Error: ${state.error!.Error}`, `Cause: ${truncate(causeOf(state.error!.Cause), 4000)}`, '');
    lines.push('Cleanup:', ...(cleanup.length ? cleanup.map((c) => `  - ${c}`) : ['  - nothing was left running']));
    if (!state.deployment) lines.push('', `The endpoint ${env.endpointName} was not touched by this run.`);
  } else if (outcome === 'rolled back') {
    const r = state.rollback!;
    const d = state.deployment!;
    lines.push(
      `Rolled back: the endpoint ${d.endpointName} serves ${r.target!.executionName} again (model package ${r.target!.modelPackageArn}), as model ${d.modelName} on endpoint config ${d.endpointConfigName}.`,
      r.from ? `It replaces champion ${r.from.executionName} (model package ${r.from.modelPackageArn}, endpoint config ${r.from.endpointConfigName}).` : 'There was no champion record before.',
      r.request.to ? `Asked for: ${r.request.to}` : 'Asked for: the previous champion',
    );
    if (state.serving) lines.push(`Serving check: ${state.serving.checkedRows} validation rows of the restored model, max |served - offline| = ${state.serving.maxAbsDifference}`);
    lines.push(`Champion record (with its statistics and schema baselines): ${state.champion!.championUri}`);
    for (const line of state.champion!.registry ?? []) lines.push(`Model registry: ${line}`);
  } else if (outcome === 'promoted') {
    const d = state.deployment;
    if (d) {
      lines.push(
        `The endpoint ${d.endpointName} now serves model ${d.modelName} (endpoint config ${d.endpointConfigName}).`,
        d.previousEndpointConfigName ? `Previous endpoint config (rollback target): ${d.previousEndpointConfigName}` : "This was the endpoint's first model.",
      );
    }
    if (state.serving) lines.push(`Serving check: ${state.serving.checkedRows} validation rows, max |served - offline| = ${state.serving.maxAbsDifference}`);
    if (metric) lines.push(metric);
    lines.push(`Champion record: ${state.champion!.championUri}`);
  } else {
    const reg = state.registration;
    if (reg) lines.push(`Model package ${reg.modelPackageArn} is ${reg.approvalStatus}${reg.approvalStatus === 'PendingManualApproval' ? ': it waits for a manual approval in the model registry, and this run did not deploy it' : ''}.`);
    lines.push(`The endpoint ${env.endpointName} was not touched: the previous model still serves.`);
    if (metric) lines.push(metric);
  }

  if (ev) {
    lines.push('', `Decision: ${ev.deploy ? 'deploy' : 'do not deploy'}`, ...ev.reasons.map((r) => `  - ${r}`));
    lines.push('', `Report: ${ev.reportUri}`, `Decision record: ${ev.decisionUri}`);
  }
  lines.push(`Run artifacts: ${s3Uri(env.artifactsBucket, Layout.run(executionName))}`);
  return lines.join('\n');
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : Number(v.toFixed(4)).toString());
const truncate = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n)}... (${s.length - n} more characters)`);
