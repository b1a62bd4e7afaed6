import { DescribeTrainingJobCommand, DescribeTrainingJobCommandOutput, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { sageMakerClient } from '../shared/clients';
import { StageEvent, TrainingRef } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput, TrainingFailed } from '../shared/errors';
import { ageSeconds, nextPollWaitSeconds, trainingPollSchedule } from '../shared/polling';
import { isSageMakerNotFound } from '../shared/sagemaker';
import { METRIC, MetricUnit, singleMetric } from '../shared/telemetry';

export interface CheckTrainingDeps {
  readonly sagemaker: SageMakerClient;
}

const defaultDeps = (): CheckTrainingDeps => ({ sagemaker: sageMakerClient() });

/** The champion channel's name (docs/training-contract.md). */
export const CHAMPION_CHANNEL = 'champion';

/** Where SageMaker puts a job's output data: `<S3OutputPath><jobName>/output/output.tar.gz`. */
export function outputDataUriOf(s3OutputPath: string, jobName: string): string {
  const base = s3OutputPath.endsWith('/') ? s3OutputPath : `${s3OutputPath}/`;
  return `${base}${jobName}/output/output.tar.gz`;
}

/**
 * DescribeTrainingJob -> TrainingRef (pure). Throws TrainingFailed for Failed and Stopped jobs, with
 * SageMaker's FailureReason: the script's `failure` file when the script wrote one.
 */
export function trainingRefOf(job: DescribeTrainingJobCommandOutput | Omit<DescribeTrainingJobCommandOutput, '$metadata'>): TrainingRef {
  const jobName = job.TrainingJobName ?? '(unnamed job)';
  const status = job.TrainingJobStatus ?? 'Unknown';
  const secondary = job.SecondaryStatus;
  if (status === 'Failed') {
    throw new TrainingFailed(`training job ${jobName} failed: ${job.FailureReason ?? 'SageMaker gave no FailureReason'}`);
  }
  if (status === 'Stopped') {
    const why = job.FailureReason ? `: ${job.FailureReason}` : '';
    throw new TrainingFailed(
      `training job ${jobName} was stopped (${secondary ?? 'Stopped'}) before it completed${why}; a stopped job produces no model to evaluate`,
    );
  }
  const champion = job.InputDataConfig?.find((c) => c.ChannelName === CHAMPION_CHANNEL)?.DataSource?.S3DataSource?.S3Uri;
  const ref: TrainingRef = {
    jobName,
    status,
    ...(secondary ? { secondaryStatus: secondary } : {}),
    done: status === 'Completed',
    ...(champion ? { championModelDataUri: champion } : {}),
  };
  if (status !== 'Completed') return ref;

  const modelDataUri = job.ModelArtifacts?.S3ModelArtifacts;
  const outputPath = job.OutputDataConfig?.S3OutputPath;
  if (!modelDataUri || !outputPath) {
    throw new TrainingFailed(`training job ${jobName} is Completed but SageMaker reports no model artifact (ModelArtifacts or S3OutputPath missing)`);
  }
  const finalMetrics: Record<string, number> = {};
  for (const m of job.FinalMetricDataList ?? []) {
    if (m.MetricName !== undefined && typeof m.Value === 'number' && Number.isFinite(m.Value)) finalMetrics[m.MetricName] = m.Value;
  }
  const seconds =
    job.TrainingTimeInSeconds ??
    (job.TrainingStartTime && job.TrainingEndTime ? Math.round((job.TrainingEndTime.getTime() - job.TrainingStartTime.getTime()) / 1000) : undefined);
  return {
    ...ref,
    modelDataUri,
    outputDataUri: outputDataUriOf(outputPath, jobName),
    finalMetrics,
    ...(seconds !== undefined ? { trainingSeconds: seconds } : {}),
  };
}

/**
 * CheckTraining: polls the run's training job; `done` once Completed, TrainingFailed on Failed/Stopped. While it
 * runs, `nextWaitSeconds` (WaitForTraining's SecondsPath) grows with the job's age: see lambdas/shared/polling.ts.
 */
export async function checkTraining(event: StageEvent, env: LambdaEnv, deps: CheckTrainingDeps = defaultDeps(), now: Date = new Date()): Promise<TrainingRef> {
  const previous = event.state.training;
  if (!previous?.jobName) throw new InvalidStageInput('CheckTraining: state.training.jobName is missing: CheckTraining runs after StartTraining');
  let job: DescribeTrainingJobCommandOutput;
  try {
    job = await deps.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: previous.jobName }));
  } catch (err) {
    if (isSageMakerNotFound(err)) throw new TrainingFailed(`training job ${previous.jobName} does not exist (${(err as Error).message})`, { cause: err });
    throw err;
  }
  const described = trainingRefOf(job);
  // The champion StartTraining chose stays on the record even if a describe leaves channels out.
  const ref = previous.championModelDataUri && !described.championModelDataUri ? { ...described, championModelDataUri: previous.championModelDataUri } : described;
  if (ref.done) {
    if (ref.trainingSeconds !== undefined) singleMetric(METRIC.trainingSeconds, MetricUnit.Seconds, ref.trainingSeconds);
    return ref;
  }
  return { ...ref, nextWaitSeconds: nextPollWaitSeconds(ageSeconds(job.CreationTime, now), trainingPollSchedule(env.config)) };
}
