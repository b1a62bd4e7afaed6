import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { sageMakerClient, snsClient } from '../shared/clients';
import { Layout } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { trainingJobName } from '../shared/names';
import { s3Uri } from '../shared/s3';
import { stopTrainingJobIfRunning, type TrainingCleanup } from '../shared/sagemaker';
import { subjectLine } from '../notify/core';
import { CLEANED_UP_STATUSES, type EndStatus } from './statuses';

export { CLEANED_UP_STATUSES, type EndStatus, stopTrainingJobIfRunning, type TrainingCleanup };

/**
 * EventBridge's "Step Functions Execution Status Change" event, the fields this function reads. Step Functions
 * sends `null` for what an execution does not have (error and cause of an aborted one, stopDate of a running one).
 */
export const ExecutionStatusChangeSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    /** The execution name: every SageMaker resource of the run is named after it (lambdas/shared/names.ts). */
    name: z.string().min(1).max(80),
    /** Epoch milliseconds: with the name, which execution this was (a name may be used again after 90 days). */
    startDate: z.number().nullish(),
    status: z.enum(CLEANED_UP_STATUSES),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusChange = z.infer<typeof ExecutionStatusChangeSchema>;

export interface AbortCleanupResult {
  readonly executionName: string;
  readonly status: EndStatus;
  readonly training: TrainingCleanup;
  /** False when nothing needed saying: a FAILED run whose training job NotifyFailure already stopped (or that had none). */
  readonly notified: boolean;
  readonly messageId?: string;
  readonly subject?: string;
}

export interface AbortCleanupDeps {
  readonly sagemaker: SageMakerClient;
  readonly sns: SNSClient;
}

const defaultDeps = (): AbortCleanupDeps => ({ sagemaker: sageMakerClient(), sns: snsClient() });

/**
 * Stops the training job of an execution that ended without going through NotifyFailure, and says so.
 * A Lambda-started training job outlives its execution (FIELD-NOTES): only this, or its MaxRuntimeInSeconds,
 * stops it.
 * - ABORTED / TIMED_OUT: nobody else tells; always published, whether or not a job was stopped.
 * - FAILED: NotifyFailure already published a caught failure and stopped the job; this only acts (and
 *   publishes) when a job is still InProgress, i.e. the failure was not caught or NotifyFailure could not stop it.
 * Idempotent: a second delivery of the same event finds the job Stopping/Stopped and does nothing new.
 * A throttled or 5xx SageMaker call, or a refused publish, throws: the event is retried and, when it keeps
 * failing, kept in the dead-letter queue.
 */
export async function cleanUpAbortedExecution(
  event: ExecutionStatusChange,
  env: LambdaEnv,
  deps: AbortCleanupDeps = defaultDeps(),
): Promise<AbortCleanupResult> {
  const { name: executionName, status, startDate } = event.detail;
  logger.appendKeys({ executionName, status });
  // With the start date, a job of the same name that an earlier execution created is left alone.
  const owner = typeof startDate === 'number' ? { executionName, startTime: startDate } : undefined;
  const training = await stopTrainingJobIfRunning(deps.sagemaker, trainingJobName(env.config.name, executionName), owner);
  logger.info('cleanup of an execution that ended', { training });

  if (status === 'FAILED' && training.action === 'none') return { executionName, status, training, notified: false };

  const subject = subjectLine(`[relearn] ${env.config.name}: ${outcomeOf(status).toUpperCase()} (${executionName})`);
  const res = await deps.sns.send(
    new PublishCommand({
      TopicArn: env.topicArn,
      Subject: subject,
      Message: messageOf(event, env, training),
      // The same attribute Notify sets, so a subscription's filter policy sees these too.
      MessageAttributes: { outcome: { DataType: 'String', StringValue: outcomeOf(status) } },
    }),
  );
  return { executionName, status, training, notified: true, subject, ...(res.MessageId ? { messageId: res.MessageId } : {}) };
}

const outcomeOf = (status: EndStatus): string => (status === 'ABORTED' ? 'aborted' : status === 'TIMED_OUT' ? 'timed out' : 'failed');

/** Notify's message style: what happened, what was cleaned up, where the run's artifacts are. */
export function messageOf(event: ExecutionStatusChange, env: LambdaEnv, training: TrainingCleanup): string {
  const { name: executionName, status, error, cause } = event.detail;
  const lines = [`relearn pipeline "${env.config.name}", execution ${executionName}: ${outcomeOf(status).toUpperCase()}`, ''];
  if (status === 'ABORTED') lines.push('The execution was stopped (StopExecution) before it finished.');
  else if (status === 'TIMED_OUT') lines.push("The execution ran past the state machine's TimeoutSeconds and was ended by Step Functions.");
  else lines.push('The execution failed without its failure being handled by NotifyFailure.');
  if (error) lines.push(`Error: ${error}`);
  if (cause) lines.push(`Cause: ${cause.length > 2000 ? `${cause.slice(0, 2000)}...` : cause}`);
  lines.push('', 'Cleanup:', `  - ${training.detail}`, '');
  lines.push(
    `The endpoint ${env.endpointName} was not checked: if the run was stopped during Deploy, CheckEndpoint or VerifyServing, check which endpoint config it serves.`,
    `Execution: ${event.detail.executionArn}`,
    `Run artifacts: ${s3Uri(env.artifactsBucket, Layout.run(executionName))}`,
  );
  return lines.join('\n');
}
