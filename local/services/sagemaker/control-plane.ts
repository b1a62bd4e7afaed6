import type { S3Client } from '@aws-sdk/client-s3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, inUse, notFound, validation } from './api-error';
import { ServingProcess, startServing, stopServing } from './serving';
import type { Doc, Store } from './store';
import { TrainingRunner } from './training';
import { arn, Emit, LocalFaults, nowSeconds, region, ACCOUNT, toJsRegex } from './types';

/** SageMaker's name pattern for jobs, models, endpoint configs, endpoints and package groups. */
const NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

type Op = (input: Doc) => Promise<Doc> | Doc;

export interface ControlPlaneContext {
  readonly store: Store;
  /** An S3 client acting as `roleArn` (the execution role a job or model was given), as SageMaker does. */
  readonly s3ForRole: (roleArn: string) => S3Client;
  readonly python: string;
  readonly directory: string;
  readonly emit: Emit;
  readonly faults: () => LocalFaults;
  /** Clears a one-shot fault once it has been used. */
  readonly consumeFault: (f: 'failTraining' | 'failEndpointUpdate' | 'spotInterruption' | 'holdEndpointUpdateMs') => void;
  readonly servingStartTimeoutMs: number;
}

interface EndpointRuntime {
  current?: ServingProcess;
  /** Replacements started after a model server died (capped: a model that keeps crashing fails the endpoint). */
  replacements: number;
  pending?: Promise<void>;
  generation: number;
}

function required(input: Doc, field: string, label = field): unknown {
  const v = input[field];
  if (v === undefined || v === null || v === '') throw validation(`1 validation error detected: Value null at '${label}' failed to satisfy constraint: Member must not be null`);
  return v;
}

function name(input: Doc, field: string): string {
  const v = required(input, field);
  const label = field.charAt(0).toLowerCase() + field.slice(1);
  if (typeof v !== 'string' || !NAME.test(v)) {
    throw validation(`1 validation error detected: Value '${String(v)}' at '${label}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`);
  }
  return v;
}

/** The List* operations' paging: NextToken is the index of the next item. */
function page<T>(items: T[], input: Doc): { items: T[]; next?: string } {
  const max = Math.min(Number(input.MaxResults ?? 100), 100);
  const start = Number(input.NextToken ?? 0);
  const slice = items.slice(start, start + max);
  return { items: slice, next: start + max < items.length ? String(start + max) : undefined };
}

function sortBy(items: Doc[], input: Doc, byName: string, defaultField = 'CreationTime'): Doc[] {
  const field = input.SortBy === 'Name' ? byName : input.SortBy === 'Status' ? 'Status' : defaultField;
  const dir = input.SortOrder === 'Ascending' ? 1 : -1;
  return [...items].sort((a, b) => (a[field] === b[field] ? 0 : (a[field] as string | number) < (b[field] as string | number) ? -dir : dir));
}

/** The SageMaker control plane: one method per operation, state in the Store, work in the runners. */
export class ControlPlane {
  readonly training: TrainingRunner;
  private readonly endpoints = new Map<string, EndpointRuntime>();
  /** Endpoint changes held by the holdEndpointUpdateMs fault: stopAll wakes them. */
  private readonly holds = new Set<() => void>();
  readonly ops: Record<string, Op>;

  constructor(private readonly ctx: ControlPlaneContext) {
    this.training = new TrainingRunner({ store: ctx.store, s3ForRole: ctx.s3ForRole, python: ctx.python, directory: ctx.directory, emit: ctx.emit, stopGraceMs: 3000 });
    this.ops = {
      CreateTrainingJob: (i) => this.createTrainingJob(i),
      DescribeTrainingJob: (i) => this.describeTrainingJob(i),
      StopTrainingJob: (i) => this.stopTrainingJob(i),
      ListTrainingJobs: (i) => this.listTrainingJobs(i),
      CreateModel: (i) => this.createModel(i),
      DescribeModel: (i) => this.describeModel(i),
      DeleteModel: (i) => this.deleteModel(i),
      CreateEndpointConfig: (i) => this.createEndpointConfig(i),
      DescribeEndpointConfig: (i) => this.describeEndpointConfig(i),
      DeleteEndpointConfig: (i) => this.deleteEndpointConfig(i),
      CreateEndpoint: (i) => this.createEndpoint(i),
      UpdateEndpoint: (i) => this.updateEndpoint(i),
      DescribeEndpoint: (i) => this.describeEndpoint(i),
      DeleteEndpoint: (i) => this.deleteEndpoint(i),
      ListEndpoints: (i) => this.listEndpoints(i),
      CreateModelPackageGroup: (i) => this.createModelPackageGroup(i),
      DescribeModelPackageGroup: (i) => this.describeModelPackageGroup(i),
      CreateModelPackage: (i) => this.createModelPackage(i),
      DescribeModelPackage: (i) => this.describeModelPackage(i),
      ListModelPackages: (i) => this.listModelPackages(i),
      UpdateModelPackage: (i) => this.updateModelPackage(i),
      ListTags: (i) => this.listTags(i),
      ListModels: (i) => this.listNamed(i, this.state.models, 'ModelName', 'ModelArn', 'Models'),
      ListEndpointConfigs: (i) => this.listNamed(i, this.state.endpointConfigs, 'EndpointConfigName', 'EndpointConfigArn', 'EndpointConfigs'),
    };
  }

  async call(op: string, input: Doc): Promise<Doc> {
    const fn = this.ops[op];
    if (!fn) {
      throw new ApiError('UnknownOperationException', `The local SageMaker server does not implement ${op}; it serves ${Object.keys(this.ops).join(', ')}`);
    }
    return fn(input);
  }

  private get state() {
    return this.ctx.store.state;
  }

  // ---- 1. Training jobs -------------------------------------------------------------------------------

  private createTrainingJob(input: Doc): Doc {
    const jobName = name(input, 'TrainingJobName');
    const algo = required(input, 'AlgorithmSpecification') as Doc;
    if (!algo.TrainingImage && !algo.AlgorithmName) throw validation('Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.');
    required(input, 'RoleArn');
    const output = required(input, 'OutputDataConfig') as Doc;
    if (typeof output.S3OutputPath !== 'string' || !output.S3OutputPath.startsWith('s3://')) {
      throw validation(`1 validation error detected: Value '${String(output.S3OutputPath)}' at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$`);
    }
    required(input, 'ResourceConfig');
    const stopping = required(input, 'StoppingCondition') as Doc;
    const maxRuntime = Number(stopping.MaxRuntimeInSeconds);
    if (!Number.isInteger(maxRuntime) || maxRuntime < 1) throw validation(`StoppingCondition.MaxRuntimeInSeconds must be a positive integer, but got ${String(stopping.MaxRuntimeInSeconds)}`);
    const hps = (input.HyperParameters ?? {}) as Doc;
    for (const [k, v] of Object.entries(hps)) {
      if (typeof v !== 'string') throw validation(`HyperParameters values must be strings, but ${k} is ${typeof v}`);
    }
    for (const def of ((algo.MetricDefinitions as Doc[] | undefined) ?? [])) {
      if (typeof def.Name !== 'string' || typeof def.Regex !== 'string') throw validation('Each MetricDefinitions entry needs a Name and a Regex (strings)');
      try {
        new RegExp(toJsRegex(def.Regex));
      } catch (err) {
        throw validation(`MetricDefinitions "${def.Name}": Regex ${JSON.stringify(def.Regex)} is not a valid regular expression (${(err as Error).message})`);
      }
    }
    const channels = (input.InputDataConfig as Doc[] | undefined) ?? [];
    const seen = new Set<string>();
    for (const ch of channels) {
      const cn = String(ch.ChannelName ?? '');
      if (!/^[A-Za-z0-9\.\-_]+$/.test(cn)) throw validation(`Invalid channel name "${cn}"`);
      if (seen.has(cn)) throw validation(`Channel names must be unique, but "${cn}" appears twice`);
      seen.add(cn);
      const src = ((ch.DataSource as Doc | undefined)?.S3DataSource as Doc | undefined) ?? {};
      if (typeof src.S3Uri !== 'string' || !src.S3Uri.startsWith('s3://')) throw validation(`Channel "${cn}" needs DataSource.S3DataSource.S3Uri (an s3:// URI)`);
    }
    const existing = this.state.trainingJobs[jobName];
    const jobArn = arn('training-job', jobName);
    if (existing) throw inUse(`Training job names must be unique within an AWS account and region, and a training job with this name already exists (${jobArn})`);
    const now = nowSeconds();
    const algorithmSpecification = { TrainingInputMode: 'File', ...algo };
    this.state.trainingJobs[jobName] = {
      ...input,
      AlgorithmSpecification: algorithmSpecification,
      TrainingJobArn: jobArn,
      TrainingJobStatus: 'InProgress',
      SecondaryStatus: 'Starting',
      SecondaryStatusTransitions: [],
      CreationTime: now,
      LastModifiedTime: now,
      EnableNetworkIsolation: input.EnableNetworkIsolation ?? false,
    };
    this.ctx.store.save();
    const fault = this.ctx.faults().failTraining;
    if (fault !== undefined) this.ctx.consumeFault('failTraining');
    const interruptSpot = this.ctx.faults().spotInterruption === true && input.EnableManagedSpotTraining === true && input.CheckpointConfig !== undefined;
    if (interruptSpot) this.ctx.consumeFault('spotInterruption');
    this.training.start(jobName, fault, interruptSpot);
    return { TrainingJobArn: jobArn };
  }

  private describeTrainingJob(input: Doc): Doc {
    const jobName = String(required(input, 'TrainingJobName'));
    const job = this.state.trainingJobs[jobName];
    if (!job) throw notFound(`Requested resource not found: training job ${jobName} does not exist`);
    return job;
  }

  private stopTrainingJob(input: Doc): Doc {
    const jobName = String(required(input, 'TrainingJobName'));
    const job = this.state.trainingJobs[jobName];
    if (!job) throw notFound(`Requested resource not found: training job ${jobName} does not exist`);
    if (job.TrainingJobStatus !== 'InProgress') {
      throw validation(`The request was rejected because the training job is in status ${String(job.TrainingJobStatus)}.`);
    }
    this.training.stop(jobName);
    return {};
  }

  private listTrainingJobs(input: Doc): Doc {
    let jobs = Object.values(this.state.trainingJobs);
    if (input.NameContains) jobs = jobs.filter((j) => String(j.TrainingJobName).includes(String(input.NameContains)));
    if (input.StatusEquals) jobs = jobs.filter((j) => j.TrainingJobStatus === input.StatusEquals);
    if (input.CreationTimeAfter !== undefined) jobs = jobs.filter((j) => (j.CreationTime as number) > Number(input.CreationTimeAfter));
    if (input.CreationTimeBefore !== undefined) jobs = jobs.filter((j) => (j.CreationTime as number) < Number(input.CreationTimeBefore));
    const summaries = jobs.map((j) => ({
      TrainingJobName: j.TrainingJobName,
      TrainingJobArn: j.TrainingJobArn,
      CreationTime: j.CreationTime,
      TrainingEndTime: j.TrainingEndTime,
      LastModifiedTime: j.LastModifiedTime,
      TrainingJobStatus: j.TrainingJobStatus,
      Status: j.TrainingJobStatus,
    }));
    const { items, next } = page(sortBy(summaries, input, 'TrainingJobName'), input);
    return { TrainingJobSummaries: items.map(({ Status: _s, ...rest }) => rest), NextToken: next };
  }

  // ---- 2. Models and endpoint configs ------------------------------------------------------------------

  private createModel(input: Doc): Doc {
    const modelName = name(input, 'ModelName');
    const container = (input.PrimaryContainer ?? (input.Containers as Doc[] | undefined)?.[0]) as Doc | undefined;
    if (!container) throw validation('1 validation error detected: Either PrimaryContainer or Containers must be specified');
    if (!container.Image) throw validation("1 validation error detected: Value null at 'primaryContainer.image' failed to satisfy constraint: Member must not be null");
    const modelArn = arn('model', modelName);
    if (this.state.models[modelName]) throw validation(`Cannot create already existing model "${modelArn}".`);
    this.state.models[modelName] = { ...input, ModelArn: modelArn, CreationTime: nowSeconds() };
    this.ctx.store.save();
    return { ModelArn: modelArn };
  }

  private describeModel(input: Doc): Doc {
    const modelName = String(required(input, 'ModelName'));
    const m = this.state.models[modelName];
    if (!m) throw validation(`Could not find model "${arn('model', modelName)}".`);
    return m;
  }

  private deleteModel(input: Doc): Doc {
    const modelName = String(required(input, 'ModelName'));
    if (!this.state.models[modelName]) throw validation(`Could not find model "${arn('model', modelName)}".`);
    delete this.state.models[modelName];
    this.ctx.store.save();
    return {};
  }

  private createEndpointConfig(input: Doc): Doc {
    const configName = name(input, 'EndpointConfigName');
    const variants = input.ProductionVariants as Doc[] | undefined;
    if (!Array.isArray(variants) || variants.length === 0) {
      throw validation("1 validation error detected: Value null at 'productionVariants' failed to satisfy constraint: Member must not be null");
    }
    for (const v of variants) {
      if (!v.VariantName || !v.ModelName) throw validation('Each production variant needs VariantName and ModelName');
      if (!this.state.models[String(v.ModelName)]) throw validation(`Could not find model "${arn('model', String(v.ModelName))}".`);
    }
    const configArn = arn('endpoint-config', configName);
    if (this.state.endpointConfigs[configName]) throw validation(`Cannot create already existing endpoint configuration "${configArn}".`);
    this.state.endpointConfigs[configName] = { ...input, EndpointConfigArn: configArn, CreationTime: nowSeconds() };
    this.ctx.store.save();
    return { EndpointConfigArn: configArn };
  }

  private describeEndpointConfig(input: Doc): Doc {
    const configName = String(required(input, 'EndpointConfigName'));
    const c = this.state.endpointConfigs[configName];
    if (!c) throw validation(`Could not find endpoint configuration "${arn('endpoint-config', configName)}".`);
    return c;
  }

  private deleteEndpointConfig(input: Doc): Doc {
    const configName = String(required(input, 'EndpointConfigName'));
    if (!this.state.endpointConfigs[configName]) throw validation(`Could not find endpoint configuration "${arn('endpoint-config', configName)}".`);
    delete this.state.endpointConfigs[configName];
    this.ctx.store.save();
    return {};
  }

  // ---- 3. Endpoints -------------------------------------------------------------------------------------

  private runtime(endpointName: string): EndpointRuntime {
    let rt = this.endpoints.get(endpointName);
    if (!rt) this.endpoints.set(endpointName, (rt = { generation: 0, replacements: 0 }));
    return rt;
  }

  /** The serving process an invocation goes to (the old one while an update is in progress). */
  servingFor(endpointName: string): ServingProcess | undefined {
    return this.endpoints.get(endpointName)?.current;
  }

  private setEndpoint(endpointName: string, patch: Doc): void {
    const ep = this.state.endpoints[endpointName];
    if (!ep) return;
    Object.assign(ep, patch, { LastModifiedTime: nowSeconds() });
    if (patch.FailureReason === undefined && 'FailureReason' in patch) delete ep.FailureReason;
    if (patch.PendingDeploymentSummary === undefined && 'PendingDeploymentSummary' in patch) delete ep.PendingDeploymentSummary;
    if (ep.EndpointStatus === 'InService') this.state.serving[endpointName] = { lastInServiceConfig: String(ep.EndpointConfigName) };
    this.ctx.store.save();
    this.ctx.emit({
      kind: 'endpoint-status',
      endpoint: endpointName,
      status: String(ep.EndpointStatus),
      endpointConfigName: String(ep.EndpointConfigName),
      failureReason: ep.FailureReason as string | undefined,
    });
  }

  private variantsFor(configName: string, status: 'ok' | 'creating'): Doc[] {
    const config = this.state.endpointConfigs[configName];
    return ((config?.ProductionVariants as Doc[] | undefined) ?? []).map((v) => {
      const model = this.state.models[String(v.ModelName)];
      const container = (model?.PrimaryContainer ?? {}) as Doc;
      const count = Number(v.InitialInstanceCount ?? 1);
      return {
        VariantName: v.VariantName,
        DeployedImages: container.Image ? [{ SpecifiedImage: container.Image, ResolvedImage: container.Image, ResolutionTime: nowSeconds() }] : [],
        CurrentWeight: Number(v.InitialVariantWeight ?? 1),
        DesiredWeight: Number(v.InitialVariantWeight ?? 1),
        CurrentInstanceCount: status === 'ok' ? count : 0,
        DesiredInstanceCount: count,
      };
    });
  }

  /** Loads the config's first variant in a new serving process. Throws the FailureReason when it does not load. */
  private async load(endpointName: string, configName: string, allowFault: boolean): Promise<ServingProcess> {
    const config = this.state.endpointConfigs[configName];
    const variant = ((config?.ProductionVariants as Doc[] | undefined) ?? [])[0];
    if (!config || !variant) throw new Error(`Could not find endpoint configuration "${arn('endpoint-config', configName)}".`);
    const model = this.state.models[String(variant.ModelName)];
    if (!model) throw new Error(`Could not find model "${arn('model', String(variant.ModelName))}".`);
    let failLoad: string | undefined;
    if (allowFault && this.ctx.faults().failEndpointUpdate !== undefined) {
      failLoad = this.ctx.faults().failEndpointUpdate;
      this.ctx.consumeFault('failEndpointUpdate');
    }
    const hold = allowFault ? this.ctx.faults().holdEndpointUpdateMs : undefined;
    if (hold !== undefined) {
      // The endpoint stays Creating/Updating this long before the new instance starts (ended early by stopAll).
      this.ctx.consumeFault('holdEndpointUpdateMs');
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.holds.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, hold);
        this.holds.add(wake);
      });
    }
    const rt = this.runtime(endpointName);
    rt.generation++;
    return startServing(
      { s3: this.ctx.s3ForRole(String(model.ExecutionRoleArn ?? '')), python: this.ctx.python, emit: this.ctx.emit, startTimeoutMs: this.ctx.servingStartTimeoutMs },
      {
        endpoint: endpointName,
        endpointConfigName: configName,
        variantName: String(variant.VariantName),
        model,
        folder: join(this.ctx.directory, 'endpoints', endpointName, `${rt.generation}-${configName}`),
        failLoad,
      },
    );
  }

  private createEndpoint(input: Doc): Doc {
    const endpointName = name(input, 'EndpointName');
    const configName = String(required(input, 'EndpointConfigName'));
    const endpointArn = arn('endpoint', endpointName);
    if (this.state.endpoints[endpointName]) throw validation(`Cannot create already existing endpoint "${endpointArn}".`);
    if (!this.state.endpointConfigs[configName]) throw validation(`Could not find endpoint configuration "${arn('endpoint-config', configName)}".`);
    const now = nowSeconds();
    this.state.endpoints[endpointName] = {
      EndpointName: endpointName,
      EndpointArn: endpointArn,
      EndpointConfigName: configName,
      ProductionVariants: this.variantsFor(configName, 'creating'),
      EndpointStatus: 'Creating',
      CreationTime: now,
      LastModifiedTime: now,
      ...(input.Tags ? { Tags: input.Tags } : {}),
    };
    this.ctx.store.save();
    this.ctx.emit({ kind: 'endpoint-status', endpoint: endpointName, status: 'Creating', endpointConfigName: configName });
    this.bringUp(endpointName, configName, true);
    return { EndpointArn: endpointArn };
  }

  /** Creating -> InService (or Failed), in the background. */
  private bringUp(endpointName: string, configName: string, allowFault: boolean): Promise<void> {
    const rt = this.runtime(endpointName);
    const p = this.load(endpointName, configName, allowFault).then(
      (proc) => {
        if (!this.state.endpoints[endpointName]) return stopServing(proc); // deleted meanwhile
        this.serve(endpointName, proc);
        this.setEndpoint(endpointName, { EndpointStatus: 'InService', ProductionVariants: this.variantsFor(configName, 'ok'), FailureReason: undefined });
      },
      (err: Error) => this.setEndpoint(endpointName, { EndpointStatus: 'Failed', FailureReason: err.message }),
    );
    rt.pending = p.finally(() => (rt.pending = undefined));
    return rt.pending;
  }

  /**
   * Makes `proc` the endpoint's serving process. If it dies on its own, a replacement is started with the same
   * config, as SageMaker replaces an unhealthy instance; invocations meanwhile get a ValidationError.
   */
  private serve(endpointName: string, proc: ServingProcess): void {
    const rt = this.runtime(endpointName);
    rt.current = proc;
    proc.child.once('exit', (code, signal) => {
      if (proc.stopping || rt.current !== proc || this.endpoints.get(endpointName) !== rt) return;
      rt.current = undefined;
      const why = `the model server for ${endpointName} exited (${signal ?? `code ${code}`})`;
      if (++rt.replacements > 3) {
        this.setEndpoint(endpointName, { EndpointStatus: 'Failed', FailureReason: `${why}, and was replaced 3 times already` });
        return;
      }
      this.ctx.emit({ kind: 'serving-log', endpoint: endpointName, line: `${why}; starting a replacement` });
      this.load(endpointName, proc.endpointConfigName, false).then(
        (next) => {
          if (this.endpoints.get(endpointName) !== rt || rt.current) return stopServing(next);
          this.serve(endpointName, next);
        },
        (err: Error) => this.setEndpoint(endpointName, { EndpointStatus: 'Failed', FailureReason: `${why}, and did not start again: ${err.message}` }),
      );
    });
  }

  /**
   * The instance serving `endpointName` dies (SIGKILL) and is replaced as SageMaker replaces an unhealthy instance:
   * a new model server from scratch, the model downloaded and extracted again as the execution role. Resolves once
   * the replacement serves, or the endpoint is Failed because it could not start (with the reason).
   */
  async replaceInstance(endpointName: string): Promise<{ status: string; failureReason?: string }> {
    const ep = this.state.endpoints[endpointName];
    if (!ep) throw new Error(`no endpoint ${endpointName}`);
    const rt = this.endpoints.get(endpointName);
    const proc = rt?.current;
    if (!rt || !proc) throw new Error(`endpoint ${endpointName} has no instance serving (status ${String(ep.EndpointStatus)})`);
    proc.child.kill('SIGKILL');
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const now = this.state.endpoints[endpointName];
      if (!now) throw new Error(`endpoint ${endpointName} was deleted while its instance was replaced`);
      if (now.EndpointStatus === 'Failed') return { status: 'Failed', failureReason: String(now.FailureReason ?? '') };
      if (rt.current && rt.current !== proc) return { status: String(now.EndpointStatus) };
    }
  }

  private updateEndpoint(input: Doc): Doc {
    const endpointName = String(required(input, 'EndpointName'));
    const configName = String(required(input, 'EndpointConfigName'));
    const ep = this.state.endpoints[endpointName];
    if (!ep) throw validation(`Could not find endpoint "${arn('endpoint', endpointName)}".`);
    if (ep.EndpointStatus === 'Failed') throw validation(`Cannot update failed endpoint "${String(ep.EndpointArn)}". Delete it and create it again.`);
    if (ep.EndpointStatus !== 'InService') throw validation(`Cannot update in-progress endpoint "${String(ep.EndpointArn)}".`);
    if (!this.state.endpointConfigs[configName]) throw validation(`Could not find endpoint configuration "${arn('endpoint-config', configName)}".`);
    const oldConfig = String(ep.EndpointConfigName);
    // While it updates, SageMaker reports where it is going (DescribeEndpoint's PendingDeploymentSummary).
    this.setEndpoint(endpointName, { EndpointStatus: 'Updating', FailureReason: undefined, PendingDeploymentSummary: { EndpointConfigName: configName, StartTime: nowSeconds() } });
    const rt = this.runtime(endpointName);
    // Blue/green as SageMaker does it: the new model loads beside the old one, which keeps serving.
    const p = this.load(endpointName, configName, true).then(
      async (proc) => {
        if (!this.state.endpoints[endpointName]) return stopServing(proc);
        const old = rt.current;
        this.serve(endpointName, proc);
        this.setEndpoint(endpointName, { EndpointStatus: 'InService', EndpointConfigName: configName, ProductionVariants: this.variantsFor(configName, 'ok'), FailureReason: undefined, PendingDeploymentSummary: undefined });
        await stopServing(old);
      },
      (err: Error) => {
        // Rollback: back to InService on the OLD config, with the reason.
        this.setEndpoint(endpointName, { EndpointStatus: 'InService', EndpointConfigName: oldConfig, FailureReason: err.message, PendingDeploymentSummary: undefined });
      },
    );
    rt.pending = p.finally(() => (rt.pending = undefined));
    return { EndpointArn: ep.EndpointArn };
  }

  private describeEndpoint(input: Doc): Doc {
    const endpointName = String(required(input, 'EndpointName'));
    const ep = this.state.endpoints[endpointName];
    if (!ep) throw validation(`Could not find endpoint "${arn('endpoint', endpointName)}".`);
    return ep;
  }

  private async deleteEndpoint(input: Doc): Promise<Doc> {
    const endpointName = String(required(input, 'EndpointName'));
    const ep = this.state.endpoints[endpointName];
    if (!ep) throw validation(`Could not find endpoint "${arn('endpoint', endpointName)}".`);
    delete this.state.endpoints[endpointName];
    delete this.state.serving[endpointName];
    this.ctx.store.save();
    const rt = this.endpoints.get(endpointName);
    this.endpoints.delete(endpointName);
    await stopServing(rt?.current);
    rmSync(join(this.ctx.directory, 'endpoints', endpointName), { recursive: true, force: true });
    return {};
  }

  private listEndpoints(input: Doc): Doc {
    let eps = Object.values(this.state.endpoints);
    if (input.NameContains) eps = eps.filter((e) => String(e.EndpointName).includes(String(input.NameContains)));
    if (input.StatusEquals) eps = eps.filter((e) => e.EndpointStatus === input.StatusEquals);
    const summaries = eps.map((e) => ({
      EndpointName: e.EndpointName,
      EndpointArn: e.EndpointArn,
      CreationTime: e.CreationTime,
      LastModifiedTime: e.LastModifiedTime,
      EndpointStatus: e.EndpointStatus,
      Status: e.EndpointStatus,
    }));
    const { items, next } = page(sortBy(summaries, input, 'EndpointName'), input);
    return { Endpoints: items.map(({ Status: _s, ...rest }) => rest), NextToken: next };
  }

  /**
   * On start: endpoints that were serving serve again; a Creating one is created again; one that failed after it
   * had served (its serving process crashed, or did not start again after a restart) is brought back on the config
   * it last served InService, as SageMaker replaces a failed instance. One whose first model never loaded stays
   * Failed (SageMaker: delete it and create it again).
   */
  async restore(): Promise<void> {
    for (const [jobName, job] of Object.entries(this.state.trainingJobs)) {
      if (job.TrainingJobStatus === 'InProgress' || job.TrainingJobStatus === 'Stopping') {
        Object.assign(job, { TrainingJobStatus: 'Failed', SecondaryStatus: 'Failed', FailureReason: `InternalServerError: the local SageMaker server stopped while training job ${jobName} was running`, TrainingEndTime: nowSeconds() });
      }
    }
    this.ctx.store.save();
    const starts: Promise<void>[] = [];
    for (const [endpointName, ep] of Object.entries(this.state.endpoints)) {
      const lastGood = this.state.serving[endpointName]?.lastInServiceConfig;
      if (ep.EndpointStatus === 'Failed' && lastGood && this.state.endpointConfigs[lastGood]) {
        starts.push(
          this.load(endpointName, lastGood, false).then(
            (proc) => {
              this.serve(endpointName, proc);
              this.ctx.emit({ kind: 'serving-log', endpoint: endpointName, line: `endpoint ${endpointName} was Failed; it serves ${lastGood} again (its last config InService)` });
              this.setEndpoint(endpointName, { EndpointStatus: 'InService', EndpointConfigName: lastGood, ProductionVariants: this.variantsFor(lastGood, 'ok'), FailureReason: undefined });
            },
            (err: Error) => this.setEndpoint(endpointName, { EndpointStatus: 'Failed', FailureReason: `after a restart of the local server, ${lastGood} did not load again: ${err.message}` }),
          ),
        );
        continue;
      }
      if (ep.EndpointStatus === 'InService' || ep.EndpointStatus === 'Updating' || ep.EndpointStatus === 'Creating') {
        const wasServing = ep.EndpointStatus !== 'Creating';
        if (ep.EndpointStatus === 'Updating') {
          // The update died with the server that ran it: the old config serves on.
          ep.EndpointStatus = 'InService';
          delete ep.PendingDeploymentSummary;
        }
        const p = this.load(endpointName, String(ep.EndpointConfigName), false).then(
          (proc) => {
            this.serve(endpointName, proc);
            if (!wasServing) this.setEndpoint(endpointName, { EndpointStatus: 'InService', ProductionVariants: this.variantsFor(String(ep.EndpointConfigName), 'ok') });
            else if (this.state.serving[endpointName]?.lastInServiceConfig !== String(ep.EndpointConfigName)) {
              // State from before this bookkeeping existed: the config serving now is the last good one.
              this.state.serving[endpointName] = { lastInServiceConfig: String(ep.EndpointConfigName) };
              this.ctx.store.save();
            }
          },
          (err: Error) => this.setEndpoint(endpointName, { EndpointStatus: 'Failed', FailureReason: `after a restart of the local server: ${err.message}` }),
        );
        starts.push(p);
      }
    }
    await Promise.all(starts);
  }

  async stopAll(): Promise<void> {
    for (const wake of [...this.holds]) wake();
    await this.training.stopAll();
    const pending = [...this.endpoints.values()].map((rt) => rt.pending).filter(Boolean);
    await Promise.allSettled(pending);
    await Promise.all([...this.endpoints.values()].map((rt) => stopServing(rt.current)));
    this.endpoints.clear();
  }

  /** ListModels / ListEndpointConfigs: name, ARN and creation time, NameContains and paging as SageMaker offers them. */
  private listNamed(input: Doc, items: Record<string, Doc>, nameField: string, arnField: string, listField: string): Doc {
    let docs = Object.values(items);
    if (input.NameContains) docs = docs.filter((d) => String(d[nameField]).includes(String(input.NameContains)));
    const summaries = docs.map((d) => ({ [nameField]: d[nameField], [arnField]: d[arnField], CreationTime: d.CreationTime }));
    const { items: pageItems, next } = page(sortBy(summaries, input, nameField), input);
    return { [listField]: pageItems, NextToken: next };
  }

  /** ListTags: the Tags a resource was created with, found by its ARN (every kind this server keeps). */
  private listTags(input: Doc): Doc {
    const resourceArn = String(required(input, 'ResourceArn'));
    const s = this.state;
    const all = [...Object.values(s.trainingJobs), ...Object.values(s.models), ...Object.values(s.endpointConfigs), ...Object.values(s.endpoints), ...Object.values(s.modelPackageGroups), ...Object.values(s.modelPackages)];
    const arnFields = ['TrainingJobArn', 'ModelArn', 'EndpointConfigArn', 'EndpointArn', 'ModelPackageGroupArn', 'ModelPackageArn'];
    const found = all.find((r) => arnFields.some((f) => r[f] === resourceArn));
    if (!found) throw validation(`Requested resource not found: ${resourceArn}`);
    const { items, next } = page((found.Tags as Doc[] | undefined) ?? [], input);
    return { Tags: items, NextToken: next };
  }

  // ---- 4. Model registry -------------------------------------------------------------------------------

  private createModelPackageGroup(input: Doc): Doc {
    const groupName = name(input, 'ModelPackageGroupName');
    const groupArn = arn('model-package-group', groupName);
    if (this.state.modelPackageGroups[groupName]) throw validation(`Model Package Group already exists: ${groupArn}`);
    this.state.modelPackageGroups[groupName] = {
      ModelPackageGroupName: groupName,
      ModelPackageGroupArn: groupArn,
      ModelPackageGroupDescription: input.ModelPackageGroupDescription,
      CreationTime: nowSeconds(),
      CreatedBy: { UserProfileName: 'local' },
      ModelPackageGroupStatus: 'Completed',
    };
    this.ctx.store.save();
    return { ModelPackageGroupArn: groupArn };
  }

  private groupNameOf(nameOrArn: string): string {
    const m = /:model-package-group\/(.+)$/.exec(nameOrArn);
    if (!m) return nameOrArn;
    const found = Object.values(this.state.modelPackageGroups).find((g) => g.ModelPackageGroupArn === nameOrArn);
    return found ? String(found.ModelPackageGroupName) : m[1];
  }

  private describeModelPackageGroup(input: Doc): Doc {
    const groupName = this.groupNameOf(String(required(input, 'ModelPackageGroupName')));
    const g = this.state.modelPackageGroups[groupName];
    if (!g) throw validation(`ModelPackageGroup ${groupName} does not exist.`);
    return g;
  }

  private createModelPackage(input: Doc): Doc {
    if (!input.ModelPackageGroupName) throw validation('The local server supports versioned model packages only: ModelPackageGroupName is required');
    const groupName = this.groupNameOf(String(input.ModelPackageGroupName));
    const group = this.state.modelPackageGroups[groupName];
    if (!group) throw validation(`Model Package Group does not exist: ${arn('model-package-group', groupName)}`);
    const status = input.ModelApprovalStatus ?? 'PendingManualApproval';
    if (!['Approved', 'Rejected', 'PendingManualApproval'].includes(String(status))) {
      throw validation(`1 validation error detected: Value '${String(status)}' at 'modelApprovalStatus' failed to satisfy constraint: Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]`);
    }
    const version = Object.values(this.state.modelPackages).filter((p) => p.ModelPackageGroupName === groupName).length + 1;
    const packageArn = `arn:aws:sagemaker:${region()}:${ACCOUNT}:model-package/${groupName.toLowerCase()}/${version}`;
    const now = nowSeconds();
    const { ClientToken: _t, ...rest } = input;
    this.state.modelPackages[packageArn] = {
      ...rest,
      ModelPackageGroupName: groupName,
      ModelPackageName: groupName,
      ModelPackageVersion: version,
      ModelPackageArn: packageArn,
      ModelApprovalStatus: status,
      CreationTime: now,
      LastModifiedTime: now,
      ModelPackageStatus: 'Completed',
      ModelPackageStatusDetails: { ValidationStatuses: [], ImageScanStatuses: [] },
      CertifyForMarketplace: false,
    };
    this.ctx.store.save();
    return { ModelPackageArn: packageArn };
  }

  private packageOf(nameOrArn: string): Doc {
    const p = this.state.modelPackages[nameOrArn];
    if (!p) throw validation(`ModelPackage ${nameOrArn} does not exist.`);
    return p;
  }

  private describeModelPackage(input: Doc): Doc {
    return this.packageOf(String(required(input, 'ModelPackageName')));
  }

  private listModelPackages(input: Doc): Doc {
    let pkgs = Object.values(this.state.modelPackages);
    if (input.ModelPackageGroupName) {
      const groupName = this.groupNameOf(String(input.ModelPackageGroupName));
      pkgs = pkgs.filter((p) => p.ModelPackageGroupName === groupName);
    }
    if (input.ModelApprovalStatus) pkgs = pkgs.filter((p) => p.ModelApprovalStatus === input.ModelApprovalStatus);
    if (input.CreationTimeAfter !== undefined) pkgs = pkgs.filter((p) => (p.CreationTime as number) > Number(input.CreationTimeAfter));
    const summaries = pkgs.map((p) => ({
      ModelPackageName: p.ModelPackageName,
      ModelPackageGroupName: p.ModelPackageGroupName,
      ModelPackageVersion: p.ModelPackageVersion,
      ModelPackageArn: p.ModelPackageArn,
      ModelPackageDescription: p.ModelPackageDescription,
      CreationTime: p.CreationTime,
      ModelPackageStatus: p.ModelPackageStatus,
      ModelApprovalStatus: p.ModelApprovalStatus,
    }));
    const { items, next } = page(sortBy(summaries, input, 'ModelPackageName'), input);
    return { ModelPackageSummaryList: items, NextToken: next };
  }

  private updateModelPackage(input: Doc): Doc {
    const p = this.packageOf(String(required(input, 'ModelPackageArn')));
    if (input.ModelApprovalStatus !== undefined) {
      if (!['Approved', 'Rejected', 'PendingManualApproval'].includes(String(input.ModelApprovalStatus))) {
        throw validation(`1 validation error detected: Value '${String(input.ModelApprovalStatus)}' at 'modelApprovalStatus' failed to satisfy constraint: Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]`);
      }
      p.ModelApprovalStatus = input.ModelApprovalStatus;
    }
    if (input.ApprovalDescription !== undefined) p.ApprovalDescription = input.ApprovalDescription;
    const meta = { ...((p.CustomerMetadataProperties as Record<string, string> | undefined) ?? {}), ...((input.CustomerMetadataProperties as Record<string, string> | undefined) ?? {}) };
    for (const k of (input.CustomerMetadataPropertiesToRemove as string[] | undefined) ?? []) delete meta[k];
    if (Object.keys(meta).length > 0 || p.CustomerMetadataProperties) p.CustomerMetadataProperties = meta;
    for (const k of ['ModelCard', 'SourceUri', 'InferenceSpecification', 'ModelPackageDescription'] as const) if (input[k] !== undefined) p[k] = input[k];
    p.LastModifiedTime = nowSeconds();
    this.ctx.store.save();
    return { ModelPackageArn: p.ModelPackageArn };
  }
}
