import * as fs from 'node:fs';
import * as path from 'node:path';
import { Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';
import { ConfigError, endpointNameOf, parseConfig, RelearnConfig } from '../../lambdas/shared/config';
import { trainingSourceDirOf } from '../config-file';
import { SKLEARN_VERSIONS } from '../sklearn-images';
import type { RetrainingPipelineProps } from './retraining-pipeline';

/**
 * RetrainingPipeline's props, checked at construction (a bad prop fails the synth before anything is built), with
 * messages that name the prop and say what was expected and what came in. Unresolved tokens are not checked.
 */

/** A prop of RetrainingPipeline that cannot be used: the message names it, what was expected and what came in. */
export class RelearnPropsError extends Error {
  constructor(
    readonly prop: string,
    message: string,
  ) {
    super(`RetrainingPipeline: ${prop} ${message}`);
    this.name = 'RelearnPropsError';
  }
}

/** SageMaker resource names: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`. */
const SAGEMAKER_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
/** Step Functions state machine names: 1-80 of letters, digits, `-` and `_`. */
const STATE_MACHINE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** SageMaker ML instance types (`ml.<family>.<size>`). */
const INSTANCE_TYPE = /^ml\.[a-z0-9]+\.[a-z0-9]+$/;

/** The config prop parsed (a bad field names `config.<field>`), with the instance-type props applied. */
export function effectiveConfig(props: RetrainingPipelineProps): RelearnConfig {
  let config: RelearnConfig;
  try {
    config = parseConfig(props.config ?? {}, 'the config prop');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new RelearnPropsError('config', `must be a valid relearn configuration (docs/configuration.md), but got:\n${err.problems.map((p) => `  - config.${p}`).join('\n')}`);
  }
  for (const [prop, value] of [
    ['trainingInstanceType', props.trainingInstanceType],
    ['servingInstanceType', props.servingInstanceType],
  ] as const) {
    if (value !== undefined && !Token.isUnresolved(value) && !INSTANCE_TYPE.test(value)) {
      throw new RelearnPropsError(prop, `must be a SageMaker ML instance type such as ml.m5.large, but got '${value}'`);
    }
  }
  return {
    ...config,
    training: { ...config.training, ...(props.trainingInstanceType !== undefined ? { instanceType: props.trainingInstanceType } : {}) },
    deployment: { ...config.deployment, ...(props.servingInstanceType !== undefined ? { instanceType: props.servingInstanceType } : {}) },
  };
}

/** Everything that can be checked of one pipeline's props on their own. */
export function checkProps(props: RetrainingPipelineProps, config: RelearnConfig, appRoot: string): void {
  // Bring your own, or relearn builds it: never both.
  const pairs: [keyof RetrainingPipelineProps, keyof RetrainingPipelineProps, string][] = [
    ['dataBucket', 'dataBucketProps', 'bucket'],
    ['artifactsBucket', 'artifactsBucketProps', 'bucket'],
    ['encryptionKey', 'encryptionKeyProps', 'key'],
    ['accessLogsBucket', 'accessLogsBucketProps', 'bucket'],
  ];
  for (const [existing, overrides, what] of pairs) {
    if (props[existing] !== undefined && props[overrides] !== undefined) {
      throw new RelearnPropsError(
        `${existing} and ${overrides}`,
        `are exclusive: expected your own ${what} (${existing}) or overrides for the one relearn builds (${overrides}), but got both`,
      );
    }
  }
  if (props.accessLogsBucketProps !== undefined && props.dataBucket !== undefined && props.artifactsBucket !== undefined) {
    throw new RelearnPropsError('accessLogsBucketProps', 'is for the access-log bucket of the buckets relearn builds, but got both dataBucket and artifactsBucket: relearn builds no bucket');
  }
  const name = props.modelPackageGroupName;
  if (name !== undefined && !Token.isUnresolved(name) && !SAGEMAKER_NAME.test(name)) {
    throw new RelearnPropsError('modelPackageGroupName', `must be a SageMaker name (letters, digits, hyphens, at most 63), but got '${name}'`);
  }
  const sm = props.stateMachineName;
  if (sm !== undefined && !Token.isUnresolved(sm) && !STATE_MACHINE_NAME.test(sm)) {
    throw new RelearnPropsError('stateMachineName', `must be a Step Functions name (letters, digits, - and _, at most 80), but got '${sm}'`);
  }
  if (props.logRetention !== undefined && !Token.isUnresolved(props.logRetention) && !(props.logRetention > 0)) {
    throw new RelearnPropsError('logRetention', `must be a retention period of logs.RetentionDays, but got ${String(props.logRetention)}`);
  }
  if (props.trainingImage === undefined && !config.training.imageUri && !(SKLEARN_VERSIONS as readonly string[]).includes(config.training.frameworkVersion)) {
    throw new RelearnPropsError(
      'config.training.frameworkVersion',
      `must be one of ${SKLEARN_VERSIONS.join(', ')} (or set training.imageUri, or the trainingImage prop), but got '${config.training.frameworkVersion}'`,
    );
  }
  const sourceDir = trainingSourceDirOf(config, appRoot);
  const given = config.training.sourceDir;
  if (!fs.existsSync(sourceDir) || !fs.statSync(sourceDir).isDirectory()) {
    throw new RelearnPropsError(
      given === undefined ? 'config' : 'config.training.sourceDir',
      given === undefined
        ? `names no training.sourceDir, so relearn's built-in script is used, but it is missing: ${sourceDir} does not exist (a broken install?)`
        : `must be a folder (relative to appRoot ${appRoot}), but got '${given}' (${sourceDir} does not exist)`,
    );
  }
  const entry = path.join(sourceDir, config.training.entryPoint);
  if (!fs.existsSync(entry)) {
    throw new RelearnPropsError('config.training.entryPoint', `must be a file in the training source folder, but got '${config.training.entryPoint}' (${entry} does not exist)`);
  }
}

/** What the pipelines of one app have claimed: physical name prefixes, endpoints, artifacts buckets. */
interface Claim {
  readonly path: string;
  readonly name: string;
  readonly endpoint: string;
  readonly stateMachineName: string;
  readonly modelPackageGroup?: string;
  readonly artifactsBucket?: string;
}

const CLAIMS = new WeakMap<IConstruct, Claim[]>();

/** Prefixes of the SageMaker names a pipeline creates at run time (lambdas/shared/names.ts); its IAM covers `<prefix>*`. */
const RUNTIME_NAME_KINDS = ['train', 'model', 'epc'];

/** True when a run-time name of pipeline `b` falls under an IAM pattern `<a>-<kind>-*` of pipeline `a`. */
export function namesOverlap(a: string, b: string): boolean {
  for (const kindA of RUNTIME_NAME_KINDS) {
    const pattern = `${a}-${kindA}-`;
    for (const kindB of RUNTIME_NAME_KINDS) {
      const prefix = `${b}-${kindB}-`;
      if (prefix.startsWith(pattern) || pattern.startsWith(prefix)) return true;
    }
  }
  return false;
}

/**
 * Two pipelines in one app must not share a physical name or a name pattern (state machine, endpoint, model package
 * group, the SageMaker names their IAM covers), nor an artifacts bucket (their champion records would collide).
 */
export function checkNoClash(pipeline: Construct, config: RelearnConfig, props: RetrainingPipelineProps): void {
  const root = pipeline.node.root;
  const claims = CLAIMS.get(root) ?? [];
  const bucketKey = props.artifactsBucket ? bucketIdentity(props.artifactsBucket) : undefined;
  const mine: Claim = {
    path: pipeline.node.path,
    name: config.name,
    endpoint: endpointNameOf(config),
    stateMachineName: props.stateMachineName ?? `${config.name}-retrain`,
    ...(props.modelPackageGroupName === undefined ? { modelPackageGroup: `${config.name}-models` } : Token.isUnresolved(props.modelPackageGroupName) ? {} : { modelPackageGroup: props.modelPackageGroupName }),
    ...(bucketKey ? { artifactsBucket: bucketKey } : {}),
  };
  for (const other of claims) {
    const clash = (prop: string, expected: string, got: string) => {
      throw new RelearnPropsError(prop, `must differ from that of the pipeline at ${other.path} (${expected}), but got '${got}'`);
    };
    if (other.name === mine.name) clash('config.name', 'physical names derive from it', mine.name);
    if (namesOverlap(other.name, mine.name)) {
      clash('config.name', `its training jobs, models and endpoint configs would fall under the other's IAM patterns ${other.name}-train-*, -model-*, -epc-*`, mine.name);
    }
    if (other.endpoint === mine.endpoint) clash('config.deployment.endpointName', 'one endpoint per pipeline', mine.endpoint);
    if (other.stateMachineName === mine.stateMachineName) clash('stateMachineName', 'state machine names are unique per account and region', mine.stateMachineName);
    if (mine.modelPackageGroup && other.modelPackageGroup === mine.modelPackageGroup) clash('modelPackageGroupName', 'each pipeline registers its own candidates', mine.modelPackageGroup);
    if (mine.artifactsBucket && other.artifactsBucket === mine.artifactsBucket) {
      clash('artifactsBucket', 'datasets, runs and the champion record of two pipelines would collide in one bucket', mine.artifactsBucket);
    }
  }
  claims.push(mine);
  CLAIMS.set(root, claims);
}

/** The same bucket gives the same identity: its literal name, or for a name CloudFormation generates, its construct. */
function bucketIdentity(bucket: s3.IBucket): string {
  return Token.isUnresolved(bucket.bucketName) ? `construct ${bucket.node.path}` : bucket.bucketName;
}
