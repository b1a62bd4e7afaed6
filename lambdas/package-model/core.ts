import { S3Client } from '@aws-sdk/client-s3';
import { DescribeTrainingJobCommand, DescribeTrainingJobCommandOutput, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { s3Client, sageMakerClient } from '../shared/clients';
import { CODE_CHANNEL } from '../start-training/core';
import { Layout, ModelManifest, ModelManifestSchema, ModelRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJsonIfExists, parseS3Uri, putJson, s3Uri } from '../shared/s3';
import { servingContainer } from '../shared/sagemaker';
import { repackModel } from './repack';

export interface PackageModelDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  /** @default - the current time */
  readonly now?: () => Date;
}

const defaultDeps = (): PackageModelDeps => ({ s3: s3Client(), sagemaker: sageMakerClient() });

/** The source directory a job ran: its sagemaker_submit_directory, or the `code` channel when the job was isolated. */
export function codeUriOfJob(job: Pick<DescribeTrainingJobCommandOutput, 'HyperParameters' | 'InputDataConfig' | 'TrainingJobName'>): string {
  const raw = job.HyperParameters?.sagemaker_submit_directory;
  let submit: unknown = raw;
  try {
    submit = raw === undefined ? undefined : JSON.parse(raw);
  } catch {
    // not JSON-encoded: the raw value
  }
  if (typeof submit === 'string' && submit.startsWith('s3://')) return submit;
  const channel = job.InputDataConfig?.find((c) => c.ChannelName === CODE_CHANNEL)?.DataSource?.S3DataSource?.S3Uri;
  if (channel) return channel;
  throw new Error(`training job ${job.TrainingJobName}: no sagemaker_submit_directory in s3:// and no ${CODE_CHANNEL} channel: cannot tell which code it ran`);
}

/**
 * PackageModel (after Evaluate, before Register): makes the candidate self-contained. The training job's
 * model.tar.gz is repacked with the source directory it trained with under `code/` (lambdas/package-model/repack.ts)
 * into runs/<exec>/model/model.tar.gz, and runs/<exec>/model/manifest.json records the serving container and the
 * baselines that travel with the model. Every registered package, champion and rollback target is such an archive:
 * it can be deployed again for as long as it exists, whatever code the stack ships by then.
 *
 * The code must be the one the job trained with; it is this stack's TRAINING_CODE_URI unless the stack was
 * redeployed with other code while the run trained, which fails the run (re-run it) rather than pack the wrong code.
 * Idempotent: a retry that finds the manifest of the same model and code returns it without repacking.
 */
export async function packageModel(event: StageEvent, env: LambdaEnv, deps: PackageModelDeps = defaultDeps()): Promise<ModelRef> {
  const { executionName, state } = event;
  const { training, dataset, validation, evaluation } = state;
  const missing = (['dataset', 'validation', 'training', 'evaluation'] as const).filter((k) => !state[k]);
  if (missing.length) throw new InvalidStageInput(`PackageModel: the state lacks ${missing.join(', ')}: it runs after Evaluate`);
  if (!training!.modelDataUri || !training!.outputDataUri) throw new InvalidStageInput('PackageModel: state.training has no modelDataUri/outputDataUri: the job has not completed');

  const job = await deps.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: training!.jobName }));
  const codeUri = codeUriOfJob(job);
  if (codeUri !== env.trainingCodeUri) {
    throw new Error(
      `PackageModel: training job ${training!.jobName} ran the code ${codeUri}, but this stack now ships ${env.trainingCodeUri} (it was redeployed while the run trained). ` +
        'Packing other code than the model was trained with would serve something never evaluated: start the run again',
    );
  }

  const prefix = Layout.model(executionName);
  const archiveKey = `${prefix}model.tar.gz`;
  const manifestKey = `${prefix}manifest.json`;
  const previous = await getJsonIfExists(deps.s3, env.artifactsBucket, manifestKey);
  const reuse = ModelManifestSchema.safeParse(previous);
  if (reuse.success && reuse.data.model.trainingModelDataUri === training!.modelDataUri && reuse.data.model.codeUri === codeUri) {
    logger.info('PackageModel: already packaged by an earlier attempt', { modelDataUri: reuse.data.model.modelDataUri });
    return reuse.data.model;
  }

  const started = Date.now();
  const result = await repackModel({
    s3: deps.s3,
    model: parseS3Uri(training!.modelDataUri),
    code: parseS3Uri(codeUri),
    out: { bucket: env.artifactsBucket, key: archiveKey },
    kmsKeyArn: env.kmsKeyArn,
    entryPoint: env.config.training.entryPoint,
  });
  const model: ModelRef = {
    modelDataUri: s3Uri(env.artifactsBucket, archiveKey),
    trainingModelDataUri: training!.modelDataUri,
    codeUri,
    sha256: result.sha256,
    bytes: result.bytes,
    manifestUri: s3Uri(env.artifactsBucket, manifestKey),
  };
  const manifest: ModelManifest = {
    executionName,
    createdAt: (deps.now?.() ?? new Date()).toISOString(),
    container: servingContainer({
      image: env.trainingImageUri,
      modelDataUri: model.modelDataUri,
      entryPoint: env.config.training.entryPoint,
      region: await deps.sagemaker.config.region(),
    }),
    model,
    entryPoint: env.config.training.entryPoint,
    trainingJobName: training!.jobName,
    outputDataUri: training!.outputDataUri,
    dataset: { datasetId: dataset!.datasetId, uri: dataset!.uri, validationUri: dataset!.validationUri },
    statsUri: validation!.statsUri,
    schemaUri: validation!.schemaUri,
    evaluationUri: evaluation!.evaluationUri,
    primaryMetric: { name: evaluation!.primaryMetric.name, value: evaluation!.primaryMetric.candidate },
  };
  await putJson(deps.s3, env.artifactsBucket, manifestKey, manifest, { kmsKeyArn: env.kmsKeyArn });
  logger.info('PackageModel: self-contained model written', { ...model, ms: Date.now() - started, replaced: result.replaced });
  return model;
}
