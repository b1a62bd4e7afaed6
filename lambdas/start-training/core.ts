import {
  Channel,
  CreateTrainingJobCommand,
  CreateTrainingJobCommandInput,
  DescribeTrainingJobCommand,
  SageMakerClient,
  TrainingInstanceType,
} from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import { CHAMPION_CHANNEL, trainingRefOf } from '../check-training/core';
import { s3Client, sageMakerClient } from '../shared/clients';
import { RelearnConfig } from '../shared/config';
import { ChampionRecordSchema, DatasetRef, Layout, StageEvent, TrainingRef } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput, TrainingFailed } from '../shared/errors';
import { isTransient } from '../shared/handler';
import { logger } from '../shared/logger';
import { tagSafe, trainingJobName } from '../shared/names';
import { executionTags, listTags, ownershipOf } from '../shared/sagemaker';
import { getJsonIfExists, s3Uri } from '../shared/s3';

/** The id column Ingest adds when `dataset.idColumn` is not configured (docs/architecture.md). */
export const DEFAULT_ID_COLUMN = '_row_id';
/** Where the container finds checkpoints to resume from after a spot interruption (SageMaker's default). */
export const CHECKPOINT_LOCAL_PATH = '/opt/ml/checkpoints';
/** With network isolation the source directory arrives as this channel (as the SageMaker Python SDK does it). */
export const CODE_CHANNEL = 'code';
/** The run's validated schema.json (Contract A): `SM_CHANNEL_SCHEMA/schema.json` in the container. */
export const SCHEMA_CHANNEL = 'schema';

/** Everything the CreateTrainingJob request is built from: no clients, no environment. */
export interface TrainingJobInputs {
  readonly executionName: string;
  /** `$$.Execution.StartTime`: tagged on the job, so a later execution of the same name never takes it for its own. */
  readonly executionStartTime: string;
  readonly config: RelearnConfig;
  readonly dataset: Pick<DatasetRef, 'datasetId' | 'trainUri' | 'validationUri'>;
  readonly artifactsBucket: string;
  readonly kmsKeyArn: string;
  readonly roleArn: string;
  /** The framework (or your own) image; TRAINING_IMAGE_URI. */
  readonly imageUri: string;
  /** s3:// URI of sourcedir.tar.gz; TRAINING_CODE_URI. */
  readonly codeUri: string;
  readonly region: string;
  /** The serving model's model.tar.gz (champion/current.json), scored by the job on the same validation rows. */
  readonly championModelDataUri?: string;
  /** The run's schema.json (ValidateData's `schemaUri`): the `schema` channel. @default - no schema channel */
  readonly schemaUri?: string;
}

/**
 * Instance types with local NVMe instance storage (m5d, c5d, r5d, g4dn, p3dn, ... and the all-NVMe
 * families): SageMaker refuses VolumeKmsKeyId for them; their instance store is encrypted by the hardware.
 */
export function hasInstanceStorage(instanceType: string): boolean {
  const family = instanceType.split('.')[1] ?? '';
  return /^[a-z]+\d+[a-z]*d[a-z]*$/.test(family) || /^(g5|g6|g6e|p4d|p4de|p5|p5e|trn1|trn1n|inf2)$/.test(family);
}

/**
 * Hyperparameters as the SageMaker Python SDK's framework estimators send them: every value JSON-encoded
 * (strings quoted), which the framework container decodes and passes to the script as `--name value`.
 */
export function encodeHyperparameters(inputs: TrainingJobInputs, jobName: string, submitDirectory: string): Record<string, string> {
  const { config } = inputs;
  const user = Object.fromEntries(Object.entries(config.training.hyperparameters).map(([k, v]) => [k, JSON.stringify(v)]));
  return {
    ...user,
    'label-column': JSON.stringify(config.dataset.labelColumn),
    'id-column': JSON.stringify(config.dataset.idColumn ?? DEFAULT_ID_COLUMN),
    'problem-type': JSON.stringify(config.evaluation.problemType),
    sagemaker_program: JSON.stringify(config.training.entryPoint),
    sagemaker_submit_directory: JSON.stringify(submitDirectory),
    sagemaker_container_log_level: '20',
    sagemaker_job_name: JSON.stringify(jobName),
    sagemaker_region: JSON.stringify(inputs.region),
  };
}

const s3Channel = (name: string, uri: string, contentType?: string): Channel => ({
  ChannelName: name,
  DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri, S3DataDistributionType: 'FullyReplicated' } },
  ...(contentType ? { ContentType: contentType } : {}),
  InputMode: 'File',
});

/** The CreateTrainingJob request for one run (pure; docs/architecture.md "Training job"). */
export function buildCreateTrainingJobRequest(inputs: TrainingJobInputs): CreateTrainingJobCommandInput {
  const { config, executionName, artifactsBucket, kmsKeyArn } = inputs;
  const t = config.training;
  const jobName = trainingJobName(config.name, executionName);
  const isolated = t.networkIsolation;
  // Isolated containers cannot download the code: it comes in as a channel, and the container is pointed at the
  // file SageMaker copies there (the SageMaker Python SDK does the same for network-isolated framework jobs).
  // The channel keeps the object's own name (a CDK asset is `<hash>.gz`, not sourcedir.tar.gz).
  const submitDirectory = isolated ? `/opt/ml/input/data/${CODE_CHANNEL}/${inputs.codeUri.split('/').pop()}` : inputs.codeUri;

  const channels: Channel[] = [s3Channel('train', inputs.dataset.trainUri, 'text/csv'), s3Channel('validation', inputs.dataset.validationUri, 'text/csv')];
  if (inputs.championModelDataUri) channels.push(s3Channel(CHAMPION_CHANNEL, inputs.championModelDataUri));
  // Exactly the one object: S3Prefix of the full key (SageMaker lists the prefix; nothing else starts with it).
  if (inputs.schemaUri) channels.push(s3Channel(SCHEMA_CHANNEL, inputs.schemaUri, 'application/json'));
  if (isolated) channels.push(s3Channel(CODE_CHANNEL, inputs.codeUri));

  const maxWait = t.spot.enabled ? (t.spot.maxWaitSeconds ?? 2 * t.maxRuntimeSeconds) : undefined;
  return {
    TrainingJobName: jobName,
    RoleArn: inputs.roleArn,
    AlgorithmSpecification: {
      TrainingImage: inputs.imageUri,
      TrainingInputMode: 'File',
      MetricDefinitions: t.metricDefinitions.map((m) => ({ Name: m.name, Regex: m.regex })),
      EnableSageMakerMetricsTimeSeries: true,
    },
    HyperParameters: encodeHyperparameters(inputs, jobName, submitDirectory),
    InputDataConfig: channels,
    OutputDataConfig: { S3OutputPath: s3Uri(artifactsBucket, Layout.training(executionName)), KmsKeyId: kmsKeyArn },
    ResourceConfig: {
      InstanceType: t.instanceType as TrainingInstanceType,
      InstanceCount: t.instanceCount,
      VolumeSizeInGB: t.volumeSizeGb,
      ...(hasInstanceStorage(t.instanceType) ? {} : { VolumeKmsKeyId: kmsKeyArn }),
    },
    StoppingCondition: { MaxRuntimeInSeconds: t.maxRuntimeSeconds, ...(maxWait !== undefined ? { MaxWaitTimeInSeconds: maxWait } : {}) },
    ...(t.spot.enabled
      ? {
          EnableManagedSpotTraining: true,
          CheckpointConfig: { S3Uri: s3Uri(artifactsBucket, `${Layout.run(executionName)}checkpoints/`), LocalPath: CHECKPOINT_LOCAL_PATH },
        }
      : {}),
    EnableNetworkIsolation: isolated,
    // Traffic between instances of a multi-instance job stays encrypted.
    EnableInterContainerTrafficEncryption: t.instanceCount > 1,
    Tags: [
      { Key: 'relearn:pipeline', Value: config.name },
      ...executionTags({ executionName, startTime: inputs.executionStartTime }),
      { Key: 'relearn:dataset', Value: tagSafe(inputs.dataset.datasetId) },
    ],
  };
}

export interface StartTrainingDeps {
  readonly sagemaker: SageMakerClient;
  readonly s3: S3Client;
}

const defaultDeps = (): StartTrainingDeps => ({ sagemaker: sageMakerClient(), s3: s3Client() });

/** The serving model's artifact from champion/current.json, or undefined on the first run. */
export async function readChampionModelDataUri(s3: S3Client, artifactsBucket: string): Promise<string | undefined> {
  const record = await getJsonIfExists(s3, artifactsBucket, Layout.champion);
  if (record === undefined) return undefined;
  const parsed = ChampionRecordSchema.pick({ modelDataUri: true }).safeParse(record);
  if (!parsed.success) {
    throw new Error(
      `s3://${artifactsBucket}/${Layout.champion} has no valid modelDataUri (${parsed.error.issues[0]?.message}); fix or remove the champion record`,
    );
  }
  return parsed.data.modelDataUri;
}

/**
 * StartTraining: creates this execution's training job (script mode, champion channel when a champion
 * exists). Idempotent: when a previous attempt already created the job, describes and returns it.
 */
export async function startTraining(event: StageEvent, env: LambdaEnv, deps: StartTrainingDeps = defaultDeps()): Promise<TrainingRef> {
  const { executionName, executionStartTime, state } = event;
  if (!state.dataset) throw new InvalidStageInput('StartTraining: state.dataset is missing: StartTraining runs after Ingest');
  if (!executionStartTime) {
    throw new InvalidStageInput('StartTraining: executionStartTime is missing: the task payload must carry $$.Execution.StartTime (docs/architecture.md)');
  }
  const championModelDataUri = await readChampionModelDataUri(deps.s3, env.artifactsBucket);
  const request = buildCreateTrainingJobRequest({
    executionName,
    executionStartTime,
    config: env.config,
    dataset: state.dataset,
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    roleArn: env.sagemakerRoleArn,
    imageUri: env.trainingImageUri,
    codeUri: env.trainingCodeUri,
    region: await deps.sagemaker.config.region(),
    championModelDataUri,
    schemaUri: state.validation?.schemaUri,
  });
  const jobName = request.TrainingJobName!;
  try {
    await deps.sagemaker.send(new CreateTrainingJobCommand(request));
  } catch (err) {
    if ((err as Error).name === 'ResourceInUse') {
      // The name is taken: by an earlier attempt of this execution (a retry), or by an earlier execution of the same
      // name (Step Functions allows a name again 90 days after). Only the job's tags tell; never adopt another's.
      const existing = await deps.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }));
      const ownership = ownershipOf(await listTags(deps.sagemaker, existing.TrainingJobArn!), { executionName, startTime: executionStartTime });
      if (ownership.owner === 'other') {
        throw new TrainingFailed(
          `training job ${jobName} already exists and is not this execution's: ${ownership.detail} (job created ${existing.CreationTime?.toISOString() ?? 'at an unknown time'}, ` +
            `${existing.TrainingJobStatus}). Execution names must be unique per run: start this run again under a new name`,
          { cause: err },
        );
      }
      logger.info('StartTraining: the job already exists (an earlier attempt of this execution created it)', { jobName });
      return trainingRefOf(existing);
    }
    if (isTransient(err)) throw err;
    const e = err as Error;
    throw new TrainingFailed(`SageMaker refused to create training job ${jobName}: ${e.name}: ${e.message}`, { cause: err });
  }
  logger.info('StartTraining: job created', { jobName, champion: championModelDataUri ?? null, image: env.trainingImageUri });
  return { jobName, status: 'InProgress', done: false, ...(championModelDataUri ? { championModelDataUri } : {}) };
}
