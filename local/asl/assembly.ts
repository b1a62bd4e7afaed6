import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CfnResolver, CfnTemplate, DEFAULT_LOCAL_ACCOUNT, LocalAccount, StackTemplate, UnresolvableError } from './cfn-resolver';
import { AslDefinition, AslState, eachState } from './definition';

/**
 * Turns a cloud assembly (the `cdk.out` of `cdk synth`, or of an in-process `app.synth()`) into what local
 * mode runs: the state machine's ASL with every CloudFormation token replaced by its local value, each Lambda
 * task's bundled handler and environment, and the resources `cdk deploy` would have created or published
 * (buckets, the model package group, file assets such as sourcedir.tar.gz).
 *
 * Everything goes through the templates and the asset manifests, never through a folder listing: cdk.out
 * keeps stale `asset.*` folders from earlier syntheses.
 */

/** The context an in-process synth needs so Lambda resources carry `aws:asset:path` (the CLI sets it too). */
export const ASSET_METADATA_CONTEXT = { 'aws:cdk:enable-asset-metadata': true } as const;

export interface LocalFunction {
  readonly stackName: string;
  readonly logicalId: string;
  /** Local physical name (the function's FunctionName, or `<stack>-<logicalId>`). */
  readonly name: string;
  readonly arn: string;
  /** Absolute path of the bundled module (e.g. cdk.out/asset.<hash>/index.js). */
  readonly bundlePath: string;
  /** Exported function name inside the bundle (from `Handler: index.handler`). */
  readonly exportName: string;
  /** Environment.Variables, resolved to local values. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The function's execution role (its `Role`), whose credentials it runs with locally. */
  readonly roleArn?: string;
}

export interface LocalBucket {
  readonly stackName: string;
  /** The bucket's logical id, or `asset:<manifest destination>` for a CDK asset bucket. */
  readonly logicalId: string;
  readonly name: string;
}

export interface LocalModelPackageGroup {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly description?: string;
}

export interface LocalTopic {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

/** A CloudWatch alarm of the template, its properties resolved to local values (what PutMetricAlarm takes). */
export interface LocalAlarmResource {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** A file asset `cdk deploy` would upload (cdk-assets), with its destination resolved to local names. */
export interface LocalFileAsset {
  readonly id: string;
  readonly displayName?: string;
  /** Absolute path of the file (or directory, for `zip-directory` packaging). */
  readonly path: string;
  readonly packaging: 'file' | 'zip';
  readonly bucket: string;
  readonly key: string;
}

export interface ResolvedPipeline {
  readonly outdir: string;
  readonly account: LocalAccount;
  readonly stateMachine: {
    readonly stackName: string;
    readonly logicalId: string;
    readonly name: string;
    readonly arn: string;
    /** Runnable ASL: every token resolved, DefinitionSubstitutions applied. */
    readonly definition: AslDefinition;
  };
  /** Every Lambda function a task of the state machine invokes, by local ARN. */
  readonly functions: Readonly<Record<string, LocalFunction>>;
  /** Task state name -> the ARN of the function it invokes. */
  readonly tasks: Readonly<Record<string, string>>;
  /**
   * Functions an EventBridge rule invokes when an execution of this state machine ends ("Step Functions Execution
   * Status Change", e.g. the abort cleanup), with the statuses the rule matches. Their functions are in `functions`.
   */
  readonly statusChangeTargets: readonly { readonly arn: string; readonly statuses: readonly string[] }[];
  readonly buckets: readonly LocalBucket[];
  readonly modelPackageGroups: readonly LocalModelPackageGroup[];
  readonly topics: readonly LocalTopic[];
  /** CloudWatch alarms (local mode creates them in its CloudWatch, as `cdk deploy` does). */
  readonly alarms: readonly LocalAlarmResource[];
  readonly fileAssets: readonly LocalFileAsset[];
  /** Stack outputs, resolved where they can be (unresolvable outputs are left out). */
  readonly outputs: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface ResolveOptions {
  readonly account?: LocalAccount;
  /**
   * Logical id (or a prefix of it) of the state machine to run.
   * @default - among the state machines of `purpose` (none: the untagged ones), the only one, or relearn's retrain
   * (RETRAIN_STATE_MACHINE) when there are several
   */
  readonly stateMachine?: string;
  /** The stack (its CloudFormation name) the state machine is in: a pipeline of a user's app (local/asl/pipelines.ts). */
  readonly stackName?: string;
  /**
   * The value of the state machine's `relearn:purpose` tag (`monitoring` for the monitor). Without it (and without
   * `stateMachine`), state machines tagged with a purpose are left out: the retraining one is the default.
   * @default - the state machine without a relearn:purpose tag
   */
  readonly purpose?: string;
}

/** The tag lib/constructs/monitoring.ts puts on the monitoring state machine. */
export const PURPOSE_TAG = 'relearn:purpose';

/** Logical id prefixes of relearn's untagged state machines (the pipeline stack's `Pipeline/Retrain` and `Pipeline/Rollback`). */
export const RETRAIN_STATE_MACHINE = 'PipelineRetrainStateMachine';
export const ROLLBACK_STATE_MACHINE = 'PipelineRollbackStateMachine';

interface ManifestArtifact {
  type: string;
  displayName?: string;
  properties?: { templateFile?: string; stackName?: string; file?: string };
}

interface AssetManifest {
  files?: Record<
    string,
    {
      displayName?: string;
      source: { path?: string; packaging?: string; executable?: string[] };
      destinations: Record<string, { bucketName: string; objectKey: string }>;
    }
  >;
}

const LAMBDA_INVOKE = /^arn:[^:]+:states:::lambda:invoke$/;
const LAMBDA_ARN = /^arn:[^:]+:lambda:[^:]+:[^:]+:function:([^:]+)(?::[^:]+)?$/;

export function readAssembly(outdir: string): { stacks: StackTemplate[]; assetManifests: string[] } {
  const manifestPath = join(outdir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new UnresolvableError(`${manifestPath} not found: is ${outdir} a cloud assembly (cdk.out)?`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { artifacts?: Record<string, ManifestArtifact> };
  const stacks: StackTemplate[] = [];
  const assetManifests: string[] = [];
  for (const [id, artifact] of Object.entries(manifest.artifacts ?? {})) {
    if (artifact.type === 'aws:cloudformation:stack' && artifact.properties?.templateFile) {
      const template = JSON.parse(readFileSync(join(outdir, artifact.properties.templateFile), 'utf8')) as CfnTemplate;
      stacks.push({ stackName: artifact.properties.stackName ?? artifact.displayName ?? id, template });
    } else if (artifact.type === 'cdk:asset-manifest' && artifact.properties?.file) {
      assetManifests.push(join(outdir, artifact.properties.file));
    }
  }
  if (stacks.length === 0) throw new UnresolvableError(`${manifestPath}: the assembly has no CloudFormation stacks`);
  return { stacks, assetManifests };
}

/** Reads `outdir` and resolves its pipeline state machine and everything around it to local values. */
export function resolvePipeline(outdir: string, opts: ResolveOptions = {}): ResolvedPipeline {
  const account = opts.account ?? DEFAULT_LOCAL_ACCOUNT;
  const { stacks, assetManifests } = readAssembly(outdir);
  const resolver = new CfnResolver(stacks, account);

  // 1. The state machine.
  const machines = stacks.flatMap((stack) =>
    Object.entries(stack.template.Resources ?? {})
      .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
      .map(([logicalId]) => ({ stack, logicalId })),
  );
  const purposeOf = (m: (typeof machines)[number]) =>
    ((m.stack.template.Resources?.[m.logicalId]?.Properties?.Tags as { Key?: string; Value?: string }[] | undefined) ?? []).find((t) => t.Key === PURPOSE_TAG)?.Value;
  // A user's app names the stack (local/asl/pipelines.ts). A purpose (or none: the untagged retrain and rollback
  // machines) narrows the list; among several, the retrain.
  const inStack = machines.filter((m) => !opts.stackName || m.stack.stackName === opts.stackName);
  const candidates = opts.stateMachine ? inStack : inStack.filter((m) => purposeOf(m) === opts.purpose);
  const choice = opts.stateMachine ?? (candidates.length > 1 ? RETRAIN_STATE_MACHINE : undefined);
  const wanted = choice ? candidates.filter((m) => m.logicalId.startsWith(choice)) : candidates;
  if (wanted.length !== 1) {
    const list = machines.map((m) => `${m.stack.stackName}/${m.logicalId}`).join(', ') || 'none';
    throw new UnresolvableError(
      wanted.length === 0
        ? `${outdir}: no AWS::StepFunctions::StateMachine${choice ? ` matching ${choice}` : ''}${!opts.stateMachine && opts.purpose ? ` tagged ${PURPOSE_TAG}=${opts.purpose}` : ''}${opts.stackName ? ` in stack ${opts.stackName}` : ''} in the assembly (state machines: ${list})`
        : `${outdir}: more than one state machine (${list}); say which one`,
    );
  }
  const { stack: smStack, logicalId: smId } = wanted[0];
  const definition = resolveDefinition(resolver, smStack, smId);

  // 2. Lambda functions, by the ARN the definition now names.
  const lambdaByArn = new Map<string, { stack: StackTemplate; logicalId: string }>();
  for (const stack of stacks) {
    for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type === 'AWS::Lambda::Function') lambdaByArn.set(resolver.arn(stack, logicalId), { stack, logicalId });
    }
  }
  const functions: Record<string, LocalFunction> = {};
  const tasks: Record<string, string> = {};
  for (const { name, state, path } of eachState(definition)) {
    if (state.Type !== 'Task') continue;
    const arn = lambdaTarget(state, `${smStack.stackName}/${smId}: state ${path}`);
    const fn = lambdaByArn.get(arn);
    if (!fn) {
      throw new UnresolvableError(
        `${smStack.stackName}/${smId}: state ${path} invokes ${arn}, which is no AWS::Lambda::Function of the assembly`,
      );
    }
    if (tasks[name] && tasks[name] !== arn) {
      throw new UnresolvableError(`${smStack.stackName}/${smId}: two Task states named ${name} invoke different functions`);
    }
    tasks[name] = arn;
    functions[arn] ??= localFunction(resolver, outdir, fn.stack, fn.logicalId, arn);
  }

  // 2b. Functions run by EventBridge when an execution of this state machine ends (local mode runs them itself).
  const smArn = resolver.arn(smStack, smId);
  const statusChangeTargets: { arn: string; statuses: string[] }[] = [];
  for (const stack of stacks) {
    for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type !== 'AWS::Events::Rule' || r.Properties?.EventPattern === undefined) continue;
      const pattern = resolver.resolve(stack, r.Properties.EventPattern, `${logicalId}.EventPattern`) as {
        source?: string[];
        'detail-type'?: string[];
        detail?: { stateMachineArn?: string[]; status?: string[] };
      };
      if (!pattern?.source?.includes('aws.states') || !pattern['detail-type']?.includes('Step Functions Execution Status Change')) continue;
      if (pattern.detail?.stateMachineArn && !pattern.detail.stateMachineArn.includes(smArn)) continue;
      for (const [i, target] of ((r.Properties.Targets as { Arn?: unknown }[] | undefined) ?? []).entries()) {
        const arn = resolver.resolveString(stack, target.Arn, `${logicalId}.Targets[${i}].Arn`);
        const fn = lambdaByArn.get(arn);
        if (!fn) continue; // not a Lambda target: nothing local mode runs
        functions[arn] ??= localFunction(resolver, outdir, fn.stack, fn.logicalId, arn);
        statusChangeTargets.push({ arn, statuses: pattern.detail?.status ?? ['ABORTED', 'TIMED_OUT', 'FAILED', 'SUCCEEDED', 'RUNNING'] });
      }
    }
  }

  // 3. What `cdk deploy` creates or publishes that local mode must create too.
  const buckets: LocalBucket[] = [];
  const modelPackageGroups: LocalModelPackageGroup[] = [];
  const topics: LocalTopic[] = [];
  const alarms: LocalAlarmResource[] = [];
  for (const stack of stacks) {
    for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type === 'AWS::CloudWatch::Alarm') {
        const properties = resolver.resolve(stack, r.Properties ?? {}, `${logicalId}.Properties`) as Record<string, unknown>;
        alarms.push({ stackName: stack.stackName, logicalId, name: resolver.physicalName(stack, logicalId), properties });
      }
      if (r.Type === 'AWS::S3::Bucket') buckets.push({ stackName: stack.stackName, logicalId, name: resolver.physicalName(stack, logicalId) });
      if (r.Type === 'AWS::SNS::Topic') {
        topics.push({ stackName: stack.stackName, logicalId, name: resolver.physicalName(stack, logicalId), arn: resolver.arn(stack, logicalId) });
      }
      if (r.Type === 'AWS::SageMaker::ModelPackageGroup') {
        const description = r.Properties?.ModelPackageGroupDescription;
        modelPackageGroups.push({
          stackName: stack.stackName,
          logicalId,
          name: resolver.physicalName(stack, logicalId),
          arn: resolver.arn(stack, logicalId),
          ...(description !== undefined ? { description: resolver.resolveString(stack, description, `${logicalId}.ModelPackageGroupDescription`) } : {}),
        });
      }
    }
  }
  const fileAssets = readFileAssets(outdir, assetManifests, account);
  for (const a of fileAssets) {
    if (!buckets.some((b) => b.name === a.bucket)) buckets.push({ stackName: '', logicalId: 'asset:bootstrap', name: a.bucket });
  }

  const outputs: Record<string, Record<string, string>> = {};
  for (const stack of stacks) {
    for (const [key, o] of Object.entries(stack.template.Outputs ?? {})) {
      try {
        (outputs[stack.stackName] ??= {})[key] = resolver.resolveString(stack, o.Value, `Outputs.${key}`);
      } catch (err) {
        if (!(err instanceof UnresolvableError)) throw err;
      }
    }
  }

  return {
    outdir,
    account,
    stateMachine: {
      stackName: smStack.stackName,
      logicalId: smId,
      name: resolver.physicalName(smStack, smId),
      arn: resolver.arn(smStack, smId),
      definition,
    },
    functions,
    tasks,
    statusChangeTargets,
    buckets,
    modelPackageGroups,
    topics,
    alarms,
    fileAssets,
    outputs,
  };
}

function resolveDefinition(resolver: CfnResolver, stack: StackTemplate, logicalId: string): AslDefinition {
  const r = resolver.resource(stack, logicalId, 'state machine');
  const props = r.Properties ?? {};
  const where = `${logicalId}.DefinitionString`;
  let text: string;
  if (props.DefinitionString !== undefined) {
    text = resolver.resolveString(stack, props.DefinitionString, where);
  } else if (props.Definition !== undefined) {
    text = JSON.stringify(resolver.resolve(stack, props.Definition, `${logicalId}.Definition`));
  } else if (props.DefinitionS3Location !== undefined) {
    throw new UnresolvableError(`${stack.stackName}: ${logicalId}: DefinitionS3Location is not supported in local mode; use DefinitionString`);
  } else {
    throw new UnresolvableError(`${stack.stackName}: ${logicalId}: the state machine has no DefinitionString`);
  }
  const subs = props.DefinitionSubstitutions as Record<string, unknown> | undefined;
  if (subs) {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(subs)) {
      const resolved = resolver.resolve(stack, v, `${logicalId}.DefinitionSubstitutions.${k}`);
      values[k] = typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
    }
    text = text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (!(name in values)) {
        throw new UnresolvableError(`${stack.stackName}: ${logicalId}.DefinitionString: ${whole} has no entry in DefinitionSubstitutions`);
      }
      // Substitutions land inside JSON strings: escape like JSON would.
      return JSON.stringify(values[name]).slice(1, -1);
    });
  }
  try {
    return JSON.parse(text) as AslDefinition;
  } catch (err) {
    throw new UnresolvableError(`${stack.stackName}: ${where}: the resolved definition is not JSON: ${(err as Error).message}`);
  }
}

/** The function ARN a Task invokes: `lambda:invoke` with Parameters.FunctionName, or a Lambda ARN as Resource. */
export function lambdaTarget(state: AslState, where: string): string {
  const resource = String(state.Resource ?? '');
  let target: unknown;
  if (LAMBDA_INVOKE.test(resource)) {
    const params = (state.Parameters ?? {}) as Record<string, unknown>;
    target = params.FunctionName;
    if (typeof target !== 'string') {
      throw new UnresolvableError(`${where}: lambda:invoke needs a static Parameters.FunctionName (got ${JSON.stringify(params.FunctionName ?? params['FunctionName.$'])})`);
    }
  } else if (LAMBDA_ARN.test(resource)) {
    target = resource;
  } else {
    throw new UnresolvableError(
      `${where}: Resource ${resource} is not supported in local mode (only Lambda tasks, arn:aws:states:::lambda:invoke or a function ARN, run locally)`,
    );
  }
  const m = LAMBDA_ARN.exec(target as string);
  if (!m) throw new UnresolvableError(`${where}: FunctionName ${String(target)} is not a Lambda function ARN`);
  // Drop a version/alias qualifier: local mode runs the synthesized code.
  return (target as string).replace(/^(arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+):[^:]+$/, '$1');
}

export function localFunction(resolver: CfnResolver, outdir: string, stack: StackTemplate, logicalId: string, arn: string): LocalFunction {
  const r = resolver.resource(stack, logicalId, 'Lambda function');
  const props = r.Properties ?? {};
  const assetPath = r.Metadata?.['aws:asset:path'];
  if (typeof assetPath !== 'string') {
    throw new UnresolvableError(
      `${stack.stackName}: ${logicalId}: the Lambda function has no aws:asset:path metadata (inline or image code, or synthesized without the context aws:cdk:enable-asset-metadata=true)`,
    );
  }
  const handler = resolver.resolveString(stack, props.Handler ?? 'index.handler', `${logicalId}.Handler`);
  const dot = handler.lastIndexOf('.');
  if (dot <= 0) throw new UnresolvableError(`${stack.stackName}: ${logicalId}.Handler: ${handler} is not <file>.<export>`);
  const dir = isAbsolute(assetPath) ? assetPath : join(outdir, assetPath);
  const base = join(dir, handler.slice(0, dot));
  const bundlePath = ['.js', '.cjs', '.mjs'].map((ext) => base + ext).find((p) => existsSync(p));
  if (!bundlePath) {
    throw new UnresolvableError(`${stack.stackName}: ${logicalId}: Handler ${handler} names ${base}.js, which does not exist in ${dir}`);
  }
  const vars = (props.Environment as { Variables?: unknown } | undefined)?.Variables;
  const environment: Record<string, string> = {};
  if (vars !== undefined) {
    const resolved = resolver.resolve(stack, vars, `${logicalId}.Environment.Variables`) as Record<string, unknown>;
    for (const [k, v] of Object.entries(resolved)) environment[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return {
    stackName: stack.stackName,
    logicalId,
    name: resolver.physicalName(stack, logicalId),
    arn,
    bundlePath,
    exportName: handler.slice(dot + 1),
    environment,
    timeoutSeconds: Number(props.Timeout ?? 3),
    memoryMb: Number(props.MemorySize ?? 128),
    ...(props.Role !== undefined ? { roleArn: resolver.resolveString(stack, props.Role, `${logicalId}.Role`) } : {}),
  };
}

/** File assets of every asset manifest, with cdk-assets' `${AWS::AccountId}`/`${AWS::Region}` placeholders filled in. */
export function readFileAssets(outdir: string, manifests: readonly string[], account: LocalAccount): LocalFileAsset[] {
  const fill = (s: string) =>
    s
      .replace(/\$\{AWS::AccountId\}/g, account.accountId)
      .replace(/\$\{AWS::Region\}/g, account.region)
      .replace(/\$\{AWS::Partition\}/g, account.partition);
  const out: LocalFileAsset[] = [];
  const seen = new Set<string>();
  for (const file of manifests) {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as AssetManifest;
    for (const [id, asset] of Object.entries(manifest.files ?? {})) {
      if (!asset.source.path) continue; // produced by an executable: nothing to publish locally
      for (const dest of Object.values(asset.destinations)) {
        const bucket = fill(dest.bucketName);
        const key = fill(dest.objectKey);
        if (seen.has(`${bucket}/${key}`)) continue;
        seen.add(`${bucket}/${key}`);
        out.push({
          id,
          ...(asset.displayName ? { displayName: asset.displayName } : {}),
          path: isAbsolute(asset.source.path) ? asset.source.path : join(outdir, asset.source.path),
          packaging: asset.source.packaging === 'zip' ? 'zip' : 'file',
          bucket,
          key,
        });
      }
    }
  }
  return out;
}

export { UnresolvableError };
