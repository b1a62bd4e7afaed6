import {
  CreateModelPackageCommand, CreateModelPackageCommandInput, DescribeModelPackageCommand, ListModelPackagesCommand, ModelApprovalStatus, ProductionVariantInstanceType,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { createHash } from 'node:crypto';
import { RegistrationRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { descriptionSafe, tagSafe } from '../shared/names';
import { canonicalStartTime, servingContainer } from '../shared/sagemaker';

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

/** The CreateModelPackage request for a run: the serving container, the metrics and where the data came from. */
export function modelPackageRequest(event: StageEvent, env: LambdaEnv, region: string): CreateModelPackageCommandInput {
  const { executionName, state } = event;
  const evaluation = state.evaluation;
  const model = state.model;
  if (!evaluation) throw new InvalidStageInput('Register: state.evaluation is missing');
  if (!model) throw new InvalidStageInput('Register: state.model is missing: Register runs after PackageModel');
  const config = env.config;
  const status = approvalStatusFor(evaluation.deploy, config.evaluation.approval);
  const pm = evaluation.primaryMetric;
  // Values must match SageMaker's CustomerMetadataValue pattern: tagSafe keeps those that do and encodes the rest
  // (an execution name with quotes or parentheses, and the S3 URIs that hold it).
  const metadata: Record<string, string> = {
    executionName: tagSafe(executionName),
    ...(event.executionStartTime ? { executionStartTime: canonicalStartTime(event.executionStartTime) } : {}),
    datasetId: tagSafe(state.dataset?.datasetId ?? 'unknown'),
    primaryMetric: tagSafe(`${pm.name}=${pm.candidate ?? 'n/a'}`),
    championPrimaryMetric: tagSafe(`${pm.name}=${pm.champion ?? 'none'}`),
    gate: evaluation.deploy ? 'passed' : 'failed',
    decisionUri: tagSafe(evaluation.decisionUri),
    reportUri: tagSafe(evaluation.reportUri),
    modelSha256: model.sha256,
    codeUri: tagSafe(model.codeUri),
  };
  return {
    ModelPackageGroupName: env.modelPackageGroup,
    ModelPackageDescription: descriptionSafe(`${DESCRIPTION_PREFIX}${executionName}: ${evaluation.reasons[0] ?? (evaluation.deploy ? 'gate passed' : 'gate failed')}`),
    InferenceSpecification: {
      // The self-contained model: the code is inside it, SAGEMAKER_SUBMIT_DIRECTORY points there.
      Containers: [servingContainer({ image: env.trainingImageUri, modelDataUri: model.modelDataUri, entryPoint: config.training.entryPoint, region })],
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
  const existing = await findPackageOfExecution(sagemaker, env.modelPackageGroup, event.executionName, event.executionStartTime);
  if (existing) return existing;
  const created = await sagemaker.send(new CreateModelPackageCommand(request));
  if (!created.ModelPackageArn) throw new Error('Register: CreateModelPackage returned no ModelPackageArn');
  const approvalStatus = request.ModelApprovalStatus as RegistrationRef['approvalStatus'];
  return { modelPackageArn: created.ModelPackageArn, approvalStatus, promote: approvalStatus === 'Approved' };
}

/**
 * The package an execution registered, among the group's newest: found by the execution name in its description
 * and metadata (and, when both know it, the execution's start time: a name used again is another run).
 */
export async function findPackageOfExecution(
  sagemaker: SageMakerClient,
  group: string,
  executionName: string,
  executionStartTime?: string,
): Promise<RegistrationRef | undefined> {
  const list = await sagemaker.send(
    new ListModelPackagesCommand({ ModelPackageGroupName: group, SortBy: 'CreationTime', SortOrder: 'Descending', MaxResults: RECENT }),
  );
  const prefix = descriptionSafe(`${DESCRIPTION_PREFIX}${executionName}:`);
  for (const summary of list.ModelPackageSummaryList ?? []) {
    if (!summary.ModelPackageArn || !summary.ModelPackageDescription?.startsWith(prefix)) continue;
    const pkg = await sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: summary.ModelPackageArn }));
    const meta = pkg.CustomerMetadataProperties ?? {};
    if (meta.executionName !== tagSafe(executionName)) continue;
    // An earlier execution of the same name registered it: not this run's package.
    if (executionStartTime && meta.executionStartTime && meta.executionStartTime !== canonicalStartTime(executionStartTime)) continue;
    const approvalStatus = (pkg.ModelApprovalStatus ?? summary.ModelApprovalStatus) as RegistrationRef['approvalStatus'];
    return { modelPackageArn: summary.ModelPackageArn, approvalStatus, promote: approvalStatus === 'Approved' };
  }
  return undefined;
}
