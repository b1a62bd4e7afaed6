import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient, UpdateModelPackageCommand } from '@aws-sdk/client-sagemaker';
import { s3Client, sageMakerClient } from '../shared/clients';
import { ChampionRecord, ChampionRecordSchema, Layout, ModelManifestSchema, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { tagSafe } from '../shared/names';
import { getJson, getJsonIfExists, parseS3Uri, putJson, s3Uri } from '../shared/s3';
import { championHistoryKey } from '../promote-baseline/core';

export interface RestoreChampionDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  /** @default - the current time */
  readonly now?: () => Date;
}

const defaultDeps = (): RestoreChampionDeps => ({ s3: s3Client(), sagemaker: sageMakerClient() });

export interface RestoreChampionResult {
  readonly championUri: string;
  /** What the model registry says now, or why it could not be told (the rollback itself stands). */
  readonly registry: readonly string[];
}

/**
 * RestoreChampion, after VerifyServing in the rollback state machine: the restored model is the champion again.
 * 1. champion/history/<replaced>.json: the champion it replaces, marked `rolledBack` (never a default target again).
 * 2. champion/current.json: the target's record (its model, dataset, statistics and schema baselines, evaluation,
 *    from its manifest), on this rollback's endpoint config, marked `restored`. The next retrain validates against
 *    these baselines and scores this model as its champion.
 * 3. The model registry: the restored package's ApprovalDescription and metadata say when and by which execution;
 *    the replaced package's say it was rolled back. A registry that refuses is reported, not fatal: the endpoint
 *    serves the verified model and the champion record says so.
 * A retry finds current.json already restored by this execution and writes the same again.
 */
export async function restoreChampion(event: StageEvent, env: LambdaEnv, deps: RestoreChampionDeps = defaultDeps()): Promise<RestoreChampionResult> {
  const { executionName, state } = event;
  const target = state.rollback?.target;
  const deployment = state.deployment;
  if (!target || !deployment || !state.serving) throw new InvalidStageInput('RestoreChampion: the state lacks rollback.target, deployment or serving: it runs after VerifyServing');
  const { s3, sagemaker } = deps;
  const bucket = env.artifactsBucket;
  const now = (deps.now?.() ?? new Date()).toISOString();

  const { bucket: mb, key: mk } = parseS3Uri(target.manifestUri);
  const manifest = ModelManifestSchema.parse(await getJson(s3, mb, mk));
  const currentRaw = await getJsonIfExists(s3, bucket, Layout.champion);
  const parsedCurrent = currentRaw === undefined ? undefined : ChampionRecordSchema.safeParse(currentRaw);
  if (parsedCurrent && !parsedCurrent.success) throw new Error(`s3://${bucket}/${Layout.champion} is not a champion record: not overwriting it`);
  const current = parsedCurrent?.data;
  const retry = current?.restored?.by === executionName;
  const replaced = retry ? undefined : current;

  const record: ChampionRecord = ChampionRecordSchema.parse({
    executionName: target.executionName,
    promotedAt: retry ? current!.promotedAt : now,
    modelPackageArn: target.modelPackageArn,
    modelName: deployment.modelName,
    endpointName: deployment.endpointName,
    endpointConfigName: deployment.endpointConfigName,
    modelDataUri: manifest.model.modelDataUri,
    datasetId: manifest.dataset.datasetId,
    datasetUri: manifest.dataset.uri,
    statsUri: manifest.statsUri,
    schemaUri: manifest.schemaUri,
    evaluationUri: manifest.evaluationUri,
    primaryMetric: manifest.primaryMetric,
    restored: retry ? current!.restored : { at: now, by: executionName, ...(replaced ? { replacedExecutionName: replaced.executionName } : {}) },
  });

  // History first, then current: a failure in between leaves the replaced champion current and also filed.
  if (replaced) {
    await putJson(s3, bucket, championHistoryKey(replaced.executionName), { ...replaced, rolledBack: { at: now, by: executionName, restoredExecutionName: target.executionName } }, { kmsKeyArn: env.kmsKeyArn });
  }
  await putJson(s3, bucket, Layout.champion, record, { kmsKeyArn: env.kmsKeyArn });

  const registry: string[] = [];
  const update = async (arn: string, description: string, metadata: Record<string, string>, approve: boolean) => {
    try {
      await sagemaker.send(
        new UpdateModelPackageCommand({
          ModelPackageArn: arn,
          ...(approve ? { ModelApprovalStatus: 'Approved' } : {}),
          ApprovalDescription: description,
          CustomerMetadataProperties: metadata,
        }),
      );
      registry.push(`${arn}: ${description}`);
    } catch (err) {
      const e = err as Error;
      logger.error('RestoreChampion: the model registry refused the update', { arn, error: e.name, message: e.message });
      registry.push(`could not record the rollback on ${arn} (${e.name}: ${e.message})`);
    }
  };
  const by = tagSafe(executionName);
  await update(
    target.modelPackageArn,
    `champion again since ${now}: restored by rollback ${executionName}${replaced ? `, replacing ${replaced.executionName}` : ''}`.slice(0, 1024),
    { restoredAt: now, restoredBy: by },
    true,
  );
  if (replaced && replaced.modelPackageArn !== target.modelPackageArn) {
    await update(replaced.modelPackageArn, `rolled back at ${now} by ${executionName}: ${target.executionName} serves instead`.slice(0, 1024), { rolledBackAt: now, rolledBackBy: by }, false);
  }
  logger.info('RestoreChampion: champion restored', { champion: target.executionName, replaced: replaced?.executionName ?? null, retry });
  return { championUri: s3Uri(bucket, Layout.champion), registry };
}
