import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { resolvePipeline } from './asl/assembly';
import { LOCAL_ADMIN_CREDENTIALS } from './iam/identities';
import { iamModelOf } from './iam/template';
import { dataBucketOf, iamEnforcedByEnv, LOCAL_REGION, LocalServices, startLocalServices } from './local-env';
import { artifactsBucketOf } from './local-run';
import { pipelineForCommand } from './project';
import { synthesize } from './synth';
import { resolveTrigger } from './trigger-runtime';

/**
 * How a command reaches a pipeline (Contract B: reused by `relearn status`, `start`, `rollback`, `monitor`): the
 * names and clients of a deployed stack, found through its CloudFormation outputs, or of a project's local services.
 * Either way the commands then talk to the same APIs (S3, Step Functions, SQS, SageMaker) through the SDK.
 */

export interface PipelineTarget {
  readonly kind: 'aws' | 'local';
  /** The pipeline (config name). */
  readonly name: string;
  readonly region: string;
  readonly stateMachineArn: string;
  readonly dataBucket: string;
  readonly artifactsBucket: string;
  /** Where `relearn start` sends its request. @default - none (a local project without the trigger queue running) */
  readonly triggerQueueUrl?: string;
  readonly endpointName: string;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly sagemaker: SageMakerClient;
  /** The memory of a function (MB), for a run's Lambda GB-seconds (AWS's execution history does not carry it). */
  memoryOf(functionArn: string): Promise<number | undefined>;
  /** The training instance type and count the pipeline's config asks for. */
  readonly training?: { readonly instanceType: string; readonly instanceCount: number };
  /** The console page of an execution (the cloud only). */
  consoleLink(executionArn: string): string | undefined;
  close(): Promise<void>;
}

/** The stack has not got the outputs relearn needs: not a relearn pipeline stack, or an older one. */
export class TargetNotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetNotFound';
  }
}

/** The outputs of lib/pipeline-stack.ts a command needs. */
const OUTPUTS = ['StateMachineArn', 'DataBucketName', 'ArtifactsBucketName', 'EndpointName', 'TriggerQueueUrl'] as const;

/** A deployed pipeline: `<name>-pipeline` (lib/app.ts) unless `stackName`, in `region` (else the SDK's own). */
export async function awsTarget(opts: { name?: string; stackName?: string; region?: string; cloudFormation?: CloudFormationClient }): Promise<PipelineTarget> {
  const stackName = opts.stackName ?? `${opts.name ?? 'relearn'}-pipeline`;
  const cfn = opts.cloudFormation ?? new CloudFormationClient(opts.region ? { region: opts.region } : {});
  let outputs: Record<string, string>;
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries((res.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (err) {
    if ((err as Error).name === 'ValidationError') throw new TargetNotFound(`stack ${stackName} does not exist (deploy it with cdk deploy, or name it with --stack)`);
    // No answer from AWS at all (no region, no credentials, no network): what to set, in one line.
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === undefined) {
      throw new TargetNotFound(`cannot ask AWS for stack ${stackName}: ${(err as Error).message.split('\n')[0]} (set AWS credentials and a region: AWS_PROFILE, AWS_REGION or --region; or use --local)`);
    }
    throw err;
  }
  const missing = OUTPUTS.filter((k) => !outputs[k]);
  if (missing.length) throw new TargetNotFound(`stack ${stackName} has no output ${missing.join(', ')}: is it a relearn pipeline stack of this version?`);
  const region = outputs.StateMachineArn.split(':')[3];
  const clientOpts = { region };
  const lambdaClient = new LambdaClient(clientOpts);
  const memory = new Map<string, Promise<number | undefined>>();
  return {
    kind: 'aws',
    name: stackName.replace(/-pipeline$/, ''),
    region,
    stateMachineArn: outputs.StateMachineArn,
    dataBucket: outputs.DataBucketName,
    artifactsBucket: outputs.ArtifactsBucketName,
    triggerQueueUrl: outputs.TriggerQueueUrl,
    endpointName: outputs.EndpointName,
    s3: new S3Client(clientOpts),
    sfn: new SFNClient(clientOpts),
    sqs: new SQSClient(clientOpts),
    sagemaker: new SageMakerClient(clientOpts),
    memoryOf: async (arn) => {
      if (!memory.has(arn)) memory.set(arn, lambdaClient.send(new GetFunctionConfigurationCommand({ FunctionName: arn })).then((c) => c.MemorySize).catch(() => undefined));
      return memory.get(arn);
    },
    consoleLink: (arn) => `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${arn}`,
    close: async () => {
      cfn.destroy();
      lambdaClient.destroy();
    },
  };
}

/**
 * A project's local pipeline (its config, its `.relearn/pipelines/<name>` state): its local services are started
 * on its state, as the operator. The trigger queue lives only while `relearn local watch` runs, so it has none.
 */
export async function localTarget(opts: { projectDir: string; configFile?: string; python?: string }): Promise<PipelineTarget & { readonly services: LocalServices }> {
  const pipeline = pipelineForCommand(opts.projectDir, opts.configFile);
  const synth = synthesize({ stateDir: pipeline.stateDir, config: pipeline.config, appRoot: pipeline.baseDir });
  const resolved = resolvePipeline(synth.outdir);
  const trigger = resolveTrigger(synth.outdir);
  const services = await startLocalServices({ stateDir: pipeline.stateDir, iam: iamModelOf(synth.outdir), enforceIam: iamEnforcedByEnv(), ...(opts.python ? { python: opts.python } : {}) });
  // Known to the local Step Functions (ListExecutions works before any run); it starts nothing from here.
  services.stepFunctions.sfn.register(trigger.stateMachineArn, async () => ({
    status: 'FAILED',
    error: { Error: 'NotStartedHere', Cause: 'local runs start with relearn local run, or from files dropped where relearn local watch watches' },
  }));
  const endpointName = Object.values(resolved.functions).find((f) => f.environment.ENDPOINT_NAME)?.environment.ENDPOINT_NAME ?? `${pipeline.name}-endpoint`;
  const local = { region: LOCAL_REGION, credentials: LOCAL_ADMIN_CREDENTIALS };
  const sfn = new SFNClient({ ...local, endpoint: services.stepFunctions.endpoint });
  const sqs = new SQSClient({ ...local, endpoint: services.sqs.endpoint, useQueueUrlAsEndpoint: false });
  return {
    kind: 'local',
    name: pipeline.name,
    region: LOCAL_REGION,
    stateMachineArn: trigger.stateMachineArn,
    dataBucket: dataBucketOf(resolved),
    artifactsBucket: artifactsBucketOf(resolved),
    endpointName,
    s3: services.s3.client,
    sfn,
    sqs,
    sagemaker: services.sagemakerClient,
    memoryOf: async (arn) => resolved.functions[arn]?.memoryMb,
    training: { instanceType: pipeline.config.training.instanceType, instanceCount: pipeline.config.training.instanceCount },
    consoleLink: () => undefined,
    services,
    close: async () => {
      sfn.destroy();
      sqs.destroy();
      await services.stop();
    },
  };
}
