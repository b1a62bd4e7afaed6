import { DescribeTrainingJobCommand, SageMakerClient, StopTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { isTransient } from './handler';
import { logger } from './logger';

/** SageMaker's answers that every stage reads the same way, and the one "stop this run's training job". */

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

/** What became of this run's training job. */
export type TrainingCleanup =
  | { readonly action: 'stopped'; readonly jobName: string; readonly detail: string }
  | { readonly action: 'none'; readonly jobName: string; readonly detail: string }
  | { readonly action: 'failed'; readonly jobName: string; readonly detail: string };

/**
 * Stops the job if it is InProgress. Not found = the run never started one. A job that ends between the
 * describe and the stop (SageMaker then refuses the stop) is left as it is. Transient errors throw (retry).
 */
export async function stopTrainingJobIfRunning(sagemaker: SageMakerClient, jobName: string): Promise<TrainingCleanup> {
  const describe = async () => (await sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }))).TrainingJobStatus;
  try {
    const before = await describe();
    if (before !== 'InProgress') return { action: 'none', jobName, detail: `training job ${jobName} was not running (${before})` };
    try {
      await sagemaker.send(new StopTrainingJobCommand({ TrainingJobName: jobName }));
      return { action: 'stopped', jobName, detail: `training job ${jobName} was still InProgress: stopped` };
    } catch (err) {
      if (isTransient(err)) throw err;
      const now = await describe();
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
