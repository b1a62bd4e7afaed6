import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';

/**
 * Every cdk-nag finding relearn accepts, in one reviewed place, each with its reason.
 *
 * An entry matches a finding by rule id (with its `[finding]` part) and by the construct path of the resource it is
 * on, relative to the RetrainingPipeline (so the same entries hold wherever a platform team puts the construct, and
 * for every pipeline of an app). Each RetrainingPipeline acknowledges exactly the findings that match an entry, on
 * that resource only, when the app is validated (lib/constructs/retraining-pipeline.ts, step 8): an app's own
 * `AwsSolutionsChecks` then passes, and anything else stays a finding and fails the synth. `Resource::*` is accepted
 * only when every action granted on `*` is one of RESOURCE_STAR_ACTIONS: adding `s3:*` on `*` to a role still fails.
 */
export interface ReviewedFinding {
  /**
   * Matched against the full finding id, e.g. `AwsSolutions-IAM5[Resource::<ArtifactsBucket...Arn>/datasets/*]`. The
   * pipeline's buckets are named as cdk-nag prints their ARNs (`arns`), whatever bucket and stack they are.
   */
  readonly finding: (arns: BucketArns) => RegExp;
  /** Matched against the resource's construct path below the pipeline, e.g. `IngestRole/DefaultPolicy/Resource`. */
  readonly path: RegExp;
  readonly reason: string;
}

/** The ARNs of a pipeline's data and artifacts buckets as a cdk-nag finding prints them, escaped for a RegExp. */
export interface BucketArns {
  readonly data: string;
  readonly artifacts: string;
}

/** Actions that AWS offers no resource-level permission for (so `Resource: *` is the only option). */
export const RESOURCE_STAR_ACTIONS: Readonly<Record<string, string>> = {
  'xray:PutTraceSegments': 'X-Ray has no resource-level permissions',
  'xray:PutTelemetryRecords': 'X-Ray has no resource-level permissions',
  'xray:GetSamplingRules': 'X-Ray has no resource-level permissions',
  'xray:GetSamplingTargets': 'X-Ray has no resource-level permissions',
  'ecr:GetAuthorizationToken': 'ECR login has no resource-level permission',
  'sagemaker:ListModelPackages': 'SageMaker List* actions have no resource-level permission',
  'sagemaker:ListEndpointConfigs': 'SageMaker List* actions have no resource-level permission (the endpoint owner filters on the pipeline\'s name prefix)',
  'sagemaker:ListModels': 'SageMaker List* actions have no resource-level permission (the endpoint owner filters on the pipeline\'s name prefix)',
  'cloudwatch:PutMetricData': 'CloudWatch metrics have no resource-level permission (limited by the cloudwatch:namespace condition)',
  'cloudwatch:GetMetricData': 'CloudWatch GetMetricData has no resource-level permission (the monitor reads the endpoint\'s invocation metrics)',
  'logs:CreateLogDelivery': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:GetLogDelivery': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:UpdateLogDelivery': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:DeleteLogDelivery': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:ListLogDeliveries': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:PutResourcePolicy': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:DescribeResourcePolicies': 'Step Functions log delivery APIs have no resource-level permissions',
  'logs:DescribeLogGroups': 'Step Functions log delivery APIs have no resource-level permissions',
};

const STAGE_ROLE = /^[A-Za-z]+Role\/DefaultPolicy\/Resource$/;
const SAGEMAKER_ROLE = /^SageMakerRole\/DefaultPolicy\/Resource$/;
const STATE_MACHINE_ROLE = /^(Retrain|Rollback)\/StateMachine\/Role\/DefaultPolicy\/Resource$/;
const ABORT_CLEANUP_ROLE = /^AbortCleanup\/Role\/DefaultPolicy\/Resource$/;
const TRIGGER_ROLE = /^Trigger\/Role\/DefaultPolicy\/Resource$/;
const MONITOR_ROLE = /^Monitoring\/(Plan|Shard|Compare)FunctionRole\/DefaultPolicy\/Resource$/;
/** The capture prefix is configurable (monitoring.capture.prefix): key characters between slashes, then `/*`. */
const CAPTURE_PREFIX = "[a-zA-Z0-9!_.'()-]+(/[a-zA-Z0-9!_.'()-]+)*/\\*";
const ENDPOINT_OWNER_ROLE = /^EndpointOwner\/Role\/DefaultPolicy\/Resource$/;
const SAGEMAKER_ARN = 'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:';

export const REVIEWED_FINDINGS: readonly ReviewedFinding[] = [
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: /^([A-Za-z]+Role|(Retrain|Rollback|Monitoring)\/StateMachine\/Role)\/DefaultPolicy\/Resource$/,
    reason: 'Only actions without resource-level permissions are granted on * (X-Ray tracing, ECR login, CloudWatch metrics, log delivery, listing model packages); checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: ({ artifacts }) =>
      new RegExp(`^AwsSolutions-IAM5\\[Resource::${artifacts}/(datasets/\\*|trigger/manifests/\\*|champion/history/\\*|runs/\\*/(validation|training|evaluation|checkpoints|model)/\\*|runs/\\*/(decision|deployment|outcome)\\.json|runs/\\*/validation/schema\\.json)\\]$`),
    path: new RegExp(`${STAGE_ROLE.source}|${SAGEMAKER_ROLE.source}`),
    reason: 'Object keys carry the dataset id or the execution name, known only at run time; each stage is limited to the prefixes of docs/architecture.md it reads or writes (the SageMaker role reads each run\'s schema.json, its training job\'s schema channel, and no other validation output).',
  },
  {
    finding: ({ data }) => new RegExp(`^AwsSolutions-IAM5\\[Resource::${data}/incoming/\\*\\]$`),
    path: /^IngestRole\/DefaultPolicy\/Resource$/,
    reason: 'Ingest reads whatever producers land under incoming/ (the landing zone), and nothing else of the data bucket.',
  },
  {
    finding: () =>
      new RegExp(
        `^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}(training-job/[a-z0-9-]+-train-\\*|model/[a-z0-9-]+-model-\\*|endpoint-config/[a-z0-9-]+-epc-\\*|model-package/[a-z0-9-]+/\\*)\\]$`,
      ),
    path: STAGE_ROLE,
    reason: 'SageMaker job, model and endpoint-config names derive from the execution name (lambdas/shared/names.ts); the wildcard covers only names with this pipeline\'s prefix. Model package versions are numbered by SageMaker within our group.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:\/aws\/sagemaker\/\*\]$/,
    path: SAGEMAKER_ROLE,
    reason: 'SageMaker writes training and endpoint logs to log groups under /aws/sagemaker/ that it names itself.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::<[A-Za-z0-9]+\.Arn>:\*\]$/,
    path: STATE_MACHINE_ROLE,
    reason: 'CDK grants invoke on each stage function and its versions/aliases (`<arn>:*`); only the functions the state machine\'s own tasks run are listed.',
  },
  {
    finding: () => /^AwsSolutions-L1$/,
    path: /^[A-Za-z]+\/Resource$/,
    reason: 'The stages run on Node.js 22 (LTS), the runtime their esbuild target and the local mode tests use; moving to a newer runtime is a deliberate change, not an automatic one.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: ABORT_CLEANUP_ROLE,
    reason: 'The abort cleanup function is traced like the stages: X-Ray has no resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: () => new RegExp(`^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}training-job/[a-z0-9-]+-train-\\*\\]$`),
    path: ABORT_CLEANUP_ROLE,
    reason: 'The abort cleanup stops the training job of whichever execution ended; the job name derives from that execution\'s name (lambdas/shared/names.ts), so the wildcard covers only this pipeline\'s training jobs, and only Describe/StopTrainingJob.',
  },
  {
    finding: () => /^AwsSolutions-L1$/,
    path: /^AbortCleanup\/Function\/Resource$/,
    reason: 'The abort cleanup function runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: TRIGGER_ROLE,
    reason: 'The trigger function is traced like the stages: X-Ray has no resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: ({ data, artifacts }) => new RegExp(`^AwsSolutions-IAM5\\[Resource::(${data}/incoming/\\*|${artifacts}/trigger/manifests/\\*)\\]$`),
    path: TRIGGER_ROLE,
    reason: 'The trigger reads what producers land under incoming/ (markers, and HeadObject for the version a run pins) and writes one manifest per run under trigger/manifests/, named by the execution; nothing else of either bucket.',
  },
  {
    finding: () => new RegExp(`^AwsSolutions-IAM5\\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[A-Za-z0-9_-]+:\\*\\]$`),
    path: TRIGGER_ROLE,
    reason: 'The trigger asks DescribeExecution about the run it started; execution names derive from run manifests (lambdas/trigger/state.ts), so the wildcard covers only executions of this pipeline\'s state machine (named by the stateMachineName prop, else <name>-retrain).',
  },
  {
    finding: () => new RegExp(`^AwsSolutions-IAM5\\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[A-Za-z0-9_-]+:\\*\\]$`),
    path: /^NotifyRole\/DefaultPolicy\/Resource$/,
    reason: 'Notify reads the history of the execution it runs in (GetExecutionHistory, for the run\'s cost); executions are named per run, so the wildcard covers only the executions of this pipeline\'s retrain and rollback state machines (both named by the pipeline).',
  },
  {
    finding: () => /^AwsSolutions-L1$/,
    path: /^Trigger\/Function\/Resource$/,
    reason: 'The trigger function runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: ({ artifacts }) => new RegExp(`^AwsSolutions-IAM5\\[Resource::${artifacts}/(${CAPTURE_PREFIX}|monitoring/\\*|runs/\\*/(validation|training)/\\*|runs/\\*/model/manifest\\.json)\\]$`),
    path: MONITOR_ROLE,
    reason: 'The monitor reads the capture files SageMaker names (<capture prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<uuid>.jsonl), writes under monitoring/ (keys carry the window and the execution), and reads the champion\'s statistics and validation predictions (found through its model manifest), whose keys carry its execution name: only those prefixes of docs/monitoring.md.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: MONITOR_ROLE,
    reason: 'The monitor functions are traced (X-Ray), put their metrics (cloudwatch:namespace relearn/Monitoring only) and read the endpoint\'s invocation metrics: none has resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: ({ artifacts }) => new RegExp(`^AwsSolutions-IAM5\\[Resource::${artifacts}/${CAPTURE_PREFIX}\\]$`),
    path: SAGEMAKER_ROLE,
    reason: 'SageMaker data capture writes the endpoint\'s traffic under the capture prefix, in keys it names itself (endpoint, variant, hour, uuid).',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::<[A-Za-z0-9]*Monitoring(Plan|Shard|Compare)Function[0-9A-F]{8}\.Arn>:\*\]$/,
    path: /^Monitoring\/StateMachine\/Role\/DefaultPolicy\/Resource$/,
    reason: 'CDK grants invoke on each monitor function and its versions/aliases (`<arn>:*`); only the three monitor functions are listed.',
  },
  {
    finding: () => /^AwsSolutions-L1$/,
    path: /^Monitoring\/(Plan|Shard|Compare)Function\/Resource$/,
    reason: 'The monitor functions run on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: ENDPOINT_OWNER_ROLE,
    reason: 'The endpoint owner lists endpoint configs and models (no resource-level permission for SageMaker List*) and filters them on the pipeline\'s name prefix before deleting; X-Ray tracing as the stages; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: () => new RegExp(`^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}(model/[a-z0-9-]+-model-\\*|endpoint-config/[a-z0-9-]+-epc-\\*)\\]$`),
    path: ENDPOINT_OWNER_ROLE,
    reason: 'On `cdk destroy` the endpoint owner deletes the models and endpoint configs every run and rollback created: their names derive from execution names (lambdas/shared/names.ts), so only this pipeline\'s prefix can be named, and only Delete is granted.',
  },
  {
    finding: () => /^AwsSolutions-L1$/,
    path: /^EndpointOwner\/Function\/Resource$/,
    reason: 'The endpoint owner\'s handler runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: () => /^AwsSolutions-IAM5\[Resource::<[A-Za-z0-9]+EndpointOwnerFunction[0-9A-F]{8}\.Arn>:\*\]$/,
    path: /^EndpointOwner\/FrameworkRole\/DefaultPolicy\/Resource$/,
    reason: 'CDK\'s custom resource provider framework grants its function invoke on the endpoint owner\'s handler and its versions (`<arn>:*`): that one function only.',
  },
];

/** The one finding on CDK's own custom resource that turns on a bucket's EventBridge notifications. */
export const BUCKET_NOTIFICATIONS_FINDING: ReviewedFinding = {
  finding: () => /^AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole\]$/,
  path: /^BucketNotificationsHandler[0-9a-f]+\/Role\/Resource$/,
  reason: 'CDK\'s own custom resource that turns on EventBridge notifications for the data bucket at deploy time; it only writes its own logs.',
};

/** What a pipeline hands over to be acknowledged: itself, and its buckets. */
export interface NagScope {
  readonly node: IConstruct['node'];
  readonly dataBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
}

/**
 * Runs the AwsSolutions checks over a pipeline and acknowledges the findings that match REVIEWED_FINDINGS, each on
 * the resource it is on. The pipeline calls it when the app is validated: cross-stack references are resolved by
 * then, so the acknowledgements carry the ids the checks really print.
 */
export function acknowledgeReviewedFindings(pipeline: NagScope & IConstruct): void {
  const stack = Stack.of(pipeline);
  const arns: BucketArns = { data: nagArnOf(stack, pipeline.dataBucket), artifacts: nagArnOf(stack, pipeline.artifactsBucket) };
  acknowledgeIn(pipeline, pipeline, REVIEWED_FINDINGS, arns);
  // A data bucket the pipeline built has EventBridge on: CDK's handler for it sits at the stack's top.
  if (pipeline.node.findAll().includes(pipeline.dataBucket)) acknowledgeBucketNotifications(stack);
}

/**
 * Acknowledges the one finding on CDK's own bucket-notifications handler of a stack (a bucket of it has EventBridge
 * on): the handler sits at the stack's top, outside any pipeline. Its rule id is fixed (a managed policy ARN).
 */
export function acknowledgeBucketNotifications(stack: Stack): void {
  const id = 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';
  for (const child of stack.node.children) {
    const role = /^BucketNotificationsHandler[0-9a-f]+$/.test(child.node.id) ? child.node.tryFindChild('Role')?.node.defaultChild : undefined;
    if (role && BUCKET_NOTIFICATIONS_FINDING.finding({ data: '', artifacts: '' }).test(id)) {
      Validations.of(role).acknowledge({ id, reason: BUCKET_NOTIFICATIONS_FINDING.reason });
    }
  }
}

function acknowledgeIn(scope: IConstruct, base: IConstruct, findings: readonly ReviewedFinding[], arns: BucketArns): void {
  const prefix = base.node.path ? `${base.node.path}/` : '';
  const byPath = new Map(scope.node.findAll().map((c) => [c.node.path, c] as const));
  const { violations } = new AwsSolutionsChecks().validateScope(scope);
  const patterns = findings.map((f) => ({ ...f, regex: f.finding(arns) }));
  for (const violation of violations) {
    for (const resource of violation.violatingResources) {
      const cpath = resource.constructPath ?? '';
      const construct = byPath.get(cpath);
      if (!construct || !cpath.startsWith(prefix)) continue;
      const relative = cpath.slice(prefix.length);
      const entry = patterns.find((r) => r.regex.test(violation.ruleName) && r.path.test(relative));
      if (!entry) continue;
      if (violation.ruleName === 'AwsSolutions-IAM5[Resource::*]' && !onlyResourceStarActions(construct)) continue;
      Validations.of(construct).acknowledge({ id: violation.ruleName, reason: entry.reason });
    }
  }
}

/** A bucket's ARN as cdk-nag prints it in a finding (`<Logical.Arn>`, an import's name, or the literal ARN), escaped. */
function nagArnOf(stack: Stack, bucket: s3.IBucket): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { flattenCfnReference } = require('cdk-nag/lib/utils/flatten-cfn-reference') as { flattenCfnReference: (r: unknown) => string };
  return flattenCfnReference(stack.resolve(bucket.bucketArn)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when every statement granting on `*` uses only RESOURCE_STAR_ACTIONS. */
function onlyResourceStarActions(policy: IConstruct): boolean {
  if (!(policy instanceof iam.CfnPolicy)) return false;
  const doc = Stack.of(policy).resolve(policy.policyDocument) as { Statement?: unknown[] } | undefined;
  for (const raw of doc?.Statement ?? []) {
    const st = raw as { Resource?: unknown; Action?: unknown };
    const resources = ([] as unknown[]).concat(st.Resource ?? []);
    if (!resources.includes('*')) continue;
    const actions = ([] as unknown[]).concat(st.Action ?? []);
    if (actions.some((a) => typeof a !== 'string' || !(a in RESOURCE_STAR_ACTIONS))) return false;
  }
  return true;
}
