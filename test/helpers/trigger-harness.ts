import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ADMIN_CREDENTIALS } from '../../local/iam/identities';
import type { PipelineTarget } from '../../local/target';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunManifest } from '../../lambdas/shared/contracts';
import { TriggerState } from '../../lambdas/trigger/state';
import { resolvePipeline } from '../../local/asl/assembly';
import { LambdaHost } from '../../local/lambda-host';
import { LOCAL_REGION, PROCESS_ENV } from '../../local/local-env';
import { artifactsBucketOf } from '../../local/local-run';
import { LocalS3, localS3Env, startLocalS3 } from '../../local/services/s3-server';
import { LocalSqs, localSqsEnv, startLocalSqs, LocalSqsServer } from '../../local/services/sqs';
import { LocalStepFunctions, localSfnEnv, LocalStepFunctionsServer, startLocalStepFunctions } from '../../local/services/stepfunctions';
import { LocalTrigger, resolveTrigger, TriggerResources } from '../../local/trigger-runtime';
import { synthesize } from '../../local/synth';
import type { RelearnConfigInput } from '../../lambdas/shared/config';
import { parseConfig } from '../../lambdas/shared/config';

/**
 * The trigger path of a synthesized relearn app, with the bundled trigger handler in process: local S3 (its object-
 * created events go through the template's EventBridge rule), local SQS with the template's redrive policy, the
 * template's event source mapping, and a local Step Functions whose executions the test ends by hand (`end(name)`),
 * so a test decides when a run is over. Used by trigger-queue.test.ts.
 */
export class TriggerHarness {
  readonly dir: string;
  s3!: LocalS3;
  sqsServer!: LocalSqsServer;
  sfnServer!: LocalStepFunctionsServer;
  trigger!: LocalTrigger;
  resources!: TriggerResources;
  host!: LambdaHost;
  dataBucket!: string;
  artifactsBucket!: string;
  /** Every execution the trigger started, in order, with the manifest it was given. */
  readonly runs: { name: string; input: { source: { bucket: string; manifest?: string } }; manifest?: RunManifest; status: string }[] = [];
  /** Every batch the trigger handled, with when it ended (Date.now()). */
  readonly batches: { records: number; failed: number; ms: number; error?: string; endedAt: number }[] = [];
  private readonly gates = new Map<string, (status: 'SUCCEEDED' | 'FAILED') => void>();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'relearn-trigger-'));
  }

  get sqs(): LocalSqs {
    return this.sqsServer.sqs;
  }

  get sfn(): LocalStepFunctions {
    return this.sfnServer.sfn;
  }

  private functionTimeoutSeconds?: number;

  /**
   * Synthesizes the app for `config` (the assembly local mode uses) and starts everything. A shorter visibility timeout
   * than the template's 360 s makes redeliveries quick; Lambda wants it at least the function's timeout, so the
   * function's is shortened with it (`functionTimeoutSeconds`).
   */
  async start(config: RelearnConfigInput, opts: { visibilityTimeoutSeconds: number; functionTimeoutSeconds: number }): Promise<void> {
    this.functionTimeoutSeconds = opts.functionTimeoutSeconds;
    const stateDir = join(this.dir, '.relearn');
    const { outdir } = synthesize({ stateDir, config: parseConfig(config) });
    const pipeline = resolvePipeline(outdir);
    this.resources = resolveTrigger(outdir);
    this.dataBucket = this.resources.function.environment.DATA_BUCKET;
    this.artifactsBucket = artifactsBucketOf(pipeline);
    Object.assign(process.env, PROCESS_ENV);
    this.s3 = await startLocalS3({ directory: join(stateDir, 's3') });
    for (const b of [this.dataBucket, this.artifactsBucket]) await this.s3.client.send(new CreateBucketCommand({ Bucket: b }));
    this.sqsServer = await startLocalSqs(new LocalSqs());
    this.sfnServer = await startLocalStepFunctions(new LocalStepFunctions());
    this.sfn.register(this.resources.stateMachineArn, async (run) => {
      const input = run.input as TriggerHarness['runs'][number]['input'];
      const record: TriggerHarness['runs'][number] = { name: run.executionName, input, status: 'RUNNING' };
      if (input.source.manifest) record.manifest = JSON.parse(await this.object(input.source.manifest)) as RunManifest;
      this.runs.push(record);
      const status = await new Promise<'SUCCEEDED' | 'FAILED'>((resolve) => this.gates.set(run.executionName, resolve));
      record.status = status;
      return { status };
    });
    this.host = new LambdaHost({
      env: {
        ...PROCESS_ENV,
        ...localS3Env(this.s3.endpoint),
        ...localSqsEnv(this.sqsServer.endpoint),
        ...localSfnEnv(this.sfnServer.endpoint),
        AWS_REGION: LOCAL_REGION,
        POWERTOOLS_LOG_LEVEL: process.env.RELEARN_TEST_TRIGGER_LOG ?? 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
    });
    // S3 -> EventBridge (the template's rule) -> the queue, whichever trigger runtime is current.
    this.s3.onEvent((e) => this.trigger.objectCreated(e));
    this.startTrigger(opts.visibilityTimeoutSeconds);
  }

  /** (Re)starts the local trigger runtime, e.g. with the function's config changed as a redeploy would change it. */
  startTrigger(visibilityTimeoutSeconds: number, configOverride?: RelearnConfigInput): void {
    const base = { ...this.resources.function, ...(this.functionTimeoutSeconds ? { timeoutSeconds: this.functionTimeoutSeconds } : {}) };
    const fn = configOverride ? { ...base, environment: { ...base.environment, RELEARN_CONFIG: JSON.stringify(parseConfig(configOverride)) } } : base;
    this.trigger = new LocalTrigger({
      resources: { ...this.resources, function: fn },
      sqs: this.sqs,
      sfn: this.sfn,
      host: this.host,
      visibilityTimeoutSeconds,
      onBatch: (b) => this.batches.push({ ...b, endedAt: Date.now() }),
    });
    this.trigger.start();
  }

  /** Lambda's pollers stop reading the queue (events still arrive in it): a backlog builds up. */
  async pausePolling(): Promise<void> {
    await this.trigger.mapping.stop();
  }

  resumePolling(): void {
    this.trigger.mapping.start();
  }

  /** How many batches ran at the same time as another one. */
  overlappingBatches(): number {
    const spans = this.batches.map((b) => [b.endedAt - b.ms, b.endedAt] as const);
    return spans.filter(([s, e], i) => spans.some(([s2, e2], j) => j !== i && s < e2 && s2 < e)).length;
  }

  async stopTrigger(): Promise<void> {
    await this.trigger.stop();
  }

  async put(key: string, body: string): Promise<void> {
    await this.s3.client.send(new PutObjectCommand({ Bucket: this.dataBucket, Key: key, Body: body }));
  }

  /** Ends a run the trigger started (its status change reaches the trigger through the template's rule). */
  end(name: string, status: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED'): void {
    const gate = this.gates.get(name);
    if (!gate) throw new Error(`no run ${name} waiting (runs: ${this.runs.map((r) => r.name).join(', ')})`);
    this.gates.delete(name);
    gate(status);
  }

  /** This pipeline as `relearn start` / `status` reach one (local/target.ts), with SDK clients of the local services. */
  target(): PipelineTarget {
    const local = { region: LOCAL_REGION, credentials: LOCAL_ADMIN_CREDENTIALS };
    return {
      kind: 'local',
      name: 'relearn',
      region: LOCAL_REGION,
      stateMachineArn: this.resources.stateMachineArn,
      dataBucket: this.dataBucket,
      artifactsBucket: this.artifactsBucket,
      triggerQueueUrl: this.sqs.urlOf(this.resources.queue.name),
      endpointName: 'relearn-endpoint',
      s3: this.s3.client,
      sfn: new SFNClient({ ...local, endpoint: this.sfnServer.endpoint }),
      sqs: new SQSClient({ ...local, endpoint: this.sqsServer.endpoint, useQueueUrlAsEndpoint: false }),
      sagemaker: new SageMakerClient({ ...local, endpoint: 'http://127.0.0.1:9' }),
      memoryOf: async () => undefined,
      consoleLink: () => undefined,
      close: async () => undefined,
    };
  }

  /** Ends every run still waiting (after a failed test, so the next one does not inherit a run in flight). */
  endAll(): void {
    for (const name of [...this.gates.keys()]) this.end(name);
  }

  async object(uri: string): Promise<string> {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri)!;
    const res = await this.s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
    return res.Body!.transformToString();
  }

  async state(): Promise<TriggerState> {
    return JSON.parse(await this.object(`s3://${this.artifactsBucket}/trigger/state.json`)) as TriggerState;
  }

  /** The queue has nothing left to deliver within `withinMs` and no batch is in flight. */
  idle(withinMs = 0): Promise<void> {
    return this.trigger.mapping.idle(withinMs);
  }

  async cleanup(): Promise<void> {
    for (const gate of this.gates.values()) gate('SUCCEEDED');
    await this.trigger?.stop();
    await this.sfn?.drain();
    this.host?.restoreEnv();
    await Promise.allSettled([this.sqsServer?.stop(), this.sfnServer?.stop(), this.s3?.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `predicate` every 50 ms until it holds (throws with `what` after `timeoutMs`). */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
