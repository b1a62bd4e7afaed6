import { DeleteEndpointCommand, DescribeEndpointCommand, DescribeEndpointCommandOutput, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { Layout } from '../shared/contracts';
import { getJsonIfExists, putJson } from '../shared/s3';
import { isAlreadyExists, isSageMakerNotFound } from '../shared/sagemaker';

export { isAlreadyExists, isSageMakerNotFound };

/**
 * What Deploy, CheckEndpoint, VerifyServing and Notify share about the endpoint: reading it, recognising
 * SageMaker's "already exists" / "not found" answers, the deployment record, and the one rollback.
 */

export type Endpoint = DescribeEndpointCommandOutput;

/** Statuses in which SageMaker is already changing the endpoint: nobody may start another change (Deploy, rollbacks). */
export const ENDPOINT_CHANGING: ReadonlySet<string> = new Set(['Creating', 'Updating', 'SystemUpdating', 'RollingBack', 'UpdateRollbackFailed']);

/** DescribeEndpoint, or undefined when there is no such endpoint. */
export async function describeEndpoint(sagemaker: SageMakerClient, endpointName: string): Promise<Endpoint | undefined> {
  try {
    return await sagemaker.send(new DescribeEndpointCommand({ EndpointName: endpointName }));
  } catch (err) {
    if (isSageMakerNotFound(err)) return undefined;
    throw err;
  }
}

/** The endpoint config an in-flight update is moving to (SageMaker reports it while Updating). */
export const pendingConfigOf = (endpoint: Endpoint): string | undefined => endpoint.PendingDeploymentSummary?.EndpointConfigName;

/**
 * runs/<exec>/deployment.json: what Deploy did to the endpoint, written before (issued: false) and after
 * (issued: true) the CreateEndpoint/UpdateEndpoint call. A retried Deploy reads it, so it never issues the
 * update twice and still knows the rollback target after the endpoint stopped reporting it.
 */
export const DeploymentRecordSchema = z.object({
  executionName: z.string(),
  endpointName: z.string(),
  modelName: z.string(),
  endpointConfigName: z.string(),
  previousEndpointConfigName: z.string().optional(),
  action: z.enum(['create', 'update']),
  issued: z.boolean(),
  at: z.string(),
  /** `$$.Execution.StartTime` of the execution that wrote it: a later execution of the same name is another run. */
  executionStartTime: z.string().optional(),
});
export type DeploymentRecord = z.infer<typeof DeploymentRecordSchema>;

export const deploymentRecordKey = (executionName: string): string => `${Layout.run(executionName)}deployment.json`;

export async function readDeploymentRecord(s3: S3Client, bucket: string, executionName: string): Promise<DeploymentRecord | undefined> {
  const raw = await getJsonIfExists(s3, bucket, deploymentRecordKey(executionName));
  if (raw === undefined) return undefined;
  const parsed = DeploymentRecordSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`s3://${bucket}/${deploymentRecordKey(executionName)} is not a deployment record: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

export async function writeDeploymentRecord(s3: S3Client, bucket: string, record: DeploymentRecord, kmsKeyArn: string): Promise<void> {
  await putJson(s3, bucket, deploymentRecordKey(record.executionName), record, { kmsKeyArn });
}

export interface RollbackTarget {
  readonly endpointName: string;
  /** This run's config: rollback only happens while the endpoint serves it. */
  readonly endpointConfigName: string;
  /** The config that served before this run; absent on a first deploy (then the endpoint is deleted). */
  readonly previousEndpointConfigName?: string;
}

export interface RollbackResult {
  readonly action: 'updated' | 'deleted' | 'none';
  /** One sentence for logs and notifications. */
  readonly detail: string;
}

/**
 * Puts the endpoint back to what served before this run: UpdateEndpoint to the previous config, or, on a first
 * deploy, DeleteEndpoint (there was nothing before). Acts only when the endpoint serves this run's config
 * (InService, or Failed on a first deploy); in any other state it changes nothing and says why.
 */
export async function rollBackEndpoint(sagemaker: SageMakerClient, target: RollbackTarget): Promise<RollbackResult> {
  const endpoint = await describeEndpoint(sagemaker, target.endpointName);
  if (!endpoint) return { action: 'none', detail: `endpoint ${target.endpointName} does not exist: nothing to roll back` };
  const status = endpoint.EndpointStatus;
  const current = endpoint.EndpointConfigName;
  if (status === 'Deleting') return { action: 'none', detail: `endpoint ${target.endpointName} is being deleted: nothing to roll back` };
  if (pendingConfigOf(endpoint) === target.endpointConfigName) {
    const back = target.previousEndpointConfigName
      ? `aws sagemaker update-endpoint --endpoint-name ${target.endpointName} --endpoint-config-name ${target.previousEndpointConfigName}`
      : `aws sagemaker delete-endpoint --endpoint-name ${target.endpointName}`;
    return { action: 'none', detail: `endpoint ${target.endpointName} is ${status} to this run's ${target.endpointConfigName} and cannot be stopped mid-update: once it is InService, roll back by hand (${back})` };
  }
  if (current !== target.endpointConfigName) {
    return { action: 'none', detail: `endpoint ${target.endpointName} serves ${current}, not this run's ${target.endpointConfigName}: nothing to roll back` };
  }
  if (target.previousEndpointConfigName) {
    if (status !== 'InService') {
      return { action: 'none', detail: `endpoint ${target.endpointName} is ${status}: cannot roll back to ${target.previousEndpointConfigName} now; check it` };
    }
    await sagemaker.send(new UpdateEndpointCommand({ EndpointName: target.endpointName, EndpointConfigName: target.previousEndpointConfigName }));
    return { action: 'updated', detail: `endpoint ${target.endpointName} is rolling back to ${target.previousEndpointConfigName}` };
  }
  if (status !== 'InService' && status !== 'Failed') {
    return { action: 'none', detail: `endpoint ${target.endpointName} is ${status}: cannot delete it now; check it` };
  }
  try {
    await sagemaker.send(new DeleteEndpointCommand({ EndpointName: target.endpointName }));
  } catch (err) {
    if (!isSageMakerNotFound(err)) throw err;
  }
  return { action: 'deleted', detail: `endpoint ${target.endpointName} was created by this run and has been deleted (first deploy: nothing served before)` };
}
