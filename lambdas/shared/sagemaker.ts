import { DescribeTrainingJobCommand, ListTagsCommand, SageMakerClient, StopTrainingJobCommand, Tag } from '@aws-sdk/client-sagemaker';
import type { ServingContainer } from './contracts';
import { isTransient } from './handler';
import { logger } from './logger';
import { tagSafe } from './names';

/** SageMaker's answers that every stage reads the same way, and the one "stop this run's training job". */

/** Where the serving code is in a self-contained model once SageMaker has extracted it (`code/` of the archive). */
export const SUBMIT_DIRECTORY_IN_MODEL = '/opt/ml/model/code';

/**
 * The container of a self-contained model, as the SageMaker Python SDK sets it up for a repacked model and the
 * SKLearn serving container reads it: SAGEMAKER_PROGRAM = the entry point, SAGEMAKER_SUBMIT_DIRECTORY = the
 * code inside the model. Nothing points at S3 but the model archive itself.
 */
export function servingContainer(opts: { image: string; modelDataUri: string; entryPoint: string; region: string }): ServingContainer {
  return {
    Image: opts.image,
    ModelDataUrl: opts.modelDataUri,
    Environment: {
      SAGEMAKER_PROGRAM: opts.entryPoint,
      SAGEMAKER_SUBMIT_DIRECTORY: SUBMIT_DIRECTORY_IN_MODEL,
      SAGEMAKER_CONTAINER_LOG_LEVEL: '20',
      SAGEMAKER_REGION: opts.region,
    },
  };
}

/** SageMaker answers a missing endpoint/model/job with ValidationException "Could not find ..." (or ResourceNotFound). */
export function isSageMakerNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  if (e?.name === 'ResourceNotFound') return true;
  return e?.name === 'ValidationException' && /could not find|not (be )?found|does not exist/i.test(e.message ?? '');
}

/** "Cannot create already existing model/endpoint configuration/endpoint": for our own names, success. */
export function isAlreadyExists(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return (e?.name === 'ValidationException' || e?.name === 'ResourceInUse') && /already exist/i.test(e.message ?? '');
}

// ---- Which execution a resource belongs to ---------------------------------------------------------

/** Tag keys on every SageMaker resource a run creates. */
export const EXECUTION_TAG = 'relearn:execution';
export const EXECUTION_START_TAG = 'relearn:execution-start';

/**
 * Who started a run: its name and when it started. Step Functions lets a name be used again 90 days after the
 * execution that had it closed, so the name alone does not tell two runs apart; name and start time do.
 */
export interface ExecutionIdentity {
  readonly executionName: string;
  /** `$$.Execution.StartTime` (ISO 8601), or EventBridge's startDate (epoch milliseconds). */
  readonly startTime: string | number;
}

/** The start time as one canonical ISO 8601 string (Step Functions and EventBridge spell it differently). */
export function canonicalStartTime(startTime: string | number): string {
  const ms = typeof startTime === 'number' ? startTime : Date.parse(startTime);
  if (!Number.isFinite(ms)) throw new Error(`not an execution start time: ${JSON.stringify(startTime)}`);
  return new Date(ms).toISOString();
}

/** The tags that say which execution created a resource (values fitted to SageMaker's tag pattern). */
export function executionTags(id: ExecutionIdentity): Tag[] {
  return [
    { Key: EXECUTION_TAG, Value: tagSafe(id.executionName) },
    { Key: EXECUTION_START_TAG, Value: canonicalStartTime(id.startTime) },
  ];
}

/** How a resource's tags relate to an execution. */
export type Ownership = { readonly owner: 'this' } | { readonly owner: 'other'; readonly detail: string };

/** Compares a resource's tags with an execution's identity. No start tag: another run (one that cannot prove it was this one). */
export function ownershipOf(tags: readonly Tag[], id: ExecutionIdentity): Ownership {
  const get = (key: string) => tags.find((t) => t.Key === key)?.Value;
  const name = get(EXECUTION_TAG);
  const start = get(EXECUTION_START_TAG);
  if (name === tagSafe(id.executionName) && start === canonicalStartTime(id.startTime)) return { owner: 'this' };
  return {
    owner: 'other',
    detail: start
      ? `it was created by an earlier execution of the same name, started ${start}`
      : `it carries no ${EXECUTION_START_TAG} tag, so nothing shows this execution created it`,
  };
}

/** ListTags of a resource, every page. */
export async function listTags(sagemaker: SageMakerClient, resourceArn: string): Promise<Tag[]> {
  const tags: Tag[] = [];
  let token: string | undefined;
  do {
    const page = await sagemaker.send(new ListTagsCommand({ ResourceArn: resourceArn, NextToken: token }));
    tags.push(...(page.Tags ?? []));
    token = page.NextToken;
  } while (token);
  return tags;
}

/** What became of this run's training job. */
export type TrainingCleanup =
  | { readonly action: 'stopped'; readonly jobName: string; readonly detail: string }
  | { readonly action: 'none'; readonly jobName: string; readonly detail: string }
  | { readonly action: 'failed'; readonly jobName: string; readonly detail: string };

/**
 * Stops the job if it is InProgress. Not found = the run never started one. A job that ends between the
 * describe and the stop (SageMaker then refuses the stop) is left as it is. Transient errors throw (retry).
 * With `owner`, a running job is stopped only when its tags show that this execution created it: a job of the
 * same name from an earlier execution (a name used again) is never touched.
 */
export async function stopTrainingJobIfRunning(sagemaker: SageMakerClient, jobName: string, owner?: ExecutionIdentity): Promise<TrainingCleanup> {
  const describe = async () => sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }));
  try {
    const job = await describe();
    const before = job.TrainingJobStatus;
    if (before !== 'InProgress') return { action: 'none', jobName, detail: `training job ${jobName} was not running (${before})` };
    if (owner && job.TrainingJobArn) {
      const ownership = ownershipOf(await listTags(sagemaker, job.TrainingJobArn), owner);
      if (ownership.owner === 'other') return { action: 'none', jobName, detail: `training job ${jobName} is running but is not this execution's (${ownership.detail}): left alone` };
    }
    try {
      await sagemaker.send(new StopTrainingJobCommand({ TrainingJobName: jobName }));
      return { action: 'stopped', jobName, detail: `training job ${jobName} was still InProgress: stopped` };
    } catch (err) {
      if (isTransient(err)) throw err;
      const now = (await describe()).TrainingJobStatus;
      if (now === 'InProgress') throw err;
      return { action: 'none', jobName, detail: `training job ${jobName} ended on its own (${now}) before it could be stopped` };
    }
  } catch (err) {
    if (isSageMakerNotFound(err)) return { action: 'none', jobName, detail: `no training job ${jobName}: the run had not started one` };
    if (isTransient(err)) throw err;
    const e = err as Error;
    logger.error('could not check or stop the training job', { jobName, error: e.name, message: e.message });
    return {
      action: 'failed',
      jobName,
      detail: `could not check or stop training job ${jobName} (${e.name}: ${e.message}); stop it by hand: aws sagemaker stop-training-job --training-job-name ${jobName}`,
    };
  }
}
