import { randomBytes } from 'node:crypto';
import type { ResolvedPipeline } from './asl/assembly';
import { AslDefinition, eachState, waitOverrides, waitPathProblem, withTaskTimeouts } from './asl/definition';
import { LambdaHost, LambdaHostOptions } from './lambda-host';

// aws-local-stepfunctions 3 targets Node >= 22; on Node 20 it needs Promise.withResolvers.
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StateMachine } = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

/**
 * Runs one execution of the resolved pipeline with aws-local-stepfunctions: the synthesized ASL as it is,
 * except that each Lambda task runs its bundled handler in process (LambdaHost) and returns Lambda's invoke
 * envelope, and Wait states longer than `maxWaitSeconds` are shortened (the polling waits; see
 * docs/local-mode.md). Reports each state entered/exited with durations and retries.
 */

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface StateVisit {
  readonly name: string;
  readonly type: string;
  /** Map iteration index, for states inside a Map. */
  readonly mapIndex?: number;
  readonly enteredAt: number;
  exitedAt?: number;
  durationMs?: number;
  retries: number;
  status: 'running' | 'succeeded' | 'caught' | 'failed';
  error?: { Error: string; Cause?: string };
}

export type RunEvent =
  | { readonly type: 'ExecutionStarted'; readonly executionName: string; readonly at: number }
  | { readonly type: 'StateEntered'; readonly visit: StateVisit; readonly at: number }
  | { readonly type: 'StateExited'; readonly visit: StateVisit; readonly at: number }
  | { readonly type: 'StateRetried'; readonly visit: StateVisit; readonly attempt: number; readonly at: number }
  | { readonly type: 'StateFailed'; readonly visit: StateVisit; readonly error: string; readonly cause?: string; readonly at: number }
  | { readonly type: 'StateCaught'; readonly visit: StateVisit; readonly next: string; readonly at: number }
  | { readonly type: 'ExecutionEnded'; readonly status: ExecutionStatus; readonly at: number; readonly error?: { Error: string; Cause?: string } };

export interface LocalExecutionOptions {
  readonly pipeline: ResolvedPipeline;
  readonly input: unknown;
  /** @default - `local-<UTC timestamp>-<4 hex>` */
  readonly executionName?: string;
  /** Variables every Lambda gets on top of its own environment: local endpoints, credentials, log level. */
  readonly env?: Readonly<Record<string, string>>;
  /** Each function's own credentials (its role's session): see LambdaHostOptions.credentialsFor. */
  readonly credentialsFor?: LambdaHostOptions['credentialsFor'];
  /** Wait states longer than this wait this long instead. @default 1 */
  readonly maxWaitSeconds?: number;
  /**
   * Every retry waits this long instead of IntervalSeconds x BackoffRate^n (with jitter).
   * @default - the definition's own retry intervals
   */
  readonly retryIntervalMs?: number;
  readonly onEvent?: (event: RunEvent) => void;
  readonly signal?: AbortSignal;
}

export interface LocalExecutionResult {
  readonly executionName: string;
  readonly executionArn: string;
  readonly status: ExecutionStatus;
  readonly output?: unknown;
  readonly error?: { Error: string; Cause?: string };
  /** Every state entered, in order (Map iterations carry mapIndex). */
  readonly states: readonly StateVisit[];
  readonly startedAt: string;
  readonly durationMs: number;
  /** Time spent inside Lambda handlers, per task state (summed over retries and Map iterations). */
  readonly handlerMs: Readonly<Record<string, number>>;
  /** The input of the last top-level state entered: on a failure, what the execution knew by then. */
  readonly lastInput?: unknown;
  /** ABORTED: the task states whose handlers were still running when it was aborted (they ran to their end). */
  readonly interruptedIn?: readonly string[];
}

export function defaultExecutionName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `local-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Prepares the definition once (task timeouts) and runs one execution. */
export async function runLocalExecution(opts: LocalExecutionOptions): Promise<LocalExecutionResult> {
  const { pipeline } = opts;
  const executionName = opts.executionName ?? defaultExecutionName();
  const { region, accountId, partition } = pipeline.account;
  const executionArn = `arn:${partition}:states:${region}:${accountId}:execution:${pipeline.stateMachine.name}:${executionName}`;
  const definition = withTaskTimeouts(pipeline.stateMachine.definition, (state) => {
    const arn = pipeline.tasks[state];
    return arn ? pipeline.functions[arn]?.timeoutSeconds : undefined;
  });

  const host = new LambdaHost({ env: opts.env, ...(opts.credentialsFor ? { credentialsFor: opts.credentialsFor } : {}) });
  // Handlers still running: an aborted execution stops entering states at once, but a Lambda invocation already
  // under way runs to its end (as in the cloud); the execution is over only when they are.
  const inFlight = new Set<{ state: string; done: Promise<void> }>();
  const handlerMs: Record<string, number> = {};
  const taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  let seenStartTime: string | undefined;
  for (const [stateName, arn] of Object.entries(pipeline.tasks)) {
    const fn = pipeline.functions[arn];
    const isInvokeIntegration = isLambdaInvoke(definition, stateName);
    const call = async (input: unknown) => {
      const payload = isInvokeIntegration ? (input as { Payload?: unknown })?.Payload : input;
      const started = performance.now();
      try {
        const result = await host.invoke(fn, payload);
        const out = isInvokeIntegration ? invokeEnvelope(result) : result;
        checkSize(out, stateName);
        return out;
      } finally {
        handlerMs[stateName] = (handlerMs[stateName] ?? 0) + (performance.now() - started);
      }
    };
    taskHandlers[stateName] = (input: unknown) => {
      // aws-local-stepfunctions sets $$.Execution.StartTime itself (the context's is overwritten): the first payload
      // that carries it tells the start time the handlers see, which tags and ownership checks depend on.
      const start = (input as { executionStartTime?: unknown } | null)?.executionStartTime;
      if (typeof start === 'string') seenStartTime ??= start;
      const p = call(input);
      const entry = { state: stateName, done: p.then(() => undefined, () => undefined) };
      inFlight.add(entry);
      void entry.done.then(() => inFlight.delete(entry));
      return p;
    };
  }

  const retryIntervalOverrides: Record<string, number> = {};
  if (opts.retryIntervalMs !== undefined) {
    for (const { name, state } of eachState(definition)) if (state.Retry) retryIntervalOverrides[name] = opts.retryIntervalMs;
  }

  const startedAt = new Date();
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false, checkPaths: true } });
  const emit = (e: RunEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a display error must not break the execution
    }
  };
  emit({ type: 'ExecutionStarted', executionName, at: startedAt.getTime() });

  const execution = machine.run(opts.input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers as never,
      waitTimeOverrides: waitOverrides(definition, opts.maxWaitSeconds ?? 1),
      retryIntervalOverrides,
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: executionName,
        StartTime: startedAt.toISOString(),
        Input: opts.input as never,
        RoleArn: `arn:${partition}:iam::${accountId}:role/${pipeline.stateMachine.name}-role`,
      },
      StateMachine: { Id: pipeline.stateMachine.arn, Name: pipeline.stateMachine.name },
    },
    noThrowOnAbort: true,
  });
  const onAbort = () => execution.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();

  // Follow the event stream while the execution runs (it is live, not buffered).
  const states: StateVisit[] = [];
  const open = new Map<string, StateVisit>();
  let lastInput: unknown;
  const keyOf = (name: string, index?: number) => `${name}#${index ?? ''}`;
  let runtimeError: { Error: string; Cause: string } | undefined;
  const drained = (async () => {
    for await (const ev of execution.eventLogs) {
      const e = ev as unknown as { type: string; timestamp: number; state?: { name: string; type: string; input?: unknown }; index?: number; Error?: string; Cause?: unknown; retry?: { attempt: number }; catch?: { catcher: { Next: string } } };
      if (!e.state) {
        if (e.type === 'ExecutionSucceeded' || e.type === 'ExecutionFailed' || e.type === 'ExecutionAborted' || e.type === 'ExecutionTimeout') break;
        continue;
      }
      const key = keyOf(e.state.name, e.index);
      if (e.type === 'StateEntered') {
        if (e.index === undefined) lastInput = e.state.input;
        // Local waits are shortened, and the interpreter then never reads a Wait's SecondsPath: check it as Step
        // Functions would, so a missing or bad wait fails here as it would in the cloud (States.Runtime).
        const badWait = waitPathProblem(definition, e.state.name, e.state.input);
        if (badWait && !runtimeError) {
          runtimeError = { Error: 'States.Runtime', Cause: badWait };
          execution.abort();
        }
        const visit: StateVisit = {
          name: e.state.name,
          type: e.state.type,
          ...(e.index !== undefined ? { mapIndex: e.index } : {}),
          enteredAt: e.timestamp,
          retries: 0,
          status: 'running',
        };
        states.push(visit);
        open.set(key, visit);
        emit({ type: 'StateEntered', visit, at: e.timestamp });
        continue;
      }
      const visit = open.get(key);
      if (!visit) continue;
      if (e.type === 'StateFailed') {
        const cause = typeof e.Cause === 'string' ? e.Cause : e.Cause === undefined ? undefined : JSON.stringify(e.Cause);
        visit.error = { Error: e.Error ?? 'Error', ...(cause !== undefined ? { Cause: cause } : {}) };
        visit.status = 'failed';
        visit.exitedAt = e.timestamp;
        visit.durationMs = e.timestamp - visit.enteredAt;
        emit({ type: 'StateFailed', visit, error: visit.error.Error, ...(cause !== undefined ? { cause } : {}), at: e.timestamp });
      } else if (e.type === 'StateRetried') {
        visit.retries++;
        visit.status = 'running';
        emit({ type: 'StateRetried', visit, attempt: e.retry?.attempt ?? visit.retries, at: e.timestamp });
      } else if (e.type === 'StateCaught') {
        visit.status = 'caught';
        emit({ type: 'StateCaught', visit, next: e.catch?.catcher.Next ?? '', at: e.timestamp });
      } else if (e.type === 'StateExited') {
        if (visit.status === 'running') visit.status = 'succeeded';
        visit.exitedAt = e.timestamp;
        visit.durationMs = e.timestamp - visit.enteredAt;
        open.delete(key);
        emit({ type: 'StateExited', visit, at: e.timestamp });
      }
    }
  })();

  let status: ExecutionStatus = 'SUCCEEDED';
  let output: unknown;
  let error: { Error: string; Cause?: string } | undefined;
  try {
    output = await execution.result;
    if (output === null && opts.signal?.aborted) status = 'ABORTED';
    if (runtimeError) {
      status = 'FAILED';
      error = runtimeError;
    }
  } catch (err) {
    const e = err as Error & { cause?: Error };
    if (e.name === 'ExecutionTimeoutError') {
      status = 'TIMED_OUT';
      error = { Error: 'States.Timeout', Cause: 'The execution exceeded its TimeoutSeconds' };
    } else if (e.name === 'ExecutionAbortedError') {
      status = 'ABORTED';
    } else {
      status = 'FAILED';
      const inner = e.cause ?? e;
      error = { Error: inner.name, Cause: inner.message };
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const interruptedIn = [...new Set([...inFlight].map((f) => f.state))];
  await Promise.all([...inFlight].map((f) => f.done));
  host.restoreEnv();
  // Events that trail the result: wait for the stream's end (bounded, so a stuck stream cannot hang a run).
  await Promise.race([drained, new Promise((r) => setTimeout(r, 2000).unref())]);
  for (const v of open.values()) if (v.status === 'running') v.status = status === 'SUCCEEDED' ? 'succeeded' : 'failed';

  const at = Date.now();
  emit({ type: 'ExecutionEnded', status, at, ...(error ? { error } : {}) });
  return {
    executionName,
    executionArn,
    status,
    ...(status === 'SUCCEEDED' ? { output } : {}),
    ...(error ? { error } : {}),
    states,
    startedAt: seenStartTime ?? startedAt.toISOString(),
    durationMs: at - startedAt.getTime(),
    handlerMs,
    ...(lastInput !== undefined ? { lastInput } : {}),
    ...(status === 'ABORTED' ? { interruptedIn } : {}),
  };
}

function isLambdaInvoke(def: AslDefinition, stateName: string): boolean {
  for (const { name, state } of eachState(def)) {
    if (name === stateName) return /^arn:[^:]+:states:::lambda:invoke$/.test(String(state.Resource));
  }
  return false;
}

/** What `lambda:invoke` returns in the cloud; CDK's LambdaInvoke selects `$.Payload` from it. */
function invokeEnvelope(payload: unknown): Record<string, unknown> {
  return {
    ExecutedVersion: '$LATEST',
    Payload: payload,
    SdkHttpMetadata: { HttpStatusCode: 200 },
    SdkResponseMetadata: { RequestId: randomBytes(16).toString('hex') },
    StatusCode: 200,
  };
}

const MAX_PAYLOAD = 256 * 1024;

function checkSize(value: unknown, stateName: string): void {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (size > MAX_PAYLOAD) {
    const err = new Error(`${stateName}: the task result is ${size} bytes, over Step Functions' 262144-byte limit`);
    err.name = 'States.DataLimitExceeded';
    throw err;
  }
}
