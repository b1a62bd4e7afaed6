import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, ArnFormat, Aws, CfnMapping, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { endpointNameOf, parseConfig, RelearnConfig, RelearnConfigInput } from '../../lambdas/shared/config';
import { Layout } from '../../lambdas/shared/contracts';
import { encodeStateMemory, STATE_MEMORY_ENV } from '../../lambdas/shared/cost';
import { SKLEARN_REGISTRY_ACCOUNTS, SKLEARN_REPOSITORY, sklearnImageTag } from '../sklearn-images';
import { trainingSourceDirOf } from '../config-file';
import { loadCuratedSchemaFile } from '../curated-schema';
import { acknowledgeReviewedFindings } from '../nag-acknowledgements';
import { PACKAGE_ROOT } from '../package-root';
import { packageSourceDir } from '../training-code';
import { AbortCleanup } from './abort-cleanup';
import { PipelineAlarms } from './alarms';
import { PipelineDashboard } from './dashboard';
import { ProductionMonitoring } from './monitoring';
import { PipelineTrigger, TRIGGER_VISIBILITY_TIMEOUT } from './trigger';
import { EndpointOwner } from './endpoint-owner';
import { checkNoClash, checkProps, effectiveConfig } from './pipeline-props';
import { relearnFunction, STAGE_BUNDLING } from './relearn-function';
import { executionTimeout, RetrainingStateMachine, stateMemoryMb } from './retraining-state-machine';
import { rollbackTimeout, RollbackStateMachine } from './rollback-state-machine';
import { FUNCTION_IDS, FunctionId, STAGE_IDS, STAGE_SIZING, stageConstructId, StageId } from './stages';
import {
  ACCESS_LOGS_USE_BUCKET_POLICY,
  buildBucket,
  buildKey,
  buildModelPackageGroup,
  defaultAccessLogsBucketProps,
  defaultKeyProps,
  defaultSecureBucketProps,
  removalPolicyOf,
} from './stateful-defaults';

export { SDK_CREDENTIAL_FALLBACKS, STAGE_BUNDLING } from './relearn-function';

/** Lambda refuses a function whose environment (keys + values) exceeds 4 KB. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

/** The stages that read the curated schema (CURATED_SCHEMA_URI and s3:GetObject on exactly that object). */
export const CURATED_SCHEMA_STAGES: readonly StageId[] = ['shard-statistics', 'validate-data'];

/**
 * The metadata entry type that marks a RetrainingPipeline in the cloud assembly (manifest.json, under its stack):
 * `relearn local run` finds every pipeline of a user's app by it, without guessing from resource shapes. Its data is
 * PipelineMetadata.
 */
export const PIPELINE_METADATA_TYPE = 'relearn:pipeline';

/** What the assembly says about each pipeline (the construct's metadata entry). */
export interface PipelineMetadata {
  /** The construct id (what `relearn local run --pipeline` matches first). */
  readonly id: string;
  /** config.name: the prefix of its physical names, and its local state folder's name. */
  readonly name: string;
  /** Logical id of its state machine in the stack's template. */
  readonly stateMachineLogicalId: string;
  /** Logical id of its rollback state machine (`relearn local rollback --pipeline`). */
  readonly rollbackStateMachineLogicalId: string;
  /** The relearn version that synthesized it. */
  readonly version: string;
}

/** Marks a RetrainingPipeline (isRetrainingPipeline), across copies of relearn. */
const PIPELINE_SYMBOL = Symbol.for('relearn.RetrainingPipeline');

/** relearn's own version (package.json), recorded in the pipeline's metadata. */
export const RELEARN_VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export interface RetrainingPipelineProps {
  /**
   * The pipeline's configuration: what a relearn.config.json holds (docs/configuration.md), as an object or as
   * parsed by `loadConfigFile`/`parseConfig`. Parsed here; a bad field fails the synth naming it (`config.<field>`).
   * What the pipeline does (columns, training script and its instance type, gates, serving instance type) is set
   * here; where it runs (buckets, key, topic, names) by the props below.
   * @default - every default: `name` 'relearn', the bundled churn example's columns, relearn's built-in training script
   */
  readonly config?: RelearnConfigInput;
  /**
   * The folder relative paths in the config (`training.sourceDir`, `validation.schemaFile`) are relative to: the
   * config file's folder. An absent `training.sourceDir` is relearn's built-in script, whatever this is.
   * @default - the current directory (the folder `cdk` runs the app in, where its cdk.json is)
   */
  readonly appRoot?: string;

  // --- Bring your own, or relearn builds it (never both) ---

  /**
   * An existing bucket whose `incoming/` prefix receives new data. The pipeline only reads it.
   * @default - a new bucket (SSE-KMS with the pipeline's key, versioned, TLS only, no public access, server access
   * logs, EventBridge notifications on), built from `dataBucketProps`
   */
  readonly dataBucket?: s3.IBucket;
  /**
   * Overrides for the data bucket relearn builds (not with `dataBucket`).
   * @default - relearn's defaults (see `dataBucket`)
   */
  readonly dataBucketProps?: s3.BucketProps;
  /**
   * An existing bucket for datasets, runs and the champion record (docs/architecture.md, S3 layout). One per
   * pipeline: two pipelines must not share it (their champion records would collide).
   * @default - a new bucket with the data bucket's hardening (EventBridge off), built from `artifactsBucketProps`
   */
  readonly artifactsBucket?: s3.IBucket;
  /**
   * Overrides for the artifacts bucket relearn builds (not with `artifactsBucket`).
   * @default - relearn's defaults (see `artifactsBucket`)
   */
  readonly artifactsBucketProps?: s3.BucketProps;
  /**
   * An existing customer-managed key: the pipeline encrypts what it writes to S3, its logs, the topic and SageMaker
   * volumes and outputs with it.
   * @default - a new key (yearly rotation; CloudWatch Logs may use it for this account's log groups), built from
   * `encryptionKeyProps`
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Overrides for the key relearn builds (not with `encryptionKey`).
   * @default - relearn's defaults (see `encryptionKey`)
   */
  readonly encryptionKeyProps?: kms.KeyProps;
  /**
   * An existing bucket that receives the server access logs of the buckets relearn builds.
   * @default - a new SSE-S3 bucket (access logs cannot go to an SSE-KMS bucket), when relearn builds a bucket
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * Overrides for the access-log bucket relearn builds (not with `accessLogsBucket`).
   * @default - relearn's defaults (versioned, TLS only, no public access, logs kept 365 days)
   */
  readonly accessLogsBucketProps?: s3.BucketProps;
  /**
   * Name of an existing SageMaker model package group that Register writes to.
   * @default - a new group named `<config.name>-models`
   */
  readonly modelPackageGroupName?: string;
  /**
   * An existing SNS topic for the outcome of each run (a topic encrypted with another key must name it as its
   * `masterKey`, so that Notify may use it).
   * @default - a new topic, encrypted with the pipeline's key, TLS only
   */
  readonly topic?: sns.ITopic;

  // --- Names, image, instance types, retention ---

  /**
   * Name of the state machine.
   * @default `<config.name>-retrain`
   */
  readonly stateMachineName?: string;
  /**
   * The training and serving image (the SageMaker scikit-learn container contract). An ECR repository's image is
   * granted to the SageMaker role (`DockerImage.fromEcrRepository`).
   * @default - `config.training.imageUri`, else SageMaker's scikit-learn image of `config.training.frameworkVersion`
   * in the stack's region
   */
  readonly trainingImage?: tasks.DockerImage;
  /**
   * Instance type of the training jobs (wins over `config.training.instanceType`).
   * @default - config.training.instanceType (`ml.m5.large`)
   */
  readonly trainingInstanceType?: string;
  /**
   * Instance type of the serving endpoint (wins over `config.deployment.instanceType`).
   * @default - config.deployment.instanceType (`ml.m5.large`)
   */
  readonly servingInstanceType?: string;
  /**
   * Removal policy of what relearn builds: the key, buckets, model package group (when it builds them) and log groups.
   * Buckets are never emptied on removal: a bucket with objects stays.
   * @default - from config.removalPolicy: RemovalPolicy.RETAIN (`retain`) or RemovalPolicy.DESTROY (`destroy`)
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of the Lambda and state machine log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log groups.
   * @default - `removalPolicy`
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The pipeline's stateful inputs once resolved: given, or built by the construct. */
interface Wiring {
  readonly config: RelearnConfig;
  readonly dataBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly modelPackageGroupName: string;
}

/**
 * The retraining pipeline of docs/architecture.md, as one construct for any CDK app: one Lambda per stage, the
 * SageMaker execution role, the outcome topic, the packaged training code and the state machine. The stateful parts
 * (key, buckets, model package group, topic) are yours to bring, or it builds them ("bring your own or we build it",
 * as aws-solutions-constructs do); relearn's own app brings them from its DataStack, so that they outlive this part.
 * Several pipelines may live side by side in one app, each with its own `config.name`.
 */
export class RetrainingPipeline extends Construct {
  /** True for a RetrainingPipeline (also one from another copy of relearn in node_modules). */
  public static isRetrainingPipeline(x: unknown): x is RetrainingPipeline {
    return typeof x === 'object' && x !== null && PIPELINE_SYMBOL in x;
  }

  /** The parsed configuration, with the instance-type props applied: what every stage reads (RELEARN_CONFIG). */
  public readonly config: RelearnConfig;
  public readonly stateMachine: sfn.StateMachine;
  /** `<name>-rollback`: `relearn rollback` starts it (lib/constructs/rollback-state-machine.ts). */
  public readonly rollbackStateMachine: sfn.StateMachine;
  public readonly functions: Readonly<Record<FunctionId, lambda.Function>>;
  public readonly sagemakerRole: iam.Role;
  public readonly topic: sns.ITopic;
  public readonly dataBucket: s3.IBucket;
  public readonly artifactsBucket: s3.IBucket;
  public readonly encryptionKey: kms.IKey;
  public readonly modelPackageGroupName: string;
  /** The access-log bucket relearn built, if it built one. */
  public readonly accessLogsBucket?: s3.IBucket;
  public readonly trainingCode: s3assets.Asset;
  /** `validation.schemaFile`, shipped as an S3 file asset (ShardStatistics and ValidateData read it). */
  public readonly curatedSchema?: s3assets.Asset;
  /** The training and serving image URI (a token: it depends on the stack's region). */
  public readonly trainingImageUri: string;
  public readonly endpointName: string;
  public readonly abortCleanup: AbortCleanup;
  public readonly trigger: PipelineTrigger;
  public readonly alarms: PipelineAlarms;
  public readonly dashboard: PipelineDashboard;
  /** Production monitoring: the monitor's state machine, schedule, metrics and alarms (docs/monitoring.md). */
  public readonly monitoring: ProductionMonitoring;
  /** The custom resource that deletes the endpoint, models and endpoint configs on `cdk destroy`. */
  public readonly endpointOwner: EndpointOwner;
  private imageRegistry?: CfnMapping;

  constructor(scope: Construct, id: string, props: RetrainingPipelineProps = {}) {
    super(scope, id);
    Object.defineProperty(this, PIPELINE_SYMBOL, { value: true });
    const config = effectiveConfig(props);
    this.config = config;
    const appRoot = path.resolve(props.appRoot ?? process.cwd());
    checkProps(props, config, appRoot);
    checkNoClash(this, config, props);
    this.endpointName = endpointNameOf(config);
    const removalPolicy = props.removalPolicy ?? removalPolicyOf(config.removalPolicy);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const logRemovalPolicy = props.logRemovalPolicy ?? removalPolicy;

    // 0. The stateful parts: brought, or built with relearn's defaults (lib/constructs/stateful-defaults.ts).
    const buildsABucket = !props.dataBucket || !props.artifactsBucket;
    // Access logs are delivered through a bucket policy (logging.s3.amazonaws.com), not the legacy ACL; context
    // must be set before the first child.
    if (buildsABucket && !props.accessLogsBucket) this.node.setContext(ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const key =
      props.encryptionKey ??
      buildKey(this, 'Key', defaultKeyProps(`relearn ${config.name}: data, artifacts, logs and notifications`, removalPolicy), props.encryptionKeyProps);
    let accessLogs = props.accessLogsBucket;
    if (!accessLogs && buildsABucket) {
      accessLogs = this.accessLogsBucket = buildBucket(this, 'AccessLogsBucket', defaultAccessLogsBucketProps(removalPolicy), props.accessLogsBucketProps);
    }
    const dataBucket =
      props.dataBucket ??
      buildBucket(this, 'DataBucket', { ...defaultSecureBucketProps(key, accessLogs!, 'data-bucket/', removalPolicy), eventBridgeEnabled: true }, props.dataBucketProps);
    const artifactsBucket =
      props.artifactsBucket ?? buildBucket(this, 'ArtifactsBucket', defaultSecureBucketProps(key, accessLogs!, 'artifacts-bucket/', removalPolicy), props.artifactsBucketProps);
    let modelPackageGroupName = props.modelPackageGroupName;
    if (modelPackageGroupName === undefined) {
      modelPackageGroupName = `${config.name}-models`;
      buildModelPackageGroup(this, 'ModelPackageGroup', modelPackageGroupName, `relearn ${config.name}: every evaluated candidate, with its metrics and approval status`, removalPolicy);
    }
    this.dataBucket = dataBucket;
    this.artifactsBucket = artifactsBucket;
    this.encryptionKey = key;
    this.modelPackageGroupName = modelPackageGroupName;
    const wiring: Wiring = { config, dataBucket, artifactsBucket, encryptionKey: key, modelPackageGroupName };

    // 1. Training code: a deterministic sourcedir.tar.gz, shipped as an S3 asset (and the curated schema).
    this.trainingCode = new s3assets.Asset(this, 'TrainingCode', {
      path: packageSourceDir(trainingSourceDirOf(config, appRoot)),
    });
    const trainingCodeUri = this.trainingCode.s3ObjectUrl;
    // The curated schema: checked now (a bad file fails the synth naming the field), shipped as it is.
    if (config.validation.schemaFile) {
      this.curatedSchema = new s3assets.Asset(this, 'CuratedSchema', {
        path: loadCuratedSchemaFile(config.validation.schemaFile, appRoot).file,
      });
    }

    // 2. SageMaker execution role (training jobs and the serving model): exact prefixes, no managed policies.
    this.sagemakerRole = new iam.Role(this, 'SageMakerRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `relearn ${config.name}: SageMaker training jobs and models`,
    });

    // 3. The image: the given one (granted to the SageMaker role), the configured one, or SageMaker's scikit-learn
    //    image of the stack's region.
    this.trainingImageUri = props.trainingImage
      ? props.trainingImage.bind({ grantPrincipal: this.sagemakerRole }).imageUri
      : (config.training.imageUri ?? this.sklearnImageUri(config.training.frameworkVersion));
    this.grantSageMakerRole(this.sagemakerRole, wiring);

    // 4. Outcome topic (KMS, TLS only), with e-mail subscriptions that each recipient confirms.
    this.topic = props.topic ?? new sns.Topic(this, 'Topic', { displayName: `relearn ${config.name}`, masterKey: key, enforceSSL: true });
    const topicKey = props.topic ? props.topic.masterKey : key;
    for (const email of config.notifications.emails) this.topic.addSubscription(new subs.EmailSubscription(email));

    // 5. One function per stage, each with its own role and log group.
    const environment: Record<string, string> = {
      RELEARN_CONFIG: '',
      DATA_BUCKET: dataBucket.bucketName,
      ARTIFACTS_BUCKET: artifactsBucket.bucketName,
      KMS_KEY_ARN: key.keyArn,
      SAGEMAKER_ROLE_ARN: this.sagemakerRole.roleArn,
      MODEL_PACKAGE_GROUP: modelPackageGroupName,
      TOPIC_ARN: this.topic.topicArn,
      TRAINING_CODE_URI: trainingCodeUri,
      TRAINING_IMAGE_URI: this.trainingImageUri,
      ENDPOINT_NAME: this.endpointName,
      POWERTOOLS_SERVICE_NAME: `relearn-${config.name}`,
      AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    };
    // Only the stages that validate data learn where the curated schema is; the size check counts it.
    const schemaVariables: Record<string, string> = this.curatedSchema ? { CURATED_SCHEMA_URI: this.curatedSchema.s3ObjectUrl } : {};
    environment.RELEARN_CONFIG = configForEnvironment(config, { ...environment, ...schemaVariables });

    const functions = {} as Record<FunctionId, lambda.Function>;
    for (const stage of FUNCTION_IDS) {
      const cid = stageConstructId(stage);
      const logGroup = new logs.LogGroup(this, `${cid}Logs`, {
        retention: logRetention,
        encryptionKey: key,
        removalPolicy: logRemovalPolicy,
      });
      const role = new iam.Role(this, `${cid}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `relearn ${config.name}: the ${stage} stage`,
      });
      logGroup.grantWrite(role);
      functions[stage] = relearnFunction(this, cid, {
        handlerName: stage,
        // Pure JavaScript handlers: Graviton is cheaper per GB-second at the same speed.
        architecture: lambda.Architecture.ARM_64,
        memorySize: STAGE_SIZING[stage].memoryMb,
        timeout: STAGE_SIZING[stage].timeout,
        role,
        logGroup,
        tracing: lambda.Tracing.ACTIVE,
        environment: (CURATED_SCHEMA_STAGES as readonly FunctionId[]).includes(stage) ? { ...environment, ...schemaVariables } : environment,
      });
    }
    this.functions = functions;
    this.grantStages(functions, wiring, topicKey);

    // 6. The state machine.
    const machine = new RetrainingStateMachine(this, 'Retrain', {
      functions,
      stateMachineName: props.stateMachineName ?? `${config.name}-retrain`,
      timeout: executionTimeout(config),
      encryptionKey: key,
      logRetention,
      logRemovalPolicy,
    });
    this.stateMachine = machine.stateMachine;

    // 7. Rollbacks: the previous (or a named) champion back on the endpoint through the same Deploy/CheckEndpoint/
    //    VerifyServing/Notify functions, with ResolveRollback and RestoreChampion around them.
    const rollback = new RollbackStateMachine(this, 'Rollback', {
      functions,
      stateMachineName: `${config.name}-rollback`,
      endpointPollInterval: Duration.seconds(config.deployment.pollIntervalSeconds),
      timeout: rollbackTimeout(config),
      encryptionKey: key,
      logRetention,
      logRemovalPolicy,
    });
    this.rollbackStateMachine = rollback.stateMachine;

    // Notify prices its own run (lambdas/notify/cost.ts): the memory behind each state (the history does not carry
    // it), and the history of both machines' executions (Notify serves the rollback too). Names, not ARNs: the
    // machines' ARNs would make Notify depend on the state machines that invoke it (a cycle).
    const stateMemory = encodeStateMemory(stateMemoryMb(machine, rollback));
    // About 150 bytes more in Notify's environment (compact): checked against Lambda's 4 KB with the configuration.
    checkEnvironmentSize({ ...environment, [STATE_MEMORY_ENV]: stateMemory });
    functions.notify.addEnvironment(STATE_MEMORY_ENV, stateMemory);
    functions.notify.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:GetExecutionHistory'],
        resources: [machine.stateMachineName, `${config.name}-rollback`].map((n) => Stack.of(this).formatArn({ service: 'states', resource: 'execution', resourceName: `${n}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })),
      }),
    );

    // 8. The endpoint, and every run's model and endpoint config, belong to the stack: `cdk destroy` deletes them
    //    (unless deployment.endpointRemovalPolicy is "retain").
    this.endpointOwner = new EndpointOwner(this, 'EndpointOwner', {
      endpointName: this.endpointName,
      pipelineName: config.name,
      retain: config.deployment.endpointRemovalPolicy === 'retain',
      encryptionKey: key,
      logRetention,
      logRemovalPolicy,
    });

    // 9. An execution that ends ABORTED, TIMED_OUT or FAILED uncaught leaves no training job running.
    this.abortCleanup = new AbortCleanup(this, 'AbortCleanup', {
      stateMachine: this.stateMachine, pipelineName: config.name, topic: this.topic, encryptionKey: key,
      ...(topicKey ? { topicKey } : {}),
      environment, logRetention, logRemovalPolicy,
    });

    // 10. Data landing (and the schedule) start runs, one at a time (lib/constructs/trigger.ts).
    this.trigger = new PipelineTrigger(this, 'Trigger', {
      config: config.trigger, pipelineName: config.name, dataBucket, artifactsBucket, encryptionKey: key,
      stateMachine: this.stateMachine, stateMachineName: machine.stateMachineName, environment, bundling: STAGE_BUNDLING, logRetention, logRemovalPolicy,
    });

    // 11. Production monitoring: Deploy turns data capture on; the monitor compares the traffic with the champion.
    this.monitoring = new ProductionMonitoring(this, 'Monitoring', {
      monitoring: config.monitoring, pipelineName: config.name, artifactsBucket, encryptionKey: key, topic: this.topic,
      sagemakerRole: this.sagemakerRole, environment, bundling: STAGE_BUNDLING, logRetention, logRemovalPolicy, triggerQueue: this.trigger.queue,
    });

    // 12. Alarms (to the outcome topic) and one dashboard (lib/constructs/alarms.ts, dashboard.ts).
    const deadLetterQueues = { trigger: this.trigger.deadLetterQueue, abortCleanup: this.abortCleanup.deadLetterQueue };
    this.alarms = new PipelineAlarms(this, 'Alarms', {
      pipelineName: config.name, stateMachine: this.stateMachine, topic: this.topic, encryptionKey: key, endpointName: this.endpointName,
      triggerQueue: this.trigger.queue, // Three receives that each waited out the visibility timeout: the message keeps failing.
      triggerQueueMaxAge: Duration.seconds(TRIGGER_VISIBILITY_TIMEOUT.toSeconds() * 3),
      deadLetterQueues,
    });
    this.dashboard = new PipelineDashboard(this, 'Dashboard', {
      pipelineName: config.name, serviceName: environment.POWERTOOLS_SERVICE_NAME, stateMachine: this.stateMachine,
      stageNames: [...STAGE_IDS.map(stageConstructId), 'Trigger'], endpointName: this.endpointName, triggerQueue: this.trigger.queue,
      deadLetterQueues, alarms: [...this.alarms.alarms, this.monitoring.driftAlarm, this.monitoring.failureAlarm],
    });
    this.monitoring.addToDashboard(this.dashboard.dashboard);

    // 13. What `relearn local run` finds the pipeline by (PIPELINE_METADATA_TYPE), and cdk-nag's reviewed findings:
    //    acknowledged on this pipeline's own resources when the app is validated (after cross-stack references are
    //    resolved, before any validation plugin of the app runs), so an app's own AwsSolutionsChecks pass.
    const metadata: PipelineMetadata = {
      id,
      name: config.name,
      stateMachineLogicalId: Stack.of(this).getLogicalId(this.stateMachine.node.defaultChild as sfn.CfnStateMachine),
      rollbackStateMachineLogicalId: Stack.of(this).getLogicalId(this.rollbackStateMachine.node.defaultChild as sfn.CfnStateMachine),
      version: RELEARN_VERSION,
    };
    this.node.addMetadata(PIPELINE_METADATA_TYPE, metadata);
    this.node.addValidation({ validate: () => (acknowledgeReviewedFindings(this), []) });
  }

  /** `<account>.dkr.ecr.<region>.<suffix>/sagemaker-scikit-learn:<version>-cpu-py3`, resolved per region at deploy. */
  private sklearnImageUri(frameworkVersion: string): string {
    const mapping = (this.imageRegistry = new CfnMapping(this, 'SklearnImageRegistry', {
      mapping: Object.fromEntries(Object.entries(SKLEARN_REGISTRY_ACCOUNTS).map(([region, account]) => [region, { account }])),
    }));
    const account = mapping.findInMap(Aws.REGION, 'account');
    return Fn.join('', [account, '.dkr.ecr.', Aws.REGION, '.', Aws.URL_SUFFIX, `/${SKLEARN_REPOSITORY}:${sklearnImageTag(frameworkVersion)}`]);
  }

  private grantSageMakerRole(role: iam.Role, props: Wiring): void {
    const { artifactsBucket: artifacts, encryptionKey: key } = props;
    const stack = Stack.of(this);
    // Read: dataset channels; self-contained models (runs/*/model/model.tar.gz: the champion channel, and what
    // every endpoint instance downloads when it starts, for the model's whole life).
    role.addToPolicy(s3Read(artifacts, ['datasets/*', 'runs/*/model/*']));
    role.addToPolicy(s3List(artifacts, ['datasets/*', 'runs/*/model/*']));
    // Spot checkpoints: written while the job trains, and read back (ListBucket on the prefix, then GetObject) each
    // time a job starts, so that a job resumed after a spot interruption continues from them.
    role.addToPolicy(s3Read(artifacts, [CHECKPOINTS]));
    role.addToPolicy(s3List(artifacts, [CHECKPOINTS]));
    // The `schema` channel: each run's validated schema.json, exactly that key (an S3Prefix channel: SageMaker lists it).
    role.addToPolicy(s3Read(artifacts, [SCHEMA_CHANNEL_KEY]));
    role.addToPolicy(s3List(artifacts, [SCHEMA_CHANNEL_KEY]));
    // Write: the job's own output (model.tar.gz, output.tar.gz) and spot checkpoints.
    role.addToPolicy(s3Write(artifacts, ['runs/*/training/*', CHECKPOINTS]));
    // The packaged code, exactly that object: training only (the submit directory, or the code channel of an
    // isolated job). A model never reads it: its code is inside its own archive (PackageModel).
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${this.trainingCode.s3BucketName}/${this.trainingCode.s3ObjectKey}`],
      }),
    );
    // With network isolation the code arrives as an S3Prefix channel of that one object: SageMaker lists it.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [`arn:${Aws.PARTITION}:s3:::${this.trainingCode.s3BucketName}`],
        conditions: { StringLike: { 's3:prefix': [this.trainingCode.s3ObjectKey] } },
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: KMS_DATA_ACTIONS, resources: [key.keyArn] }));
    // DescribeKey in a statement of its own: kms:GrantIsForAWSResource is only ever present on grant requests, so
    // under that condition DescribeKey would never be allowed.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources: [key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:DescribeKey'], resources: [key.keyArn] }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws/sagemaker/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
    // ECR: pull the image. GetAuthorizationToken has no resource-level permission.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    const repository = this.imageRepositoryArn();
    if (repository) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          resources: [repository],
        }),
      );
    } else if (!Token.isUnresolved(this.trainingImageUri)) {
      Annotations.of(this).addWarningV2(
        'relearn:imageNotEcr',
        `the training image ${this.trainingImageUri} is not an ECR image URI: grant the SageMaker role pull access yourself`,
      );
    }
  }

  /**
   * The ECR repository of the training image, or undefined when the image is not a literal ECR URI (an image given
   * as `trainingImage` from an ECR repository object was granted by its `bind`).
   */
  private imageRepositoryArn(): string | undefined {
    const stack = Stack.of(this);
    if (this.imageRegistry) {
      const account = this.imageRegistry.findInMap(Aws.REGION, 'account');
      return `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${account}:repository/${SKLEARN_REPOSITORY}`;
    }
    if (Token.isUnresolved(this.trainingImageUri)) return undefined;
    const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)/.exec(this.trainingImageUri);
    if (!m) return undefined;
    return `arn:${stack.partition}:ecr:${m[2]}:${m[1]}:repository/${m[3]}`;
  }

  /** Least privilege per stage: STAGE_S3_ACCESS for S3, SageMaker ARNs built from the names in names.ts. */
  private grantStages(fns: Record<FunctionId, lambda.Function>, props: Wiring, topicKey: kms.IKey | undefined): void {
    const { config, dataBucket: data, artifactsBucket: artifacts, encryptionKey: key } = props;
    const stack = Stack.of(this);
    const smArn = (resource: string) => `arn:${stack.partition}:sagemaker:${stack.region}:${stack.account}:${resource}`;
    const group = props.modelPackageGroupName.toLowerCase();
    const trainingJobs = smArn(`training-job/${config.name}-train-*`);
    const models = smArn(`model/${config.name}-model-*`);
    const endpointConfigs = smArn(`endpoint-config/${config.name}-epc-*`);
    // SageMaker ARNs are lower case whatever the name's case.
    const endpoint = smArn(`endpoint/${this.endpointName.toLowerCase()}`);
    const packageGroup = smArn(`model-package-group/${group}`);
    const packages = smArn(`model-package/${group}/*`);
    const allow = (f: lambda.IFunction, actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      f.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));

    // S3, from the table: every stage uses the key for SSE-KMS.
    for (const stage of FUNCTION_IDS) {
      const f = fns[stage];
      const access = STAGE_S3_ACCESS[stage];
      if (access.incoming) {
        f.addToRolePolicy(s3Read(data, [`${Layout.incomingPrefix}*`]));
        f.addToRolePolicy(s3List(data, [`${Layout.incomingPrefix}*`]));
      }
      if (access.read?.length) f.addToRolePolicy(s3Read(artifacts, access.read));
      if (access.list?.length) f.addToRolePolicy(s3List(artifacts, access.list));
      if (access.write?.length) f.addToRolePolicy(s3Write(artifacts, access.write));
      if (access.incoming || access.read?.length || access.write?.length) allow(f, KMS_DATA_ACTIONS, [key.keyArn]);
    }

    const passRole = (f: lambda.IFunction) =>
      allow(f, ['iam:PassRole'], [this.sagemakerRole.roleArn], { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
    // SageMaker encrypts volumes and outputs with our key through grants it creates for itself.
    // (DescribeKey apart: kms:GrantIsForAWSResource is only present on grant requests, so it would never match it.)
    const keyGrantsForSageMaker = (f: lambda.IFunction) => {
      allow(f, ['kms:CreateGrant'], [key.keyArn], { Bool: { 'kms:GrantIsForAWSResource': 'true' } });
      allow(f, ['kms:DescribeKey'], [key.keyArn]);
    };
    // Rolling an endpoint back (CheckEndpoint, VerifyServing, Notify): to the previous config, or delete a first deploy.
    // Every endpoint config carries the KMS key, so UpdateEndpoint to one needs the same grants as Deploy's.
    const rollBack = (f: lambda.IFunction) => {
      allow(f, ['sagemaker:DescribeEndpoint', 'sagemaker:UpdateEndpoint', 'sagemaker:DeleteEndpoint'], [endpoint]);
      allow(f, ['sagemaker:UpdateEndpoint', 'sagemaker:DescribeEndpointConfig'], [endpointConfigs]);
      keyGrantsForSageMaker(f);
    };

    // Ingest reads the exact version a run manifest pinned (the data bucket is versioned).
    allow(fns.ingest, ['s3:GetObjectVersion'], [data.arnForObjects(`${Layout.incomingPrefix}*`)]);

    // ShardStatistics / ValidateData: the curated schema asset, exactly that object.
    if (this.curatedSchema) {
      const schemaObject = `arn:${Aws.PARTITION}:s3:::${this.curatedSchema.s3BucketName}/${this.curatedSchema.s3ObjectKey}`;
      for (const stage of CURATED_SCHEMA_STAGES) allow(fns[stage], ['s3:GetObject'], [schemaObject]);
    }

    // StartTraining / CheckTraining: the job named from the execution, run as the SageMaker role.
    // ListTags proves a job of this run's name is this execution's (its start-time tag), not an earlier one's.
    allow(fns['start-training'], ['sagemaker:CreateTrainingJob', 'sagemaker:DescribeTrainingJob', 'sagemaker:ListTags', 'sagemaker:AddTags'], [trainingJobs]);
    passRole(fns['start-training']);
    keyGrantsForSageMaker(fns['start-training']);
    allow(fns['check-training'], ['sagemaker:DescribeTrainingJob'], [trainingJobs]);

    // PackageModel: the job's code URI (it must be the code asset below), then the repack into runs/*/model/.
    allow(fns['package-model'], ['sagemaker:DescribeTrainingJob'], [trainingJobs]);
    allow(fns['package-model'], ['s3:GetObject'], [`arn:${Aws.PARTITION}:s3:::${this.trainingCode.s3BucketName}/${this.trainingCode.s3ObjectKey}`]);

    // Register: a model package in the group; it finds its own earlier package by listing the group.
    allow(fns.register, ['sagemaker:CreateModelPackage', 'sagemaker:DescribeModelPackageGroup'], [packageGroup]);
    allow(fns.register, ['sagemaker:CreateModelPackage', 'sagemaker:DescribeModelPackage', 'sagemaker:AddTags'], [packages]);
    allow(fns.register, ['sagemaker:ListModelPackages'], ['*']);

    // Deploy: model, endpoint config, endpoint create/update (UpdateEndpoint also authorizes on the new config).
    allow(fns.deploy, ['sagemaker:DescribeModelPackage'], [packages]);
    allow(fns.deploy, ['sagemaker:CreateModel', 'sagemaker:DescribeModel', 'sagemaker:AddTags'], [models]);
    allow(fns.deploy, ['sagemaker:CreateEndpointConfig', 'sagemaker:DescribeEndpointConfig', 'sagemaker:AddTags'], [endpointConfigs]);
    allow(fns.deploy, ['sagemaker:CreateEndpoint', 'sagemaker:UpdateEndpoint', 'sagemaker:DescribeEndpoint', 'sagemaker:AddTags'], [endpoint]);
    allow(fns.deploy, ['sagemaker:CreateEndpoint', 'sagemaker:UpdateEndpoint'], [endpointConfigs]);
    passRole(fns.deploy);
    keyGrantsForSageMaker(fns.deploy);
    // Auto-rollback alarms of a blue/green update: SageMaker reads them with the caller's and the execution
    // role's rights (both get DescribeAlarms on exactly these alarms).
    const alarms = config.deployment.rollbackAlarms.map((name) => `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:${name}`);
    if (alarms.length) {
      allow(fns.deploy, ['cloudwatch:DescribeAlarms'], alarms);
      this.sagemakerRole.addToPolicy(new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: alarms }));
    }

    rollBack(fns['check-endpoint']);
    allow(fns['verify-serving'], ['sagemaker:InvokeEndpoint'], [endpoint]);
    rollBack(fns['verify-serving']);

    // Notify (also NotPromoted and NotifyFailure, which stops this run's training job and rolls back an
    // unpromoted deployment).
    allow(fns.notify, ['sns:Publish'], [this.topic.topicArn]);
    if (topicKey) allow(fns.notify, KMS_DATA_ACTIONS, [topicKey.keyArn]); // the topic's key (the pipeline's, unless a topic was given)
    allow(fns.notify, ['sagemaker:DescribeTrainingJob', 'sagemaker:ListTags', 'sagemaker:StopTrainingJob'], [trainingJobs]);
    rollBack(fns.notify);

    // ResolveRollback: reads the endpoint (refuses while it changes), the champion records and the target package.
    allow(fns['resolve-rollback'], ['sagemaker:DescribeEndpoint'], [endpoint]);
    allow(fns['resolve-rollback'], ['sagemaker:DescribeModelPackage'], [packages]);
    allow(fns['resolve-rollback'], ['sagemaker:ListModelPackages'], ['*']);
    // RestoreChampion: records the rollback on the restored and the replaced package.
    allow(fns['restore-champion'], ['sagemaker:UpdateModelPackage'], [packages]);
  }
}

/**
 * What each stage may do in S3 (docs/architecture.md's layout; keys of the artifacts bucket unless said
 * otherwise). `list` is s3:ListBucket limited by `s3:prefix`: a stage that must tell "absent" from "denied"
 * lists the exact key first (S3 answers a GET of a missing key with 403 when ListBucket is prefix-scoped).
 * Keep this table in step with the handlers: a missing line is an AccessDenied in the cloud only.
 */
export const STAGE_S3_ACCESS: Readonly<Record<FunctionId, { incoming?: boolean; read?: string[]; list?: string[]; write?: string[] }>> = {
  ingest: { incoming: true, read: ['datasets/*', 'trigger/manifests/*'], list: ['datasets/*'], write: ['datasets/*'] },
  'shard-statistics': {
    read: ['datasets/*', Layout.champion, 'config/schema.json', 'runs/*/validation/*'],
    list: [Layout.champion, 'config/schema.json', 'runs/*/validation/*'],
    write: ['runs/*/validation/*'],
  },
  'validate-data': {
    read: ['datasets/*', Layout.champion, 'config/schema.json', 'runs/*/validation/*'],
    list: [Layout.champion, 'config/schema.json', 'runs/*/validation/*'],
    write: ['runs/*/validation/*'],
  },
  'start-training': { read: [Layout.champion], list: [Layout.champion] },
  'check-training': {},
  evaluate: {
    read: ['datasets/*', 'runs/*/training/*', 'runs/*/validation/*', Layout.champion],
    list: ['datasets/*', Layout.champion, 'runs/*/validation/*'],
    write: ['runs/*/evaluation/*', 'runs/*/decision.json'],
  },
  'package-model': { read: ['runs/*/training/*', 'runs/*/model/*'], list: ['runs/*/model/*'], write: ['runs/*/model/*'] },
  register: {},
  deploy: { read: ['runs/*/deployment.json'], list: ['runs/*/deployment.json'], write: ['runs/*/deployment.json'] },
  'check-endpoint': {},
  // runs/*/validation/*: the run's schema.json, for the order of the class probabilities (multiclass)
  'verify-serving': { read: ['datasets/*', 'runs/*/training/*', 'runs/*/validation/*'], list: ['datasets/*', 'runs/*/validation/*'] },
  'promote-baseline': { read: [Layout.champion], list: [Layout.champion], write: [Layout.champion, 'champion/history/*'] },
  // decision.json: Notify adds the run's cost to the decision record.
  notify: { read: ['runs/*/deployment.json', 'runs/*/decision.json'], list: ['runs/*/deployment.json', 'runs/*/decision.json'], write: ['runs/*/outcome.json', 'runs/*/decision.json'] },
  // It checks that everything the target is verified and validated against is still there (listing each key).
  'resolve-rollback': {
    read: [Layout.champion, 'champion/history/*', 'runs/*/model/*'],
    list: [Layout.champion, 'champion/history/*', 'runs/*/model/*', 'runs/*/validation/*', 'runs/*/training/*', 'datasets/*'],
  },
  'restore-champion': { read: [Layout.champion, 'runs/*/model/*'], list: [Layout.champion], write: [Layout.champion, 'champion/history/*'] },
};

/** The key pattern of the training job's `schema` channel (ValidateData writes runs/<exec>/validation/schema.json). */
export const SCHEMA_CHANNEL_KEY = `${Layout.validation('*')}schema.json`;

/** Where a spot job's checkpoints live (StartTraining's CheckpointConfig.S3Uri: runs/<exec>/checkpoints/). */
const CHECKPOINTS = 'runs/*/checkpoints/*';

/** What S3 SSE-KMS, SNS and SageMaker need of the key to encrypt and decrypt data (no wildcards). */
const KMS_DATA_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

/** s3:GetObject on exact key patterns of a bucket. */
function s3Read(bucket: s3.IBucket, patterns: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: patterns.map((p) => bucket.arnForObjects(p)) });
}

/** s3:PutObject (and multipart clean-up) on exact key patterns of a bucket. */
function s3Write(bucket: s3.IBucket, patterns: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: patterns.map((p) => bucket.arnForObjects(p)) });
}

/** s3:ListBucket limited to key prefixes (ListObjectsV2's `prefix` must match). */
function s3List(bucket: s3.IBucket, prefixes: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': prefixes } },
  });
}

/**
 * RELEARN_CONFIG: the whole parsed configuration as JSON when it fits Lambda's 4 KB environment (the usual
 * case), else only the fields that differ from the defaults, which every reader turns back into the same
 * configuration (loadEnv parses it with parseConfig; checked here). Throws when even that does not fit.
 */
export function configForEnvironment(config: RelearnConfig, otherVariables: Record<string, string>): string {
  const full = JSON.stringify(config);
  const withConfig = (value: string) => ({ ...otherVariables, RELEARN_CONFIG: value });
  if (environmentSize(withConfig(full)) <= LAMBDA_ENV_LIMIT_BYTES) return full;
  const compact = JSON.stringify(withoutDefaults(config, parseConfig({})) ?? {});
  // Compared field by field, not as text: parsing puts a derived default (evaluation.primaryMetric) after the fields
  // given, so a config parsed twice (the config prop may be a parsed config) has the same fields in another order.
  if (canonicalJson(parseConfig(JSON.parse(compact))) !== canonicalJson(config)) {
    throw new Error('RELEARN_CONFIG: the configuration without its defaults does not parse back to the same configuration');
  }
  checkEnvironmentSize(withConfig(compact));
  return compact;
}

/** JSON with every object's keys sorted: equal for equal values whatever the order their fields were set in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The parts of `value` that differ from `defaults` (objects compared field by field, anything else as JSON). */
export function withoutDefaults(value: unknown, defaults: unknown): unknown {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(value) && isObject(defaults)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const d = withoutDefaults(v, defaults[k]);
      if (d !== undefined) out[k] = d;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return JSON.stringify(value) === JSON.stringify(defaults) ? undefined : value;
}

/** Bytes of an environment as Lambda counts them (keys and values), with tokens at their upper bound. */
function environmentSize(env: Record<string, string>): number {
  let total = 0;
  for (const [k, v] of Object.entries(env)) {
    total += Buffer.byteLength(k) + (Token.isUnresolved(v) ? (TOKEN_VALUE_BOUNDS[k] ?? 256) : Buffer.byteLength(v));
  }
  return total;
}

/** Upper bounds of values that are still tokens at synth time (names CloudFormation generates). */
const TOKEN_VALUE_BOUNDS: Record<string, number> = {
  DATA_BUCKET: 63,
  ARTIFACTS_BUCKET: 63,
  KMS_KEY_ARN: 128,
  SAGEMAKER_ROLE_ARN: 160,
  TOPIC_ARN: 320,
  TRAINING_CODE_URI: 200,
  CURATED_SCHEMA_URI: 200,
  TRAINING_IMAGE_URI: 160,
};

/**
 * Lambda's environment limit is 4 KB for all keys and values together; RELEARN_CONFIG (the whole config as
 * JSON) is what grows. Tokens count at their largest realistic length. Throws naming the sizes.
 */
export function checkEnvironmentSize(env: Record<string, string>): number {
  const total = environmentSize(env);
  if (total > LAMBDA_ENV_LIMIT_BYTES) {
    const configBytes = Buffer.byteLength(env.RELEARN_CONFIG ?? '');
    throw new Error(
      `The Lambda environment must be at most ${LAMBDA_ENV_LIMIT_BYTES} bytes, but got about ${total} ` +
        `(RELEARN_CONFIG alone is ${configBytes} bytes, without its defaults): shorten the configuration (hyperparameters, metric definitions, slice columns)`,
    );
  }
  return total;
}
