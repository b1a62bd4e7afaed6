import { S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ExecutionStatus, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TriggerConfig } from '../shared/config';
import { s3Uri } from '../shared/s3';
import { decide, Observed, TERMINAL_STATUSES, TriggerInput, TriggerSettings } from './core';
import { expandMarker, listObjects } from './expand';
import { parseMessage, TriggerMessage } from './messages';
import { buildRun, isMarkerKey, PendingObject, RunRecord, TriggerState } from './state';
import { StateStore } from './store';

/**
 * One SQS batch through the trigger: parse and expand each message on its own (a bad one fails alone), decide and
 * record the state with optimistic concurrency, then start the run in flight if nothing runs it yet. Returns the
 * messages that must come back (SQS partial batch response): the ones that could not be read, or all of them when
 * the state could not be recorded or the start failed, so a start is retried until it happens, never dropped.
 */

export interface TriggerContext {
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly config: TriggerConfig;
  readonly dataBucket: string;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly stateMachineArn: string;
  readonly queueUrl: string;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Between conflicting writes. @default 50-300 ms, growing, with jitter */
  readonly backoffMs?: (attempt: number) => number;
}

export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
}

export interface BatchResult {
  readonly batchItemFailures: { itemIdentifier: string }[];
  /** What this batch did (also logged): for tests and the local watcher. */
  readonly outcome: {
    readonly state?: TriggerState;
    readonly started?: string;
    readonly notes: readonly string[];
  };
}

/** Optimistic-concurrency rounds before the batch gives up (and comes back later). */
const MAX_ATTEMPTS = 12;

export async function processBatch(records: readonly SqsRecord[], ctx: TriggerContext): Promise<BatchResult> {
  const clock = ctx.clock ?? (() => new Date());
  const failed = new Set<string>();
  const all = () => records.map((r) => ({ itemIdentifier: r.messageId }));

  // 1. Each message on its own: a message that cannot be read or expanded fails alone.
  const inputs: TriggerInput[] = [];
  for (const r of records) {
    try {
      inputs.push(...(await toInputs(parseMessage(r.body), ctx, clock())));
    } catch (err) {
      failed.add(r.messageId);
      ctx.log('error', 'trigger: message failed (it comes back, and after 5 receives goes to the dead-letter queue)', {
        messageId: r.messageId,
        error: (err as Error).name,
        message: (err as Error).message,
      });
    }
  }

  // 2. Decide and record.
  const store = new StateStore(ctx.s3, ctx.artifactsBucket, ctx.kmsKeyArn);
  let state: TriggerState;
  let notes: readonly string[];
  try {
    ({ state, notes } = await commit(store, inputs, ctx, clock));
  } catch (err) {
    ctx.log('error', 'trigger: the state could not be recorded; the whole batch comes back', { error: (err as Error).name, message: (err as Error).message });
    return { batchItemFailures: all(), outcome: { notes: [] } };
  }
  for (const n of notes) ctx.log('info', `trigger: ${n}`);

  // 3. Start the run in flight unless it runs already. A failure brings every message of the batch back: their
  //    redelivery is the retry (their content is recorded already, so it changes nothing else).
  let started: string | undefined;
  if (state.inFlight && !state.inFlight.startedAt) {
    try {
      state = await startRun(store, state.inFlight, ctx, clock);
      started = state.inFlight?.executionName;
    } catch (err) {
      ctx.log('error', 'trigger: StartExecution failed; the batch comes back and the start is retried', {
        executionName: state.inFlight?.executionName,
        error: (err as Error).name,
        message: (err as Error).message,
      });
      return { batchItemFailures: all(), outcome: { state, notes } };
    }
  }
  return { batchItemFailures: [...failed].map((id) => ({ itemIdentifier: id })), outcome: { state, ...(started ? { started } : {}), notes } };
}

/** A message as the core's inputs; markers and start requests are expanded from S3 here. */
async function toInputs(m: TriggerMessage, ctx: TriggerContext, now: Date): Promise<TriggerInput[]> {
  switch (m.kind) {
    case 'object-created': {
      if (m.bucket !== ctx.dataBucket) return [{ kind: 'wake', why: `an object of another bucket (${m.bucket})` }];
      if (ctx.config.mode === 'marker' && isMarkerKey(m.key)) {
        if (!ctx.config.enabled) return [{ kind: 'batch', marker: m.key, objects: [] }];
        const objects = await expandMarker(ctx.s3, ctx.dataBucket, m.key);
        return [{ kind: 'batch', marker: m.key, objects: objects.map((o) => ({ ...o, arrivedAt: m.time })) }];
      }
      const object: PendingObject = {
        key: m.key,
        ...(m.versionId ? { versionId: m.versionId } : {}),
        size: m.size,
        etag: m.etag,
        ...(m.sequencer ? { sequencer: m.sequencer } : {}),
        arrivedAt: new Date(m.time).toISOString(),
      };
      return [{ kind: 'object', object }];
    }
    case 'execution-status':
      return [{ kind: 'wake', why: `${m.name} is ${m.status}` }];
    case 'tick':
      return [{ kind: 'wake', why: 'quiet period' }];
    case 'schedule':
      return [{ kind: 'flush', by: 'schedule' }];
    case 'drift':
      return [{ kind: 'flush', by: 'drift', because: m.because }];
    case 'start': {
      if (!m.prefix) return [{ kind: 'flush', by: 'start' }];
      const objects = await listObjects(ctx.s3, ctx.dataBucket, m.prefix);
      if (objects.length === 0) {
        ctx.log('warn', `trigger: relearn start: nothing to train on under s3://${ctx.dataBucket}/${m.prefix}`);
        return [];
      }
      // The request's own time names the run: a redelivered request queues the same run, not a second one.
      const { manifest, record } = buildRun(objects, 'start', ctx.dataBucket, m.requestedAt ? new Date(m.requestedAt) : now);
      await new StateStore(ctx.s3, ctx.artifactsBucket, ctx.kmsKeyArn).putManifest(manifest);
      return [{ kind: 'queue-run', record }];
    }
  }
}

async function commit(store: StateStore, inputs: readonly TriggerInput[], ctx: TriggerContext, clock: () => Date): Promise<{ state: TriggerState; notes: readonly string[] }> {
  const settings: TriggerSettings = {
    enabled: ctx.config.enabled,
    mode: ctx.config.mode,
    quietPeriodSeconds: ctx.config.quietPeriodSeconds,
    maxWaitSeconds: ctx.config.maxWaitSeconds,
    dataBucket: ctx.dataBucket,
  };
  for (let attempt = 1; ; attempt++) {
    const now = clock();
    const { state, etag } = await store.read(now);
    const observed = await observe(state, ctx);
    const decision = decide(state, inputs, settings, observed, now);
    // Side effects that are harmless to repeat come first: an orphaned manifest or an extra wake-up costs nothing,
    // a state that points at a manifest that was never written would.
    if (decision.manifest) await store.putManifest(decision.manifest);
    if (decision.tickInSeconds !== undefined) {
      await ctx.sqs.send(new SendMessageCommand({ QueueUrl: ctx.queueUrl, MessageBody: JSON.stringify({ relearn: 'tick' }), DelaySeconds: decision.tickInSeconds }));
    }
    if (etag !== undefined && sameState(state, decision.state)) return decision;
    if ((await store.write(decision.state, etag)) === 'written') return decision;
    if (attempt >= MAX_ATTEMPTS) throw new Error(`trigger/state.json changed under ${MAX_ATTEMPTS} attempts in a row`);
    await sleep(ctx.backoffMs ? ctx.backoffMs(attempt) : Math.min(1000, 50 * attempt) * (0.5 + Math.random()));
  }
}

/** Nothing but the timestamp changed: no write needed. */
function sameState(a: TriggerState, b: TriggerState): boolean {
  return JSON.stringify({ ...a, updatedAt: '' }) === JSON.stringify({ ...b, updatedAt: '' });
}

/** What Step Functions says: the run in flight's status, and (when nothing of ours runs) any other RUNNING execution. */
async function observe(state: TriggerState, ctx: TriggerContext): Promise<Observed> {
  let inFlight: Observed['inFlight'];
  if (state.inFlight) {
    const executionArn = executionArnOf(ctx.stateMachineArn, state.inFlight.executionName);
    try {
      const d = await ctx.sfn.send(new DescribeExecutionCommand({ executionArn }));
      inFlight = { status: d.status ?? 'RUNNING', executionArn, ...(d.stopDate ? { stopDate: d.stopDate.toISOString() } : {}) };
    } catch (err) {
      if ((err as Error).name !== 'ExecutionDoesNotExist') throw err;
      inFlight = { status: 'MISSING' };
    }
  }
  let othersRunning: string[] = [];
  if (!state.inFlight || TERMINAL_STATUSES.has(inFlight!.status)) {
    const res = await ctx.sfn.send(new ListExecutionsCommand({ stateMachineArn: ctx.stateMachineArn, statusFilter: ExecutionStatus.RUNNING, maxResults: 10 }));
    othersRunning = (res.executions ?? []).filter((e) => e.name !== state.inFlight?.executionName).map((e) => e.executionArn!);
  }
  return { ...(inFlight ? { inFlight } : {}), othersRunning };
}

/** StartExecution of the run in flight (idempotent by name and input), then records that it started. */
async function startRun(store: StateStore, run: RunRecord, ctx: TriggerContext, clock: () => Date): Promise<TriggerState> {
  const executionArn = executionArnOf(ctx.stateMachineArn, run.executionName);
  try {
    await ctx.sfn.send(new StartExecutionCommand({ stateMachineArn: ctx.stateMachineArn, name: run.executionName, input: executionInput(run, ctx) }));
    ctx.log('info', `trigger: started ${run.executionName}`, { executionArn, objects: run.objects, reason: run.reason });
  } catch (err) {
    // The name is taken: this run was started before (and may have ended since); the next look records what became of it.
    if ((err as Error).name !== 'ExecutionAlreadyExists') throw err;
    ctx.log('warn', `trigger: ${run.executionName} was started before`, { executionArn });
  }
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const now = clock();
    const { state, etag } = await store.read(now);
    if (state.inFlight?.executionName !== run.executionName || state.inFlight.startedAt) return state;
    const next: TriggerState = { ...state, inFlight: { ...state.inFlight, startedAt: now.toISOString(), executionArn }, updatedAt: now.toISOString() };
    if ((await store.write(next, etag)) === 'written') return next;
  }
  // Not recorded: the execution runs all the same, and the next look (DescribeExecution) records it.
  return (await store.read(clock())).state;
}

/** The execution input: the manifest the run consumes (the same bytes on every retry, so StartExecution stays idempotent). */
export function executionInput(run: Pick<RunRecord, 'manifestKey' | 'reason' | 'because'>, ctx: Pick<TriggerContext, 'dataBucket' | 'artifactsBucket'>): string {
  // A run started with a reason in words (drift) carries it, so the execution's input says why it runs.
  return JSON.stringify({ source: { bucket: ctx.dataBucket, manifest: s3Uri(ctx.artifactsBucket, run.manifestKey) }, ...(run.because ? { trigger: { reason: run.reason, because: run.because } } : {}) });
}

/** arn:...:stateMachine:<machine> -> arn:...:execution:<machine>:<name> */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
