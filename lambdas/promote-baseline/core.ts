import { S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../shared/clients';
import { ChampionRecord, ChampionRecordSchema, Layout, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJsonIfExists, putJson, s3Uri } from '../shared/s3';

export interface PromoteBaselineDeps {
  readonly s3: S3Client;
  /** @default - the current time */
  readonly now?: () => Date;
}

/** champion/history/<executionName>.json: the record of each champion that was replaced, by the run that promoted it. */
export const championHistoryKey = (executionName: string): string => `champion/history/${executionName}.json`;

/**
 * PromoteBaseline: the verified model becomes the champion. Writes champion/current.json (the model and the
 * baselines that travel with it: dataset, statistics, schema, evaluation), after copying the record it
 * replaces to champion/history/<that run's executionName>.json, so no champion is ever lost. Retried, it
 * rewrites the same record (keeping its promotedAt) and never files itself as its own predecessor.
 */
export async function promoteBaseline(event: StageEvent, env: LambdaEnv, deps: PromoteBaselineDeps = { s3: s3Client() }): Promise<{ championUri: string }> {
  const { executionName, state } = event;
  const missing = (['dataset', 'validation', 'training', 'evaluation', 'registration', 'deployment', 'serving'] as const).filter((k) => !state[k]);
  if (missing.length > 0) throw new InvalidStageInput(`PromoteBaseline: the state lacks ${missing.join(', ')}: it runs after VerifyServing`);
  const { dataset, validation, training, evaluation, registration, deployment } = state as Required<typeof state>;
  if (!training.modelDataUri) throw new InvalidStageInput('PromoteBaseline: state.training.modelDataUri is missing');

  const { s3 } = deps;
  const bucket = env.artifactsBucket;
  const previousRaw = await getJsonIfExists(s3, bucket, Layout.champion);
  const previous = previousRaw === undefined ? undefined : ChampionRecordSchema.safeParse(previousRaw);
  if (previous && !previous.success) {
    // Never overwrite what we cannot read: a person must look at it.
    throw new Error(`s3://${bucket}/${Layout.champion} is not a champion record (${previous.error.issues[0].path.join('.')}: ${previous.error.issues[0].message}); not overwriting it`);
  }
  const retry = previous?.data.executionName === executionName;

  const record: ChampionRecord = ChampionRecordSchema.parse({
    executionName,
    promotedAt: retry ? previous!.data!.promotedAt : (deps.now?.() ?? new Date()).toISOString(),
    modelPackageArn: registration.modelPackageArn,
    modelName: deployment.modelName,
    endpointName: deployment.endpointName,
    endpointConfigName: deployment.endpointConfigName,
    // The self-contained archive (code inside): what a rollback deploys again, and the next run's champion channel.
    modelDataUri: state.model?.modelDataUri ?? training.modelDataUri,
    datasetId: dataset.datasetId,
    datasetUri: dataset.uri,
    statsUri: validation.statsUri,
    schemaUri: validation.schemaUri,
    evaluationUri: evaluation.evaluationUri,
    primaryMetric: { name: evaluation.primaryMetric.name, value: evaluation.primaryMetric.candidate },
  });

  // History first, then current: a failure in between leaves the old champion current and also filed.
  if (previous?.data && !retry) {
    await putJson(s3, bucket, championHistoryKey(previous.data.executionName), previous.data, { kmsKeyArn: env.kmsKeyArn });
  }
  await putJson(s3, bucket, Layout.champion, record, { kmsKeyArn: env.kmsKeyArn });
  logger.info('PromoteBaseline: new champion', { modelName: record.modelName, replaced: previous?.data?.executionName });
  return { championUri: s3Uri(bucket, Layout.champion) };
}
