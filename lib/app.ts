import * as path from 'node:path';
import { App, Environment, Validations } from 'aws-cdk-lib';
import { RelearnConfig } from '../lambdas/shared/config';
import { DataStack } from './data-stack';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PipelineStack } from './pipeline-stack';

export interface BuildRelearnAppOptions {
  /**
   * Directory the config's relative paths (`training.sourceDir`, `validation.schemaFile`) are relative to: the
   * config file's folder (lib/config-file.ts).
   * @default - the relearn repository root
   */
  readonly appRoot?: string;
  /**
   * Account/region of both stacks.
   * @default - environment-agnostic stacks (what `cdk synth` and local mode use)
   */
  readonly env?: Environment;
  /**
   * Run cdk-nag's AwsSolutions checks at synth (a finding that is not acknowledged fails the synth).
   * @default true
   */
  readonly nag?: boolean;
}

/** The two stacks of relearn, their construct ids (a contract with local mode: it reads `Pipeline`'s template). */
export const DATA_STACK_ID = 'Data';
export const PIPELINE_STACK_ID = 'Pipeline';

/**
 * Adds relearn's stacks to an app: the stateful DataStack and the stateless PipelineStack, checked by
 * cdk-nag. bin/app.ts calls it for `cdk synth/deploy`; local mode calls it with `new App({ outdir })` and
 * reads the cloud assembly. Reads no environment and no context.
 */
export function buildRelearnApp(app: App, config: RelearnConfig, opts: BuildRelearnAppOptions = {}): { data: DataStack; pipeline: PipelineStack } {
  const data = new DataStack(app, DATA_STACK_ID, {
    config,
    env: opts.env,
    stackName: `${config.name}-data`,
    description: `relearn ${config.name}: key, buckets and model registry (stateful)`,
  });
  const pipeline = new PipelineStack(app, PIPELINE_STACK_ID, {
    config,
    env: opts.env,
    stackName: `${config.name}-pipeline`,
    description: `relearn ${config.name}: the retraining state machine and its stages`,
    dataBucket: data.dataBucket,
    artifactsBucket: data.artifactsBucket,
    encryptionKey: data.key,
    modelPackageGroupName: data.modelPackageGroupName,
    appRoot: opts.appRoot ? path.resolve(opts.appRoot) : undefined,
  });
  pipeline.addStackDependency(data, 'the pipeline reads the buckets, key and model package group');
  // cdk-nag's AwsSolutions over the whole app, as a platform team runs it on its own app: each pipeline (and the data
  // stack) acknowledges the findings reviewed in lib/nag-acknowledgements.ts, with reasons.
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { data, pipeline };
}
