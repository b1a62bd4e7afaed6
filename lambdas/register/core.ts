import {
  CreateModelPackageCommand, CreateModelPackageCommandInput, DescribeModelPackageCommand, ListModelPackagesCommand, ModelApprovalStatus, ProductionVariantInstanceType,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { createHash } from 'node:crypto';
import { RegistrationRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';

/** How many of the group's newest packages a retry looks through for its own. */
const RECENT = 50;
const DESCRIPTION_PREFIX = 'relearn run ';

/** The approval status a verdict earns: Rejected on a failed gate; a person decides when the config says so. */
export function approvalStatusFor(deploy: boolean, approval: 'auto' | 'manual'): RegistrationRef['approvalStatus'] {
  if (!deploy) return 'Rejected';
  return approval === 'manual' ? 'PendingManualApproval' : 'Approved';
}

/** SageMaker's idempotency token for this execution's package (<= 36 characters of [a-zA-Z0-9-]). */
export const clientTokenFor = (executionName: string): string => `relearn-${createHash('sha256').update(executionName).digest('hex').slice(0, 28)}`;

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 3)}...` : s);

/** The CreateModelPackage request for a run: the serving container, the metrics and where the data came from. */
export function modelPackageRequest(event: StageEvent, env: LambdaEnv, region: string): CreateModelPackageCommandInput {
  const { executionName, state } = event;
  const evaluation = state.evaluation;
  const training = state.training;
  if (!evaluation) throw new InvalidStageInput('Register: state.evaluation is missing');
  if (!training?.modelDataUri) throw new InvalidStageInput('Register: state.training.modelDataUri is missing');
  const config = env.config;
  const status = approvalStatusFor(evaluation.deploy, config.evaluation.approval);
  const pm = evaluation.primaryMetric;
  const metadata: Record<string, string> = {
    executionName,
    datasetId: state.dataset?.datasetId ?? 'unknown',
    primaryMetric: `${pm.name}=${pm.candidate ?? 'n/a'}`,
    championPrimaryMetric: `${pm.name}=${pm.champion ?? 'none'}`,
    gate: evaluation.deploy ? 'passed' : 'failed',
    decisionUri: evaluation.decisionUri,
    reportUri: evaluation.reportUri,
  };
  for (const k of Object.keys(metadata)) metadata[k] = clip(metadata[k], 256);
  return {
    ModelPackageGroupName: env.modelPackageGroup,
    ModelPackageDescription: clip(`${DESCRIPTION_PREFIX}${executionName}: ${evaluation.reasons[0] ?? (evaluation.deploy ? 'gate passed' : 'gate failed')}`, 1024),
    InferenceSpecification: {
      Containers: [
        {
          Image: env.trainingImageUri,
          ModelDataUrl: training.modelDataUri,
          Environment: {
            SAGEMAKER_PROGRAM: config.training.entryPoint,
            SAGEMAKER_SUBMIT_DIRECTORY: env.trainingCodeUri,
            SAGEMAKER_CONTAINER_LOG_LEVEL: '20',
            SAGEMAKER_REGION: region,
          },
        },
      ],
      SupportedContentTypes: ['text/csv', 'application/json'],
      SupportedResponseMIMETypes: ['application/json'],
      SupportedRealtimeInferenceInstanceTypes: [config.deployment.instanceType as ProductionVariantInstanceType],
    },
    // the candidate's metrics in the registry's own format (runs before it had one: evaluation.json)
    ModelMetrics: { ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: evaluation.modelQualityUri ?? evaluation.evaluationUri } } },
    CustomerMetadataProperties: metadata,
    ModelApprovalStatus: status as ModelApprovalStatus,
    ClientToken: clientTokenFor(executionName),
  };
}

/**
 * Register: every evaluated candidate becomes a version in the model package group, Approved, Pending or
 * Rejected. Idempotent: a retry finds its own package (by the execution name in its description and
 * metadata) before creating one, and SageMaker's ClientToken covers a retry racing the first call.
 */
export async function registerStage(event: StageEvent, env: LambdaEnv, deps: { sagemaker: SageMakerClient; region?: string }): Promise<RegistrationRef> {
  const { sagemaker } = deps;
  const region = deps.region ?? (await sagemaker.config.region());
  const request = modelPackageRequest(event, env, region);
  const existing = await findOwnPackage(sagemaker, env.modelPackageGroup, event.executionName);
  if (existing) return existing;
  const created = await sagemaker.send(new CreateModelPackageCommand(request));
  if (!created.ModelPackageArn) throw new Error('Register: CreateModelPackage returned no ModelPackageArn');
  const approvalStatus = request.ModelApprovalStatus as RegistrationRef['approvalStatus'];
  return { modelPackageArn: created.ModelPackageArn, approvalStatus, promote: approvalStatus === 'Approved' };
}

async function findOwnPackage(sagemaker: SageMakerClient, group: string, executionName: string): Promise<RegistrationRef | undefined> {
  const list = await sagemaker.send(
    new ListModelPackagesCommand({ ModelPackageGroupName: group, SortBy: 'CreationTime', SortOrder: 'Descending', MaxResults: RECENT }),
  );
  const prefix = `${DESCRIPTION_PREFIX}${executionName}:`;
  for (const summary of list.ModelPackageSummaryList ?? []) {
    if (!summary.ModelPackageArn || !summary.ModelPackageDescription?.startsWith(prefix)) continue;
    const pkg = await sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: summary.ModelPackageArn }));
    if (pkg.CustomerMetadataProperties?.executionName !== executionName) continue;
    const approvalStatus = (pkg.ModelApprovalStatus ?? summary.ModelApprovalStatus) as RegistrationRef['approvalStatus'];
    return { modelPackageArn: summary.ModelPackageArn, approvalStatus, promote: approvalStatus === 'Approved' };
  }
  return undefined;
}
