import type { ResolvedPipeline } from './asl/assembly';
import { localFunction, LocalFunction, readAssembly } from './asl/assembly';
import { CfnResolver, DEFAULT_LOCAL_ACCOUNT, StackTemplate, UnresolvableError } from './asl/cfn-resolver';
import { LambdaHost } from './lambda-host';
import { runLocalExecution } from './runner';
import { EventPattern, LocalEventBus, objectCreatedEvent } from './services/eventbridge';
import { LocalSqs } from './services/sqs';
import { SqsEventSourceMapping } from './services/sqs-event-source';
import { ExecutionRunner, LocalStepFunctions } from './services/stepfunctions';

/**
 * The trigger path of the synthesized template, run locally: the trigger queue and its dead-letter queue (LocalSqs,
 * with the template's visibility timeout, retention and redrive policy), the event source mapping (its batch size,
 * window and concurrency) invoking the bundled trigger handler in process, the EventBridge rules that feed the queue
 * (S3 object-created events from the local S3, execution status changes from the local Step Functions), and the
 * schedule when there is one. The handler talks to the local S3, SQS and Step Functions through the SDK, exactly as
 * in the cloud; nothing here decides anything the handler decides.
 */

export interface TriggerResources {
  readonly function: LocalFunction;
  readonly queue: { readonly name: string; readonly visibilityTimeoutSeconds: number; readonly retentionSeconds: number; readonly maxReceiveCount: number };
  readonly deadLetterQueue: { readonly name: string; readonly retentionSeconds: number };
  readonly mapping: { readonly batchSize: number; readonly windowSeconds: number; readonly concurrency: number; readonly reportBatchItemFailures: boolean };
  readonly rules: readonly { readonly name: string; readonly pattern: EventPattern }[];
  readonly schedule?: { readonly expression: string; readonly timezone: string; readonly input: string };
  readonly stateMachineArn: string;
}

/** The trigger's resources from the assembly in `outdir` (found by the construct ids of lib/constructs/trigger.ts). */
export function resolveTrigger(outdir: string): TriggerResources {
  const { stacks } = readAssembly(outdir);
  const resolver = new CfnResolver(stacks, DEFAULT_LOCAL_ACCOUNT);
  const find = (type: string, prefix: string): { stack: StackTemplate; id: string; props: Record<string, unknown> } => {
    const found = stacks.flatMap((stack) =>
      Object.entries(stack.template.Resources ?? {})
        .filter(([id, r]) => r.Type === type && new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id))
        .map(([id, r]) => ({ stack, id, props: (r.Properties ?? {}) as Record<string, unknown> })),
    );
    if (found.length !== 1) throw new UnresolvableError(`${outdir}: expected one ${type} ${prefix}, found ${found.length} (is this a relearn assembly with the trigger?)`);
    return found[0];
  };
  const fn = find('AWS::Lambda::Function', 'PipelineTriggerFunction');
  const fnArn = resolver.arn(fn.stack, fn.id);
  const queue = find('AWS::SQS::Queue', 'PipelineTriggerQueue');
  const dlq = find('AWS::SQS::Queue', 'PipelineTriggerDeadLetterQueue');
  const queueName = resolver.physicalName(queue.stack, queue.id);
  const redrive = queue.props.RedrivePolicy as { maxReceiveCount?: number } | undefined;
  const mappings = fn.stack.template.Resources ?? {};
  const mapping = Object.values(mappings).find(
    (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: fn.id }),
  );
  if (!mapping) throw new UnresolvableError(`${outdir}: no event source mapping for ${fn.id}`);
  const m = mapping.Properties as { BatchSize?: number; MaximumBatchingWindowInSeconds?: number; ScalingConfig?: { MaximumConcurrency?: number }; FunctionResponseTypes?: string[] };
  const queueArn = resolver.arn(queue.stack, queue.id);
  const rules: { name: string; pattern: EventPattern }[] = [];
  for (const stack of stacks) {
    for (const [id, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type !== 'AWS::Events::Rule') continue;
      const targets = (r.Properties?.Targets ?? []) as { Arn: unknown }[];
      if (!targets.some((t) => resolver.resolveString(stack, t.Arn, `${id}.Targets.Arn`) === queueArn)) continue;
      rules.push({ name: id, pattern: resolver.resolve(stack, r.Properties?.EventPattern, `${id}.EventPattern`) as EventPattern });
    }
  }
  let schedule: TriggerResources['schedule'];
  for (const stack of stacks) {
    for (const [id, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type !== 'AWS::Scheduler::Schedule') continue;
      const p = r.Properties as { ScheduleExpression: string; ScheduleExpressionTimezone?: string; Target: { Input?: string } };
      schedule = { expression: resolver.resolveString(stack, p.ScheduleExpression, `${id}.ScheduleExpression`), timezone: p.ScheduleExpressionTimezone ?? 'UTC', input: p.Target.Input ?? '{}' };
    }
  }
  // The state machine it starts: the one its STATE_MACHINE_ARN names (the app has others: rollback, monitoring).
  const local = localFunction(resolver, outdir, fn.stack, fn.id, fnArn);
  const stateMachineArn = local.environment.STATE_MACHINE_ARN;
  if (!stateMachineArn) throw new UnresolvableError(`${outdir}: the trigger function has no STATE_MACHINE_ARN`);
  return {
    function: local,
    queue: {
      name: queueName,
      visibilityTimeoutSeconds: Number(queue.props.VisibilityTimeout ?? 30),
      retentionSeconds: Number(queue.props.MessageRetentionPeriod ?? 345600),
      maxReceiveCount: Number(redrive?.maxReceiveCount ?? 0),
    },
    deadLetterQueue: { name: resolver.physicalName(dlq.stack, dlq.id), retentionSeconds: Number(dlq.props.MessageRetentionPeriod ?? 345600) },
    mapping: {
      batchSize: m.BatchSize ?? 10,
      windowSeconds: m.MaximumBatchingWindowInSeconds ?? 0,
      concurrency: m.ScalingConfig?.MaximumConcurrency ?? 2,
      reportBatchItemFailures: (m.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
    },
    rules,
    ...(schedule ? { schedule } : {}),
    stateMachineArn,
  };
}

/** A runner for the local Step Functions server that runs the pipeline's synthesized ASL (local/runner.ts). */
export function pipelineRunner(pipeline: ResolvedPipeline, opts: { host: LambdaHost; maxWaitSeconds?: number; env?: Readonly<Record<string, string>>; onEvent?: (name: string, e: import('./runner').RunEvent) => void }): ExecutionRunner {
  return async (run) => {
    const result = await runLocalExecution({
      pipeline,
      input: run.input,
      executionName: run.executionName,
      host: opts.host,
      ...(opts.env ? { env: opts.env } : {}),
      maxWaitSeconds: opts.maxWaitSeconds ?? 1,
      signal: run.signal,
      onEvent: (e) => {
        run.onEvent(e);
        opts.onEvent?.(run.executionName, e);
      },
      onInvoke: run.onInvoke,
    });
    return { status: result.status, ...(result.output !== undefined ? { output: result.output } : {}), ...(result.error ? { error: result.error } : {}) };
  };
}

export interface LocalTriggerOptions {
  readonly resources: TriggerResources;
  readonly sqs: LocalSqs;
  readonly sfn: LocalStepFunctions;
  /** Shared with the executions' stages: one process environment, one host (lambda-host.ts). */
  readonly host: LambdaHost;
  /**
   * Override the template's visibility timeout (tests that watch redeliveries); at least the function's timeout.
   * @default - the template's
   */
  readonly visibilityTimeoutSeconds?: number;
  /** Each batch the trigger handled. */
  readonly onBatch?: (b: { records: number; failed: number; ms: number; error?: string }) => void;
}

export class LocalTrigger {
  readonly bus = new LocalEventBus();
  readonly mapping: SqsEventSourceMapping;
  private scheduleTimer?: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: LocalTriggerOptions) {
    const r = opts.resources;
    const { sqs } = opts;
    const visibility = opts.visibilityTimeoutSeconds ?? r.queue.visibilityTimeoutSeconds;
    // Lambda refuses such a mapping: a message could come back while the function still handles it.
    if (visibility < r.function.timeoutSeconds) {
      throw new Error(`InvalidParameterValueException: Queue visibility timeout: ${visibility} seconds is less than Function timeout: ${r.function.timeoutSeconds} seconds`);
    }
    sqs.createQueue({ name: r.deadLetterQueue.name, retentionSeconds: r.deadLetterQueue.retentionSeconds, visibilityTimeoutSeconds: 30 });
    sqs.createQueue({
      name: r.queue.name,
      visibilityTimeoutSeconds: visibility,
      retentionSeconds: r.queue.retentionSeconds,
      ...(r.queue.maxReceiveCount > 0 ? { redrive: { deadLetterQueue: r.deadLetterQueue.name, maxReceiveCount: r.queue.maxReceiveCount } } : {}),
    });
    for (const rule of r.rules) this.bus.addRule({ name: rule.name, pattern: rule.pattern, deliver: (event) => sqs.send(r.queue.name, JSON.stringify(event)) });
    this.unsubscribe = opts.sfn.onExecutionEnded((event) => this.bus.put(event));
    if (!r.mapping.reportBatchItemFailures) throw new Error('the trigger event source mapping must report batch item failures');
    this.mapping = new SqsEventSourceMapping({
      sqs,
      queue: r.queue.name,
      batchSize: r.mapping.batchSize,
      maximumBatchingWindowSeconds: r.mapping.windowSeconds,
      concurrency: r.mapping.concurrency,
      invoke: (event) => opts.host.invoke(r.function, event),
      ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
    });
  }

  get queueName(): string {
    return this.opts.resources.queue.name;
  }

  get deadLetterQueueName(): string {
    return this.opts.resources.deadLetterQueue.name;
  }

  start(): void {
    this.mapping.start();
  }

  /** s3rver's in-process S3 notification record -> EventBridge's `Object Created` event on the default bus. */
  objectCreated(notification: unknown): string[] {
    const records = ((notification as { Records?: unknown[] })?.Records ?? []) as Parameters<typeof objectCreatedEvent>[0][];
    const matched: string[] = [];
    for (const record of records) {
      if (!String((record as { eventName?: string }).eventName ?? '').startsWith('ObjectCreated:')) continue;
      matched.push(...this.bus.put(objectCreatedEvent(record, DEFAULT_LOCAL_ACCOUNT.accountId, DEFAULT_LOCAL_ACCOUNT.region)));
    }
    return matched;
  }

  /** Runs a `rate(...)` schedule locally; a cron schedule runs only in the cloud (returns false). */
  startSchedule(): boolean {
    const s = this.opts.resources.schedule;
    if (!s) return false;
    const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(s.expression);
    if (!m) return false;
    const ms = Number(m[1]) * { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[m[2] as 'minute' | 'hour' | 'day'];
    this.scheduleTimer = setInterval(() => this.opts.sqs.send(this.queueName, s.input), ms);
    this.scheduleTimer.unref();
    return true;
  }

  /** Sends the schedule's message now (what a tick of the schedule does). */
  tickSchedule(): void {
    const s = this.opts.resources.schedule;
    this.opts.sqs.send(this.queueName, s?.input ?? JSON.stringify({ relearn: 'schedule' }));
  }

  async stop(): Promise<void> {
    if (this.scheduleTimer) clearInterval(this.scheduleTimer);
    this.unsubscribe();
    await this.mapping.stop();
  }
}
