import type { S3Client } from '@aws-sdk/client-s3';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { signalTree, spawnChild } from './children';
import { downloadPrefix, joinUri, materialize, tarFolder, uploadFile, uploadFolder } from './s3io';
import type { Doc, Store } from './store';
import { Emit, nowSeconds, toJsRegex } from './types';
import { PACKAGE_ROOT } from '../../../lib/package-root';

/** The harness that turns a job folder into the toolkit's `python <program> --name value` run. */
/** From relearn's own folder (the Python files are shipped as they are; dist/ holds only compiled TypeScript). */
export const TRAIN_HARNESS = join(PACKAGE_ROOT, 'local', 'python', 'train_harness.py');

export interface TrainingContext {
  readonly store: Store;
  /** An S3 client acting as the job's execution role (RoleArn): channels, code and outputs go through its policies. */
  readonly s3ForRole: (roleArn: string) => S3Client;
  readonly python: string;
  readonly directory: string;
  readonly emit: Emit;
  /** SIGTERM -> SIGKILL grace when a job is stopped (SageMaker gives 120 s; locally a few seconds). */
  readonly stopGraceMs: number;
}

interface Running {
  child?: ChildProcess;
  stop?: 'user' | 'max-runtime';
  fault?: string;
  /** The spotInterruption fault: interrupt the first attempt once it has written a checkpoint. */
  interruptSpot?: boolean;
  /** Set while the script is being stopped by a spot interruption (not a user stop). */
  interrupted?: boolean;
  killTimer?: NodeJS.Timeout;
}

/** Where a job's checkpoints live: CheckpointConfig.LocalPath (default /opt/ml/checkpoints) in the job's folder. */
export function checkpointDirOf(root: string, localPath: string | undefined): string {
  const path = localPath ?? '/opt/ml/checkpoints';
  return path.startsWith('/opt/ml/') ? join(root, ...path.slice('/opt/ml/'.length).split('/').filter(Boolean)) : join(root, 'checkpoints');
}

/** Runs and stops training jobs; `running` holds the live processes (not persisted). */
export class TrainingRunner {
  private readonly running = new Map<string, Running>();
  private readonly done = new Map<string, Promise<void>>();

  constructor(private readonly ctx: TrainingContext) {}

  /**
   * Starts the job in the background; `fault` makes it fail with that reason once its script has started;
   * `interruptSpot` interrupts a managed spot job once its script has written a checkpoint (see run()).
   */
  start(name: string, fault?: string, interruptSpot = false): void {
    const run: Running = { fault, interruptSpot };
    this.running.set(name, run);
    const p = this.run(name, run)
      .catch((err) => this.finish(name, 'Failed', 'Failed', `InternalServerError: ${(err as Error).message}`))
      .finally(() => this.running.delete(name));
    this.done.set(name, p);
  }

  /** StopTrainingJob: InProgress -> Stopping; the process gets SIGTERM, then SIGKILL after the grace period. */
  stop(name: string): void {
    const job = this.ctx.store.state.trainingJobs[name];
    this.transition(job, 'Stopping', 'Stopping', 'Stopping the training job');
    const run = this.running.get(name);
    if (run) {
      run.stop ??= 'user';
      this.kill(run);
    }
  }

  async stopAll(): Promise<void> {
    for (const run of this.running.values()) {
      run.stop ??= 'user';
      if (run.child) signalTree(run.child, 'SIGKILL');
    }
    await Promise.allSettled([...this.done.values()]);
  }

  private kill(run: Running): void {
    const child = run.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    signalTree(child, 'SIGTERM');
    run.killTimer = setTimeout(() => signalTree(child, 'SIGKILL'), this.ctx.stopGraceMs);
    run.killTimer.unref();
  }

  private transition(job: Doc, status: string, secondary: string, message: string, failureReason?: string): void {
    const now = nowSeconds();
    const transitions = (job.SecondaryStatusTransitions as Doc[] | undefined) ?? [];
    const last = transitions[transitions.length - 1];
    if (last && last.EndTime === undefined) last.EndTime = now;
    transitions.push({ Status: secondary, StartTime: now, StatusMessage: message });
    Object.assign(job, { TrainingJobStatus: status, SecondaryStatus: secondary, SecondaryStatusTransitions: transitions, LastModifiedTime: now });
    if (failureReason !== undefined) job.FailureReason = failureReason;
    this.ctx.store.save();
    this.ctx.emit({ kind: 'training-status', job: String(job.TrainingJobName), status, secondaryStatus: secondary, message, failureReason });
  }

  private finish(name: string, status: 'Completed' | 'Failed' | 'Stopped', secondary: string, failureReason?: string): void {
    const job = this.ctx.store.state.trainingJobs[name];
    if (!job) return;
    const now = nowSeconds();
    const message =
      status === 'Completed' ? 'Training job completed' : status === 'Stopped' ? (secondary === 'MaxRuntimeExceeded' ? 'Training job stopped: MaxRuntimeInSeconds exceeded' : 'Training job stopped') : 'Training job failed';
    job.TrainingEndTime = now;
    const start = (job.TrainingStartTime as number | undefined) ?? now;
    job.TrainingTimeInSeconds = Math.max(1, Math.round(now - start));
    job.BillableTimeInSeconds = job.TrainingTimeInSeconds;
    this.transition(job, status, secondary, message, failureReason);
    const last = (job.SecondaryStatusTransitions as Doc[]).at(-1);
    if (last) last.EndTime = now;
    this.ctx.store.save();
  }

  private stopped(run: Running): boolean {
    return run.stop !== undefined;
  }

  /**
   * One run of the script (the harness) to its end: its lines logged and scraped for metrics. With
   * `interruptWhenCheckpointIn`, the script is stopped as a spot interruption stops it (SIGTERM, then SIGKILL) once a
   * file appears in that folder, and `run.interrupted` is set.
   */
  private async execute(
    name: string,
    run: Running,
    root: string,
    logFile: string,
    env: Record<string, string>,
    metricDefs: { name: string; re: RegExp }[],
    finalMetrics: Map<string, { value: number; time: number }>,
    interruptWhenCheckpointIn?: string,
  ): Promise<{ code: number | null; stderrTail: string[] }> {
    const child = spawnChild(this.ctx.python, [TRAIN_HARNESS, root], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    run.child = child;
    const stderrTail: string[] = [];
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      appendFileSync(logFile, line + '\n');
      if (stream === 'stderr') {
        stderrTail.push(line);
        if (stderrTail.length > 10) stderrTail.shift();
      }
      this.ctx.emit({ kind: 'training-log', job: name, stream, line });
      for (const def of metricDefs) {
        const m = def.re.exec(line);
        const value = m ? parseFloat(m[1] ?? m[0]) : NaN;
        if (m && Number.isFinite(value)) {
          finalMetrics.set(def.name, { value, time: nowSeconds() });
          this.ctx.emit({ kind: 'training-metric', job: name, name: def.name, value });
        }
      }
    };
    const outDone = new Promise<void>((r) => createInterface({ input: child.stdout! }).on('line', onLine('stdout')).on('close', r));
    const errDone = new Promise<void>((r) => createInterface({ input: child.stderr! }).on('line', onLine('stderr')).on('close', r));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', (err) => {
        stderrTail.push(`could not start ${this.ctx.python}: ${err.message}`);
        resolve({ code: -1, signal: null });
      });
    });
    let watch: NodeJS.Timeout | undefined;
    if (interruptWhenCheckpointIn) {
      watch = setInterval(() => {
        if (readdirSync(interruptWhenCheckpointIn).length === 0) return;
        clearInterval(watch);
        run.interrupted = true;
        this.kill(run);
      }, 100);
    }
    if (run.fault !== undefined) {
      // The fault fires after the script really started: it is killed and the job fails with the given reason.
      setImmediate(() => this.kill(run));
    }
    if (run.stop) this.kill(run); // stopped while the process was being spawned
    const { code } = await exited;
    clearInterval(watch);
    await Promise.all([outDone, errDone]);
    if (run.killTimer) clearTimeout(run.killTimer);
    return { code, stderrTail };
  }

  private async run(name: string, run: Running): Promise<void> {
    const { store, directory } = this.ctx;
    const job = store.state.trainingJobs[name];
    const s3 = this.ctx.s3ForRole(String(job.RoleArn));
    const root = join(directory, 'training-jobs', name);
    rmSync(root, { recursive: true, force: true });
    for (const d of ['input/config', 'input/data', 'model', 'output/data', 'code']) mkdirSync(join(root, d), { recursive: true });
    const logFile = join(root, 'training.log');
    writeFileSync(logFile, '');

    this.transition(job, 'InProgress', 'Starting', 'Preparing the instances for training');
    const hps = (job.HyperParameters as Record<string, string> | undefined) ?? {};
    const channels = (job.InputDataConfig as Doc[] | undefined) ?? [];
    const resource = job.ResourceConfig as Doc;
    const instanceType = String(resource.InstanceType ?? 'ml.m5.large');
    writeFileSync(join(root, 'input/config/hyperparameters.json'), JSON.stringify(hps));
    const inputDataConfig: Record<string, Doc> = {};
    for (const ch of channels) {
      inputDataConfig[String(ch.ChannelName)] = {
        TrainingInputMode: (ch.InputMode as string | undefined) ?? (job.AlgorithmSpecification as Doc).TrainingInputMode ?? 'File',
        S3DistributionType: ((ch.DataSource as Doc).S3DataSource as Doc).S3DistributionType ?? 'FullyReplicated',
        RecordWrapperType: ch.RecordWrapperType ?? 'None',
        ...(ch.ContentType ? { ContentType: ch.ContentType } : {}),
      };
    }
    writeFileSync(join(root, 'input/config/inputdataconfig.json'), JSON.stringify(inputDataConfig));
    writeFileSync(
      join(root, 'input/config/resourceconfig.json'),
      JSON.stringify({
        current_host: 'algo-1',
        current_instance_type: instanceType,
        current_group_name: 'homogeneousCluster',
        hosts: ['algo-1'],
        instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: instanceType, hosts: ['algo-1'] }],
        network_interface_name: 'eth0',
      }),
    );

    const checkpointConfig = job.CheckpointConfig as Doc | undefined;
    const checkpoints = checkpointConfig?.S3Uri ? { s3Uri: String(checkpointConfig.S3Uri), dir: checkpointDirOf(root, checkpointConfig.LocalPath as string | undefined) } : undefined;
    if (checkpoints) mkdirSync(checkpoints.dir, { recursive: true });

    // 1. Downloading: channels (S3Prefix), checkpoints and the submitted code.
    this.transition(job, 'InProgress', 'Downloading', 'Downloading input data');
    try {
      for (const ch of channels) {
        const src = (ch.DataSource as Doc).S3DataSource as Doc;
        if ((src.S3DataType ?? 'S3Prefix') !== 'S3Prefix') throw new Error(`ClientError: S3DataType ${String(src.S3DataType)} is not supported by the local server (only S3Prefix)`);
        const n = await downloadPrefix(s3, String(src.S3Uri), join(root, 'input/data', String(ch.ChannelName)));
        if (n === 0) {
          throw new Error(
            `ClientError: No S3 objects found under S3 URL "${String(src.S3Uri)}" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role has "s3:ListBucket" permissions.`,
          );
        }
      }
      // Spot checkpoints: what earlier attempts saved under CheckpointConfig.S3Uri is copied in before the script
      // starts, read as the job's role (GetObject, and ListBucket on the prefix), as SageMaker does on every start.
      if (checkpoints) await downloadPrefix(s3, checkpoints.s3Uri, checkpoints.dir);
      const submit = decodeHp(hps.sagemaker_submit_directory);
      if (typeof submit === 'string' && submit !== '') {
        // A path under /opt/ml (network isolation: the code arrives as the `code` channel) is this job's folder.
        const location = submit.startsWith('/opt/ml/') ? join(root, submit.slice('/opt/ml/'.length)) : submit;
        const codeDir = await materialize(s3, location, join(root, 'code'), 'sagemaker_submit_directory');
        if (codeDir !== join(root, 'code')) copyDir(codeDir, join(root, 'code'));
      }
    } catch (err) {
      if (this.stopped(run)) return this.finish(name, 'Stopped', 'Stopped');
      const msg = (err as Error).message;
      return this.finish(name, 'Failed', 'Failed', msg.startsWith('ClientError') ? msg : `ClientError: ${msg}`);
    }
    if (this.stopped(run)) return this.finish(name, 'Stopped', 'Stopped');

    // 2. Training: the harness execs the user script with the toolkit's arguments and SM_* environment.
    this.transition(job, 'InProgress', 'Training', 'Training image download completed. Training in progress.');
    job.TrainingStartTime = nowSeconds();
    store.save();
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...((job.Environment as Record<string, string> | undefined) ?? {}),
      TRAINING_JOB_NAME: name,
      TRAINING_JOB_ARN: String(job.TrainingJobArn),
      // Locally /opt/ml is the job's folder: a script that checkpoints reads its folder from here (docs/local-sagemaker.md).
      ...(checkpoints ? { RELEARN_CHECKPOINT_DIR: checkpoints.dir } : {}),
    };
    const metricDefs = (((job.AlgorithmSpecification as Doc).MetricDefinitions as Doc[] | undefined) ?? []).map((d) => ({ name: String(d.Name), re: new RegExp(toJsRegex(String(d.Regex))) }));
    const finalMetrics = new Map<string, { value: number; time: number }>();
    const maxRuntime = Number((job.StoppingCondition as Doc).MaxRuntimeInSeconds);
    const timer = setTimeout(() => {
      run.stop ??= 'max-runtime';
      this.kill(run);
    }, maxRuntime * 1000);
    let code: number | null;
    let stderrTail: string[];
    const spot = job.EnableManagedSpotTraining === true && checkpoints !== undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        const interrupt = spot && run.interruptSpot === true && attempt === 1;
        ({ code, stderrTail } = await this.execute(name, run, root, logFile, env, metricDefs, finalMetrics, interrupt ? checkpoints!.dir : undefined));
        if (!run.interrupted) break;
        // A spot interruption: what the script checkpointed is uploaded, a new instance starts from scratch and
        // downloads the checkpoints again before the script runs again (SageMaker's managed spot resume).
        run.interrupted = false;
        this.transition(job, 'InProgress', 'Interrupted', 'The job was interrupted: the spot instance was reclaimed');
        try {
          await uploadFolder(s3, checkpoints!.dir, checkpoints!.s3Uri);
          rmSync(checkpoints!.dir, { recursive: true, force: true });
          mkdirSync(checkpoints!.dir, { recursive: true });
          this.transition(job, 'InProgress', 'Downloading', 'Restarting on a new spot instance: downloading the checkpoints');
          await downloadPrefix(s3, checkpoints!.s3Uri, checkpoints!.dir);
        } catch (err) {
          return this.finish(name, 'Failed', 'Failed', `ClientError: resuming after a spot interruption: ${(err as Error).message}`);
        }
        if (this.stopped(run)) return this.finish(name, 'Stopped', 'Stopped');
        this.transition(job, 'InProgress', 'Training', 'Training resumed from the checkpoints');
      }
    } finally {
      clearTimeout(timer);
    }
    job.FinalMetricDataList = [...finalMetrics].map(([MetricName, m]) => ({ MetricName, Value: m.value, Timestamp: m.time }));
    store.save();
    // Checkpoints are synced to S3 while SageMaker trains; locally once the script has ended.
    if (checkpoints) {
      try {
        await uploadFolder(s3, checkpoints.dir, checkpoints.s3Uri);
      } catch (err) {
        return this.finish(name, 'Failed', 'Failed', `ClientError: could not upload the checkpoints to ${checkpoints.s3Uri}: ${(err as Error).message}`);
      }
    }

    if (run.fault !== undefined && !run.stop) return this.finish(name, 'Failed', 'Failed', run.fault);
    const output = job.OutputDataConfig as Doc;
    const outBase = joinUri(String(output.S3OutputPath), name, 'output');
    const upload = async (): Promise<void> => {
      await tarFolder(join(root, 'model'), join(root, 'upload', 'model.tar.gz'));
      await uploadFile(s3, join(root, 'upload', 'model.tar.gz'), `${outBase}/model.tar.gz`);
      await tarFolder(join(root, 'output/data'), join(root, 'upload', 'output.tar.gz'));
      await uploadFile(s3, join(root, 'upload', 'output.tar.gz'), `${outBase}/output.tar.gz`);
      job.ModelArtifacts = { S3ModelArtifacts: `${outBase}/model.tar.gz` };
      store.save();
    };
    if (run.stop) {
      // SageMaker still uploads what the script saved before it was stopped.
      if (readdirSync(join(root, 'model')).length > 0) await upload().catch(() => undefined);
      return this.finish(name, 'Stopped', run.stop === 'max-runtime' ? 'MaxRuntimeExceeded' : 'Stopped');
    }
    if (code !== 0) {
      const failureFile = join(root, 'output', 'failure');
      const written = existsSync(failureFile) ? readFileSync(failureFile, 'utf8').trim() : '';
      const reason = written || `ExecuteUserScriptError:\nExitCode ${code}\nErrorMessage "${stderrTail.slice(-5).join('\n')}"`;
      return this.finish(name, 'Failed', 'Failed', `AlgorithmError: ${reason}`.slice(0, 1024));
    }
    this.transition(job, 'InProgress', 'Uploading', 'Uploading generated training model');
    try {
      await upload();
    } catch (err) {
      return this.finish(name, 'Failed', 'Failed', `ClientError: could not upload the model artifacts: ${(err as Error).message}`);
    }
    // A StopTrainingJob that arrived while uploading still ends the job Stopped (its artifacts are kept).
    if (run.stop) return this.finish(name, 'Stopped', 'Stopped');
    return this.finish(name, 'Completed', 'Completed');
  }
}

/** The toolkit's decoding of one hyperparameter: JSON when it parses, the raw string otherwise. */
export function decodeHp(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) copyDir(src, dst);
    else writeFileSync(dst, readFileSync(src));
  }
}
