import {
  ContainerDefinition,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeploymentConfig as SageMakerDeploymentConfig,
  DescribeModelPackageCommand,
  ProductionVariantInstanceType,
  SageMakerClient,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import { s3Client, sageMakerClient } from '../shared/clients';
import { DeploymentConfig } from '../shared/config';
import { DeploymentRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { DeploymentFailed, InvalidStageInput, RelearnError } from '../shared/errors';
import { isTransient } from '../shared/handler';
import { logger } from '../shared/logger';
import { endpointConfigName, modelName, tagSafe } from '../shared/names';
import { dataCaptureConfig } from '../monitor/capture-config';
import { canonicalStartTime, EXECUTION_TAG, executionTags, SUBMIT_DIRECTORY_IN_MODEL } from '../shared/sagemaker';
import { DeploymentRecord, describeEndpoint, Endpoint, ENDPOINT_CHANGING, isAlreadyExists, pendingConfigOf, readDeploymentRecord, writeDeploymentRecord } from './endpoint';

export interface DeployDeps {
  readonly sagemaker: SageMakerClient;
  readonly s3: S3Client;
}

const defaultDeps = (): DeployDeps => ({ sagemaker: sageMakerClient(), s3: s3Client() });


/**
 * Deploy: puts the blessed candidate on the endpoint. Creates the model and the endpoint config (names derived
 * from the execution, so a retry finds its own), then creates the endpoint, or updates it blue/green. Never
 * deploys an unblessed model, never touches an endpoint that someone else is changing, never issues the same
 * update twice. CheckEndpoint then polls until the endpoint serves this config (or SageMaker rolled back).
 */
export async function deploy(event: StageEvent, env: LambdaEnv, deps: DeployDeps = defaultDeps()): Promise<DeploymentRef> {
  const { executionName, state } = event;
  const { config } = env;
  // 1. The gate: a model reaches the endpoint only when Register approved it. Never silently.
  if (!state.registration) throw new InvalidStageInput('Deploy: the state has no registration: Deploy runs after Register');
  if (!state.registration.promote) {
    throw new DeploymentFailed(
      `Deploy refused model package ${state.registration.modelPackageArn}: it is ${state.registration.approvalStatus}, not approved for deployment; the endpoint was not touched`,
    );
  }
  const names = {
    endpointName: env.endpointName,
    modelName: modelName(config.name, executionName),
    endpointConfigName: endpointConfigName(config.name, executionName),
  };
  const { sagemaker, s3 } = deps;
  const tags = event.executionStartTime
    ? executionTags({ executionName, startTime: event.executionStartTime })
    : [{ Key: EXECUTION_TAG, Value: tagSafe(executionName) }];

  // 2. The model: exactly what the registry holds for the approved package (a self-contained model.tar.gz: the
  //    serving code is inside it, so the container needs no network and can start as long as the archive exists).
  const container = await registeredContainer(sagemaker, state.registration.modelPackageArn);
  await createIfAbsent(() =>
    sagemaker.send(
      new CreateModelCommand({
        ModelName: names.modelName,
        ExecutionRoleArn: env.sagemakerRoleArn,
        PrimaryContainer: container,
        // Nothing to download at start-up but the model itself, which SageMaker does before the container runs.
        EnableNetworkIsolation: true,
        Tags: tags,
      }),
    ),
  );

  // 3. The endpoint config: one variant taking all traffic.
  const capture = dataCaptureConfig(config.monitoring.capture, env.artifactsBucket, env.kmsKeyArn);
  await createIfAbsent(() =>
    sagemaker.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: names.endpointConfigName,
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            ModelName: names.modelName,
            InstanceType: config.deployment.instanceType as ProductionVariantInstanceType,
            InitialInstanceCount: config.deployment.instanceCount,
            InitialVariantWeight: 1,
          },
        ],
        // Instance types with local NVMe storage encrypt it in hardware and reject a KmsKeyId.
        ...(hasInstanceStorage(config.deployment.instanceType) ? {} : { KmsKeyId: env.kmsKeyArn }),
        // What the endpoint serves is captured (KMS-encrypted, under the capture prefix) for the monitor.
        ...(capture ? { DataCaptureConfig: capture } : {}),
        Tags: tags,
      }),
    ),
  );

  // 4. The endpoint: create, update, or (on a retry) recognise our own change in flight. A record written by an
  //    earlier execution of the same name is not this run's.
  const stored = await readDeploymentRecord(s3, env.artifactsBucket, executionName);
  const record = stored && (!stored.executionStartTime || !event.executionStartTime || canonicalStartTime(stored.executionStartTime) === canonicalStartTime(event.executionStartTime)) ? stored : undefined;
  const endpoint = await describeEndpoint(sagemaker, names.endpointName);
  const ref = (status: string, previous: string | undefined): DeploymentRef => ({
    ...names,
    ...(previous ? { previousEndpointConfigName: previous } : {}),
    status,
    done: status === 'InService' && endpoint?.EndpointConfigName === names.endpointConfigName,
  });

  if (record?.issued) {
    // A retry after the create/update went out: report, never issue it again. CheckEndpoint judges the outcome.
    logger.info('Deploy: this execution already issued its endpoint change', { action: record.action });
    return ref(endpoint?.EndpointStatus ?? 'NotFound', record.previousEndpointConfigName);
  }

  const ours = (e: Endpoint) => e.EndpointConfigName === names.endpointConfigName || pendingConfigOf(e) === names.endpointConfigName;
  const newRecord = (action: DeploymentRecord['action'], previous: string | undefined, issued: boolean): DeploymentRecord => ({
    executionName,
    ...names,
    ...(previous ? { previousEndpointConfigName: previous } : {}),
    action,
    issued,
    at: new Date().toISOString(),
    ...(event.executionStartTime ? { executionStartTime: canonicalStartTime(event.executionStartTime) } : {}),
  });

  if (!endpoint) {
    await writeDeploymentRecord(s3, env.artifactsBucket, newRecord('create', undefined, false), env.kmsKeyArn);
    await createIfAbsent(() =>
      sagemaker.send(new CreateEndpointCommand({ EndpointName: names.endpointName, EndpointConfigName: names.endpointConfigName, Tags: tags })),
    );
    await writeDeploymentRecord(s3, env.artifactsBucket, newRecord('create', undefined, true), env.kmsKeyArn);
    logger.info('Deploy: creating the endpoint', names);
    return { ...names, status: 'Creating', done: false };
  }

  const status = endpoint.EndpointStatus ?? 'Unknown';
  if (ours(endpoint)) {
    // Our config is already live or on its way (e.g. the record write failed after the call): nothing to issue.
    return ref(status, record?.previousEndpointConfigName);
  }
  if (ENDPOINT_CHANGING.has(status)) {
    if (record) {
      // We recorded the intent and the endpoint started changing: our call went out before the Lambda died.
      return ref(status, record.previousEndpointConfigName);
    }
    const pending = pendingConfigOf(endpoint);
    throw new DeploymentFailed(
      `endpoint ${names.endpointName} is ${status}${pending ? ` (to ${pending})` : ''}: another deployment is in progress, so this run does not touch it. ` +
        `Model ${names.modelName} and config ${names.endpointConfigName} are ready; run again once the endpoint is InService`,
    );
  }
  if (status === 'Failed') {
    throw new DeploymentFailed(
      `endpoint ${names.endpointName} is Failed (${endpoint.FailureReason ?? 'no FailureReason'}) and serves nothing; relearn does not replace an endpoint it did not just create. ` +
        `Delete it (aws sagemaker delete-endpoint --endpoint-name ${names.endpointName}) and run again: the next run creates it afresh`,
    );
  }
  if (status !== 'InService') {
    throw new DeploymentFailed(`endpoint ${names.endpointName} is ${status}: it can only be updated when InService; nothing was changed`);
  }

  const previous = endpoint.EndpointConfigName;
  await writeDeploymentRecord(s3, env.artifactsBucket, newRecord('update', previous, false), env.kmsKeyArn);
  try {
    await sagemaker.send(
      new UpdateEndpointCommand({
        EndpointName: names.endpointName,
        EndpointConfigName: names.endpointConfigName,
        DeploymentConfig: blueGreen(config.deployment),
      }),
    );
  } catch (err) {
    throw asDeploymentFailed(err);
  }
  await writeDeploymentRecord(s3, env.artifactsBucket, newRecord('update', previous, true), env.kmsKeyArn);
  logger.info('Deploy: updating the endpoint blue/green', { ...names, previousEndpointConfigName: previous });
  return { ...names, ...(previous ? { previousEndpointConfigName: previous } : {}), status: 'Updating', done: false };
}

/**
 * The container of a registered model package (its InferenceSpecification), as CreateModel takes it. A package
 * that is not self-contained (SAGEMAKER_SUBMIT_DIRECTORY on S3, registered before PackageModel existed) would need
 * the SageMaker role to read that code object forever: refused, naming it.
 */
export async function registeredContainer(sagemaker: SageMakerClient, modelPackageArn: string): Promise<ContainerDefinition> {
  const pkg = await sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: modelPackageArn })).catch((err: unknown) => {
    throw asDeploymentFailed(err);
  });
  const c = pkg.InferenceSpecification?.Containers?.[0];
  if (!c?.Image || !c.ModelDataUrl) throw new DeploymentFailed(`model package ${modelPackageArn} has no container with an image and a ModelDataUrl: nothing to deploy`);
  const submit = c.Environment?.SAGEMAKER_SUBMIT_DIRECTORY;
  if (submit !== undefined && submit !== SUBMIT_DIRECTORY_IN_MODEL) {
    throw new DeploymentFailed(
      `model package ${modelPackageArn} is not self-contained: its SAGEMAKER_SUBMIT_DIRECTORY is ${submit}, not ${SUBMIT_DIRECTORY_IN_MODEL}; ` +
        'relearn deploys only models that carry their serving code (docs/architecture.md, PackageModel)',
    );
  }
  return { Image: c.Image, ModelDataUrl: c.ModelDataUrl, ...(c.Environment ? { Environment: c.Environment } : {}) };
}

/** The blue/green update policy: all traffic at once after the new fleet is up, the old fleet kept a while. */
export function blueGreen(d: DeploymentConfig): SageMakerDeploymentConfig {
  return {
    BlueGreenUpdatePolicy: {
      TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: d.blueGreen.waitIntervalSeconds },
      TerminationWaitInSeconds: d.blueGreen.terminationWaitSeconds,
      ...(d.blueGreen.maximumExecutionTimeoutSeconds !== undefined ? { MaximumExecutionTimeoutInSeconds: d.blueGreen.maximumExecutionTimeoutSeconds } : {}),
    },
    ...(d.rollbackAlarms.length > 0 ? { AutoRollbackConfiguration: { Alarms: d.rollbackAlarms.map((AlarmName) => ({ AlarmName })) } } : {}),
  };
}

/**
 * Instance families with local NVMe instance storage (m5d, c5d, r5d, g4dn, p3dn, p4d, c6gd, ... and the g5/g6/p5
 * generations): SageMaker rejects a KmsKeyId for them because that storage is encrypted by the instance itself.
 */
export function hasInstanceStorage(instanceType: string): boolean {
  const family = instanceType.split('.')[1] ?? '';
  return /^[a-z]+\d+[a-z]*d[a-z]*$/.test(family) || /^(g5|g6|g6e|p5|p5e|trn1|trn1n|inf2|dl1)$/.test(family);
}

/** Runs a Create* call; "already exists" means a previous attempt of this execution made it: success. */
async function createIfAbsent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isAlreadyExists(err)) throw asDeploymentFailed(err);
    logger.info('Deploy: already exists (an earlier attempt of this execution created it)', { message: (err as Error).message });
  }
}

/**
 * SageMaker refusing a request (a bad instance type, a missing image, no permission) is a DeploymentFailed that
 * carries SageMaker's words; throttling and 5xx stay as they are, so the handler maps them to TransientError.
 */
function asDeploymentFailed(err: unknown): unknown {
  if (isTransient(err) || !(err instanceof Error) || err instanceof RelearnError) return err;
  return new DeploymentFailed(`SageMaker refused the deployment: ${err.name}: ${err.message}`, { cause: err });
}
