import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DescribeModelPackageCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { s3Client, sageMakerClient } from '../shared/clients';
import { ChampionRecord, ChampionRecordSchema, Layout, ModelManifest, ModelManifestSchema, RollbackRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { RollbackRefused } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJsonIfExists, parseS3Uri } from '../shared/s3';
import { isSageMakerNotFound, SUBMIT_DIRECTORY_IN_MODEL } from '../shared/sagemaker';
import { describeEndpoint, ENDPOINT_CHANGING, pendingConfigOf } from '../deploy/endpoint';
import { championHistoryKey } from '../promote-baseline/core';
import { findPackageOfExecution } from '../register/core';

export interface ResolveRollbackDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
}

const defaultDeps = (): ResolveRollbackDeps => ({ s3: s3Client(), sagemaker: sageMakerClient() });

/** Where championHistoryKey files the champions that were replaced (PromoteBaseline and RestoreChampion). */
export const CHAMPION_HISTORY_PREFIX = championHistoryKey('').replace(/\.json$/, '');

/** Every record under champion/history/, parsed (a file that is not a record is skipped with a warning). */
export async function readChampionHistory(s3: S3Client, bucket: string): Promise<ChampionRecord[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: CHAMPION_HISTORY_PREFIX, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const records: ChampionRecord[] = [];
  for (const key of keys) {
    const parsed = ChampionRecordSchema.safeParse(await getJsonIfExists(s3, bucket, key));
    if (parsed.success) records.push(parsed.data);
    else logger.warn('not a champion record, skipped', { key, issue: parsed.error.issues[0]?.message });
  }
  return records;
}

/**
 * The champion before `current`: the most recently promoted history record that is not the current model, was not
 * itself rolled back (a model taken off by a rollback is never put back by default) and was promoted before it.
 */
export function previousChampion(current: ChampionRecord, history: readonly ChampionRecord[]): ChampionRecord | undefined {
  return history
    .filter((r) => r.executionName !== current.executionName && !r.rolledBack && r.promotedAt < current.promotedAt)
    .sort((a, b) => (a.promotedAt < b.promotedAt ? 1 : a.promotedAt > b.promotedAt ? -1 : 0))[0];
}

const PACKAGE_ARN = /^arn:aws[a-z-]*:sagemaker:[^:]*:\d{12}:model-package\/.+$/;

/** runs/<exec>/model/manifest.json next to a self-contained model.tar.gz, or undefined for an archive relearn did not pack. */
export function manifestKeyOf(modelDataUrl: string, artifactsBucket: string): string | undefined {
  const { bucket, key } = parseS3Uri(modelDataUrl);
  const m = /^(runs\/.+\/model\/)model\.tar\.gz$/.exec(key);
  return bucket === artifactsBucket && m ? `${m[1]}manifest.json` : undefined;
}

async function readManifest(s3: S3Client, bucket: string, key: string, what: string): Promise<ModelManifest> {
  const raw = await getJsonIfExists(s3, bucket, key);
  if (raw === undefined) throw new RollbackRefused(`${what}: s3://${bucket}/${key} does not exist: it was not packaged with its serving code (PackageModel), so it cannot be deployed again`);
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) throw new RollbackRefused(`${what}: s3://${bucket}/${key} is not a model manifest (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** True when the object exists (or, for a prefix ending in `/`, when something is under it). */
async function present(s3: S3Client, uri: string): Promise<boolean> {
  const { bucket, key } = parseS3Uri(uri);
  const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 10 }));
  return (res.Contents ?? []).some((o) => o.Key === key || (key.endsWith('/') && o.Key?.startsWith(key)));
}

interface Target {
  readonly executionName: string;
  readonly modelPackageArn: string;
  readonly manifest: ModelManifest;
  readonly manifestUri: string;
}

/**
 * ResolveRollback, the first state of the rollback state machine: decides what goes back on the endpoint, or
 * refuses (RollbackRefused) before anything changes:
 * - while the endpoint is changing (Creating, Updating, RollingBack, ...): an update in flight is never raced;
 * - with no champion to go back from (default target) or no previous champion;
 * - when the target is the champion the endpoint already serves;
 * - when the target is not an Approved model package, not self-contained, or its baselines or verification data
 *   (statistics, schema, validation split, offline predictions) are gone.
 * `request.to` names an execution (its champion history record, else its packaged model) or a model package ARN.
 * Its result (`$.rollback`) is the request with `target` and `from`; the state machine then hands the target to the
 * same Deploy that puts a retrained model on the endpoint, as an Approved registration.
 */
export async function resolveRollback(event: StageEvent, env: LambdaEnv, deps: ResolveRollbackDeps = defaultDeps()): Promise<RollbackRef> {
  const { state } = event;
  const request = state.rollback?.request ?? {};
  const { s3, sagemaker } = deps;
  const bucket = env.artifactsBucket;

  // 1. Never race an update in flight.
  const endpoint = await describeEndpoint(sagemaker, env.endpointName);
  const status = endpoint?.EndpointStatus ?? 'NotFound';
  if (endpoint && ENDPOINT_CHANGING.has(status)) {
    const pending = pendingConfigOf(endpoint);
    throw new RollbackRefused(
      `endpoint ${env.endpointName} is ${status}${pending ? ` (to ${pending})` : ''}: an update is in flight, and a rollback never races one. Nothing was changed; roll back once it is InService`,
    );
  }

  // 2. The champion now, and the one to go back to.
  const currentRaw = await getJsonIfExists(s3, bucket, Layout.champion);
  const currentParsed = currentRaw === undefined ? undefined : ChampionRecordSchema.safeParse(currentRaw);
  if (currentParsed && !currentParsed.success) throw new RollbackRefused(`s3://${bucket}/${Layout.champion} is not a champion record: fix it before rolling back`);
  const current = currentParsed?.data;
  const target = await resolveTarget(request.to, current, env, deps);

  // 3. Not the model that already serves.
  if (current && target.executionName === current.executionName && endpoint?.EndpointConfigName === current.endpointConfigName && status === 'InService') {
    throw new RollbackRefused(`${target.executionName} is already the champion and endpoint ${env.endpointName} serves it (${current.endpointConfigName}): nothing to roll back to`);
  }

  // 4. Only an approved model that carries its code, with everything it is verified and validated against.
  const pkg = await sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: target.modelPackageArn })).catch((err: unknown) => {
    if (isSageMakerNotFound(err)) throw new RollbackRefused(`model package ${target.modelPackageArn} does not exist`);
    throw err;
  });
  if (pkg.ModelApprovalStatus !== 'Approved') {
    throw new RollbackRefused(
      `model package ${target.modelPackageArn} (${target.executionName}) is ${pkg.ModelApprovalStatus}, not Approved: a rollback only restores approved models (approve it in the model registry first if you mean to)`,
    );
  }
  const container = pkg.InferenceSpecification?.Containers?.[0];
  if (container?.ModelDataUrl !== target.manifest.model.modelDataUri || container.Environment?.SAGEMAKER_SUBMIT_DIRECTORY !== SUBMIT_DIRECTORY_IN_MODEL) {
    throw new RollbackRefused(
      `model package ${target.modelPackageArn} does not serve the self-contained model ${target.manifest.model.modelDataUri} (its container: ${container?.ModelDataUrl ?? 'none'}, ` +
        `SAGEMAKER_SUBMIT_DIRECTORY ${container?.Environment?.SAGEMAKER_SUBMIT_DIRECTORY ?? 'unset'})`,
    );
  }
  const m = target.manifest;
  const needed: [string, string][] = [
    ['the model archive', m.model.modelDataUri],
    ['its statistics baseline', m.statsUri],
    ['its schema baseline', m.schemaUri],
    ['its validation split', m.dataset.validationUri],
    ['its offline predictions', m.outputDataUri],
  ];
  for (const [what, uri] of needed) {
    if (!(await present(s3, uri))) throw new RollbackRefused(`${target.executionName}: ${what} ${uri} is gone: the model cannot be restored with the baselines that travel with it`);
  }

  logger.info('ResolveRollback: target', { target: target.executionName, package: target.modelPackageArn, from: current?.executionName ?? null, endpointStatus: status });
  return {
    request,
    target: {
      executionName: target.executionName,
      modelPackageArn: target.modelPackageArn,
      manifestUri: target.manifestUri,
      validationUri: m.dataset.validationUri,
      outputDataUri: m.outputDataUri,
      schemaUri: m.schemaUri,
    },
    ...(current ? { from: { executionName: current.executionName, modelPackageArn: current.modelPackageArn, endpointConfigName: current.endpointConfigName } } : {}),
  };
}

async function resolveTarget(to: string | undefined, current: ChampionRecord | undefined, env: LambdaEnv, deps: ResolveRollbackDeps): Promise<Target> {
  const { s3, sagemaker } = deps;
  const bucket = env.artifactsBucket;
  const fromRecord = async (record: ChampionRecord, what: string): Promise<Target> => {
    const key = manifestKeyOf(record.modelDataUri, bucket);
    if (!key) throw new RollbackRefused(`${what} ${record.executionName}: its model ${record.modelDataUri} was not packaged with its serving code, so it cannot be deployed again`);
    return { executionName: record.executionName, modelPackageArn: record.modelPackageArn, manifest: await readManifest(s3, bucket, key, what), manifestUri: `s3://${bucket}/${key}` };
  };

  if (to === undefined) {
    if (!current) throw new RollbackRefused(`there is no champion (s3://${bucket}/${Layout.champion}): nothing to roll back from`);
    const previous = previousChampion(current, await readChampionHistory(s3, bucket));
    if (!previous) throw new RollbackRefused(`champion ${current.executionName} has no previous champion to roll back to (champion/history/ holds none that was not rolled back itself); name one with --to`);
    return fromRecord(previous, 'the previous champion');
  }

  if (PACKAGE_ARN.test(to)) {
    const pkg = await sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: to })).catch((err: unknown) => {
      if (isSageMakerNotFound(err)) throw new RollbackRefused(`model package ${to} does not exist`);
      throw err;
    });
    const url = pkg.InferenceSpecification?.Containers?.[0]?.ModelDataUrl;
    const key = url ? manifestKeyOf(url, bucket) : undefined;
    if (!key) throw new RollbackRefused(`model package ${to}: its model ${url ?? '(none)'} is not a model relearn packaged with its serving code (s3://${bucket}/runs/<execution>/model/model.tar.gz)`);
    const manifest = await readManifest(s3, bucket, key, `model package ${to}`);
    return { executionName: manifest.executionName, modelPackageArn: to, manifest, manifestUri: `s3://${bucket}/${key}` };
  }

  // An execution name: its champion record (current or filed), else the model it packaged and the package it registered.
  if (current?.executionName === to) return fromRecord(current, 'the champion');
  const filed = await getJsonIfExists(s3, bucket, championHistoryKey(to));
  const record = filed === undefined ? undefined : ChampionRecordSchema.safeParse(filed);
  if (record?.success) return fromRecord(record.data, 'champion');
  const key = `${Layout.model(to)}manifest.json`;
  const manifest = await readManifest(s3, bucket, key, `execution ${to}`);
  const registered = await findPackageOfExecution(sagemaker, env.modelPackageGroup, to);
  if (!registered) throw new RollbackRefused(`execution ${to} has no model package among the ${env.modelPackageGroup} group's newest: name the package ARN with --to`);
  return { executionName: to, modelPackageArn: registered.modelPackageArn, manifest, manifestUri: `s3://${bucket}/${key}` };
}
