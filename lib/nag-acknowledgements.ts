import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';

/**
 * Every cdk-nag finding relearn accepts, in one reviewed place, each with its reason.
 *
 * An entry matches a finding by rule id (with its `[finding]` part) and by the construct path of the resource
 * it is on; `acknowledgeReviewedFindings` acknowledges exactly the findings that match an entry, on that
 * resource only. Anything else stays a finding and fails the synth. `Resource::*` is accepted only when every
 * action granted on `*` is one of RESOURCE_STAR_ACTIONS: adding `s3:*` on `*` to a role still fails.
 */
export interface ReviewedFinding {
  /** Matched against the full finding id, e.g. `AwsSolutions-IAM5[Resource::<ArtifactsBucket...Arn>/datasets/*]`. */
  readonly finding: RegExp;
  /** Matched against the construct path of the resource, e.g. `Pipeline/Pipeline/IngestRole/DefaultPolicy/Resource`. */
  readonly path: RegExp;
  readonly reason: string;
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

const STAGE_ROLE = /^Pipeline\/Pipeline\/[A-Za-z]+Role\/DefaultPolicy\/Resource$/;
const SAGEMAKER_ROLE = /^Pipeline\/Pipeline\/SageMakerRole\/DefaultPolicy\/Resource$/;
const STATE_MACHINE_ROLE = /^Pipeline\/Pipeline\/(Retrain|Rollback)\/StateMachine\/Role\/DefaultPolicy\/Resource$/;
const ABORT_CLEANUP_ROLE = /^Pipeline\/Pipeline\/AbortCleanup\/Role\/DefaultPolicy\/Resource$/;
const TRIGGER_ROLE = /^Pipeline\/Pipeline\/Trigger\/Role\/DefaultPolicy\/Resource$/;
const MONITOR_ROLE = /^Pipeline\/Pipeline\/Monitoring\/(Plan|Shard|Compare)FunctionRole\/DefaultPolicy\/Resource$/;
/** The capture prefix is configurable (monitoring.capture.prefix): key characters between slashes, then `/*`. */
const CAPTURE_PREFIX = "[a-zA-Z0-9!_.'()-]+(/[a-zA-Z0-9!_.'()-]+)*/\\*";
const ENDPOINT_OWNER_ROLE = /^Pipeline\/Pipeline\/EndpointOwner\/Role\/DefaultPolicy\/Resource$/;
/** A bucket ARN as cdk-nag prints it: a token before synth, the data stack's export during it. */
const bucketArn = (id: string) => `(<${id}[0-9A-F]{8}\\.Arn>|[a-z0-9-]+:ExportsOutputFnGetAtt${id}[0-9A-F]{8}Arn[0-9A-F]{8})`;
const ARTIFACTS = bucketArn('ArtifactsBucket');
const SAGEMAKER_ARN = 'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:';

export const REVIEWED_FINDINGS: readonly ReviewedFinding[] = [
  {
    finding: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: /^Pipeline\/Pipeline\/([A-Za-z]+Role|(Retrain|Rollback|Monitoring)\/StateMachine\/Role)\/DefaultPolicy\/Resource$/,
    reason: 'Only actions without resource-level permissions are granted on * (X-Ray tracing, ECR login, CloudWatch metrics, log delivery, listing model packages); checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${ARTIFACTS}/(datasets/\\*|trigger/manifests/\\*|champion/history/\\*|runs/\\*/(validation|training|evaluation|checkpoints|model)/\\*|runs/\\*/(decision|deployment|outcome)\\.json|runs/\\*/validation/schema\\.json)\\]$`),
    path: new RegExp(`${STAGE_ROLE.source}|${SAGEMAKER_ROLE.source}`),
    reason: 'Object keys carry the dataset id or the execution name, known only at run time; each stage is limited to the prefixes of docs/architecture.md it reads or writes (the SageMaker role reads each run\'s schema.json, its training job\'s schema channel, and no other validation output).',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${bucketArn('DataBucket')}/incoming/\\*\\]$`),
    path: /^Pipeline\/Pipeline\/IngestRole\/DefaultPolicy\/Resource$/,
    reason: 'Ingest reads whatever producers land under incoming/ (the landing zone), and nothing else of the data bucket.',
  },
  {
    finding: new RegExp(
      `^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}(training-job/[a-z0-9-]+-train-\\*|model/[a-z0-9-]+-model-\\*|endpoint-config/[a-z0-9-]+-epc-\\*|model-package/[a-z0-9-]+/\\*)\\]$`,
    ),
    path: STAGE_ROLE,
    reason: 'SageMaker job, model and endpoint-config names derive from the execution name (lambdas/shared/names.ts); the wildcard covers only names with this pipeline\'s prefix. Model package versions are numbered by SageMaker within our group.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:\/aws\/sagemaker\/\*\]$/,
    path: SAGEMAKER_ROLE,
    reason: 'SageMaker writes training and endpoint logs to log groups under /aws/sagemaker/ that it names itself.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::<Pipeline[A-Za-z]+[0-9A-F]{8}\.Arn>:\*\]$/,
    path: STATE_MACHINE_ROLE,
    reason: 'CDK grants invoke on each stage function and its versions/aliases (`<arn>:*`); only the functions the state machine\'s own tasks run are listed.',
  },
  {
    finding: /^AwsSolutions-L1$/,
    path: /^Pipeline\/Pipeline\/[A-Za-z]+\/Resource$/,
    reason: 'The stages run on Node.js 22 (LTS), the runtime their esbuild target and the local mode tests use; moving to a newer runtime is a deliberate change, not an automatic one.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: ABORT_CLEANUP_ROLE,
    reason: 'The abort cleanup function is traced like the stages: X-Ray has no resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}training-job/[a-z0-9-]+-train-\\*\\]$`),
    path: ABORT_CLEANUP_ROLE,
    reason: 'The abort cleanup stops the training job of whichever execution ended; the job name derives from that execution\'s name (lambdas/shared/names.ts), so the wildcard covers only this pipeline\'s training jobs, and only Describe/StopTrainingJob.',
  },
  {
    finding: /^AwsSolutions-L1$/,
    path: /^Pipeline\/Pipeline\/AbortCleanup\/Function\/Resource$/,
    reason: 'The abort cleanup function runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: TRIGGER_ROLE,
    reason: 'The trigger function is traced like the stages: X-Ray has no resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::(${bucketArn('DataBucket')}/incoming/\\*|${ARTIFACTS}/trigger/manifests/\\*)\\]$`),
    path: TRIGGER_ROLE,
    reason: 'The trigger reads what producers land under incoming/ (markers, and HeadObject for the version a run pins) and writes one manifest per run under trigger/manifests/, named by the execution; nothing else of either bucket.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[a-z0-9-]+-retrain:\\*\\]$`),
    path: TRIGGER_ROLE,
    reason: 'The trigger asks DescribeExecution about the run it started; execution names derive from run manifests (lambdas/trigger/state.ts), so the wildcard covers only executions of this pipeline\'s state machine.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[a-z0-9-]+-(retrain|rollback):\\*\\]$`),
    path: /^Pipeline\/Pipeline\/NotifyRole\/DefaultPolicy\/Resource$/,
    reason: 'Notify reads the history of the execution it runs in (GetExecutionHistory, for the run\'s cost); executions are named per run, so the wildcard covers only the executions of this pipeline\'s retrain and rollback state machines.',
  },
  {
    finding: /^AwsSolutions-L1$/,
    path: /^Pipeline\/Pipeline\/Trigger\/Function\/Resource$/,
    reason: 'The trigger function runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${ARTIFACTS}/(${CAPTURE_PREFIX}|monitoring/\\*|runs/\\*/(validation|training)/\\*|runs/\\*/model/manifest\\.json)\\]$`),
    path: MONITOR_ROLE,
    reason: 'The monitor reads the capture files SageMaker names (<capture prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<uuid>.jsonl), writes under monitoring/ (keys carry the window and the execution), and reads the champion\'s statistics and validation predictions (found through its model manifest), whose keys carry its execution name: only those prefixes of docs/monitoring.md.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: MONITOR_ROLE,
    reason: 'The monitor functions are traced (X-Ray), put their metrics (cloudwatch:namespace relearn/Monitoring only) and read the endpoint\'s invocation metrics: none has resource-level permissions; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${ARTIFACTS}/${CAPTURE_PREFIX}\\]$`),
    path: SAGEMAKER_ROLE,
    reason: 'SageMaker data capture writes the endpoint\'s traffic under the capture prefix, in keys it names itself (endpoint, variant, hour, uuid).',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::<PipelineMonitoring(Plan|Shard|Compare)Function[0-9A-F]{8}\.Arn>:\*\]$/,
    path: /^Pipeline\/Pipeline\/Monitoring\/StateMachine\/Role\/DefaultPolicy\/Resource$/,
    reason: 'CDK grants invoke on each monitor function and its versions/aliases (`<arn>:*`); only the three monitor functions are listed.',
  },
  {
    finding: /^AwsSolutions-L1$/,
    path: /^Pipeline\/Pipeline\/Monitoring\/(Plan|Shard|Compare)Function\/Resource$/,
    reason: 'The monitor functions run on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: ENDPOINT_OWNER_ROLE,
    reason: 'The endpoint owner lists endpoint configs and models (no resource-level permission for SageMaker List*) and filters them on the pipeline\'s name prefix before deleting; X-Ray tracing as the stages; checked action by action against RESOURCE_STAR_ACTIONS.',
  },
  {
    finding: new RegExp(`^AwsSolutions-IAM5\\[Resource::${SAGEMAKER_ARN}(model/[a-z0-9-]+-model-\\*|endpoint-config/[a-z0-9-]+-epc-\\*)\\]$`),
    path: ENDPOINT_OWNER_ROLE,
    reason: 'On `cdk destroy` the endpoint owner deletes the models and endpoint configs every run and rollback created: their names derive from execution names (lambdas/shared/names.ts), so only this pipeline\'s prefix can be named, and only Delete is granted.',
  },
  {
    finding: /^AwsSolutions-L1$/,
    path: /^Pipeline\/Pipeline\/EndpointOwner\/Function\/Resource$/,
    reason: 'The endpoint owner\'s handler runs on Node.js 22 (LTS) with the stages\' bundling options, for the same reason as the stages: a runtime move is deliberate and done for all functions at once.',
  },
  {
    finding: /^AwsSolutions-IAM5\[Resource::<PipelineEndpointOwnerFunction[0-9A-F]{8}\.Arn>:\*\]$/,
    path: /^Pipeline\/Pipeline\/EndpointOwner\/FrameworkRole\/DefaultPolicy\/Resource$/,
    reason: 'CDK\'s custom resource provider framework grants its function invoke on the endpoint owner\'s handler and its versions (`<arn>:*`): that one function only.',
  },
  {
    finding: /^AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole\]$/,
    path: /^Data\/BucketNotificationsHandler[0-9a-f]+\/Role\/Resource$/,
    reason: 'CDK\'s own custom resource that turns on EventBridge notifications for the data bucket at deploy time; it only writes its own logs.',
  },
];

/**
 * cdk-nag's AwsSolutions pack that first acknowledges the reviewed findings. It runs at synth time, after
 * cross-stack references became imports, so acknowledgements carry the ids the checks really print.
 */
export class ReviewedAwsSolutionsChecks extends AwsSolutionsChecks {
  public override validateScope(scope: IConstruct) {
    acknowledgeReviewedFindings(scope);
    return super.validateScope(scope);
  }
}

/**
 * Runs the AwsSolutions checks over the app and acknowledges the findings that match REVIEWED_FINDINGS, each
 * on the resource it is on. ReviewedAwsSolutionsChecks calls it at synth, right before the real check.
 */
export function acknowledgeReviewedFindings(app: IConstruct): void {
  const byPath = new Map(app.node.findAll().map((c) => [c.node.path, c] as const));
  const { violations } = new AwsSolutionsChecks().validateScope(app);
  for (const violation of violations) {
    for (const resource of violation.violatingResources) {
      const cpath = resource.constructPath ?? '';
      const construct = byPath.get(cpath);
      if (!construct) continue;
      const entry = REVIEWED_FINDINGS.find((r) => r.finding.test(violation.ruleName) && r.path.test(cpath));
      if (!entry) continue;
      if (violation.ruleName === 'AwsSolutions-IAM5[Resource::*]' && !onlyResourceStarActions(construct)) continue;
      Validations.of(construct).acknowledge({ id: violation.ruleName, reason: entry.reason });
    }
  }
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
