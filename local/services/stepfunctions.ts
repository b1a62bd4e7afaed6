import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExecutionStatus, LambdaInvocation, RunEvent } from '../runner';
import { startJsonApi } from './json-api';
import { ApiError } from './sagemaker/api-error';

/**
 * A local AWS Step Functions API (JSON 1.0, `AWSStepFunctions.<Operation>`) over local executions: StartExecution,
 * DescribeExecution, ListExecutions, GetExecutionHistory and StopExecution, with Step Functions' rules:
 *
 * - StartExecution is idempotent: the same name and input as a RUNNING execution returns that execution; the same
 *   name with another input, or of a closed execution, is ExecutionAlreadyExists. Names are 1-80 characters without
 *   whitespace, brackets, wildcards, `" # % \ ^ | ~ ` $ & , ; : /` or control characters (InvalidName); the input
 *   must be JSON of at most 256 KiB (InvalidExecutionInput).
 * - Unknown state machines and executions are StateMachineDoesNotExist / ExecutionDoesNotExist; malformed ARNs InvalidArn.
 * - Each execution keeps a history of the events relearn reads (ExecutionStarted, <Type>StateEntered/Exited,
 *   LambdaFunctionScheduled/Started/Succeeded/Failed, Execution<Outcome>), ids and timestamps as Step Functions gives them.
 * - When an execution ends, listeners get the `Step Functions Execution Status Change` event EventBridge would carry.
 *
 * Executions run through a runner registered per state machine: local mode's ASL runner (local/runner.ts).
 */

export interface ExecutionRunner {
  (run: {
    readonly executionName: string;
    readonly executionArn: string;
    readonly input: unknown;
    readonly signal: AbortSignal;
    readonly onEvent: (e: RunEvent) => void;
    readonly onInvoke: (i: LambdaInvocation) => void;
  }): Promise<{ status: ExecutionStatus; output?: unknown; error?: { Error: string; Cause?: string } }>;
}

export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

export interface LocalExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  status: 'RUNNING' | ExecutionStatus;
  readonly startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  readonly history: HistoryEvent[];
  readonly done: Promise<void>;
  readonly abort: AbortController;
}

/** An error Step Functions would answer; the SDK takes `__type`'s last part as the error name. */
export class SfnError extends ApiError {}

/** Failures to inject: the next `times` StartExecution calls answer `error` (e.g. ExecutionLimitExceeded). */
export interface SfnFaults {
  startExecution?: { error: string; times: number };
}

const MAX_INPUT_BYTES = 262_144;
// Whitespace, brackets, wildcards, the listed specials and control characters (Step Functions' StartExecution name rules).
// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
const EXECUTION_ARN = /^arn:[^:]+:states:[^:]+:\d{12}:execution:([^:]+):([^:]+)$/;
const STATE_MACHINE_ARN = /^arn:[^:]+:states:[^:]+:\d{12}:stateMachine:[^:]+$/;

/** What is kept of an execution between processes. */
interface SavedExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly status: LocalExecution['status'];
  readonly startDate: number;
  readonly stopDate?: number;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
  /** Kept so a later process can read what a run did (relearn status counts its cost from it). */
  readonly history?: HistoryEvent[];
}

export class LocalStepFunctions {
  private readonly machines = new Map<string, ExecutionRunner>();
  private readonly executions = new Map<string, LocalExecution>();
  private readonly endListeners = new Set<(event: ExecutionStatusChange) => void>();
  faults: SfnFaults = {};

  /**
   * @param file where executions are kept between runs of local mode (`.relearn/stepfunctions/executions.json`): a
   *   name stays taken, and `relearn local status` lists them. An execution still RUNNING in the file belonged to a
   *   process that ended: it is ABORTED. @default - in memory only
   */
  constructor(private readonly file?: string) {
    if (!file || !existsSync(file)) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedExecution[];
    for (const e of saved) {
      const ended = e.status === 'RUNNING' ? { status: 'ABORTED' as const, stopDate: e.startDate, error: 'States.Aborted', cause: 'the local process running it ended' } : {};
      this.executions.set(e.executionArn, { ...e, ...ended, history: e.history ?? [], done: Promise.resolve(), abort: new AbortController() });
    }
  }

  private save(): void {
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const saved: SavedExecution[] = [...this.executions.values()].map(({ done: _d, abort: _a, ...e }) => e);
    writeFileSync(this.file, JSON.stringify(saved, null, 1));
  }

  /** Registers (or replaces) the runner of a state machine. */
  register(stateMachineArn: string, runner: ExecutionRunner): void {
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new Error(`not a state machine ARN: ${stateMachineArn}`);
    this.machines.set(stateMachineArn, runner);
  }

  /** EventBridge's view of an execution that ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED). */
  onExecutionEnded(listener: (event: ExecutionStatusChange) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  start(stateMachineArn: string, name: string | undefined, input = '{}'): LocalExecution {
    if (this.faults.startExecution && this.faults.startExecution.times > 0) {
      this.faults.startExecution.times--;
      throw new SfnError(this.faults.startExecution.error, `${this.faults.startExecution.error} (injected by the local Step Functions server)`);
    }
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new SfnError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${stateMachineArn}'`);
    const runner = this.machines.get(stateMachineArn);
    if (!runner) throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    const executionName = name ?? randomUUID();
    if (executionName.length < 1 || executionName.length > 80 || BAD_NAME.test(executionName)) throw new SfnError('InvalidName', `Invalid Name: '${executionName}'`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (err) {
      throw new SfnError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(err as Error).message}'`);
    }
    if (Buffer.byteLength(input, 'utf8') > MAX_INPUT_BYTES) throw new SfnError('InvalidExecutionInput', `Invalid State Machine Execution Input: 'the input is over ${MAX_INPUT_BYTES} bytes'`);
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === input) return existing;
      throw new SfnError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const history: HistoryEvent[] = [];
    const abort = new AbortController();
    let resolveDone!: () => void;
    const execution: LocalExecution = {
      executionArn,
      stateMachineArn,
      name: executionName,
      input,
      status: 'RUNNING',
      startDate: Date.now(),
      history,
      done: new Promise<void>((r) => (resolveDone = r)),
      abort,
    };
    this.executions.set(executionArn, execution);
    this.save();
    const recorder = new HistoryRecorder(history);
    recorder.add('ExecutionStarted', { executionStartedEventDetails: { input, inputDetails: { truncated: false } } });
    void (async () => {
      let outcome: Awaited<ReturnType<ExecutionRunner>>;
      try {
        outcome = await runner({
          executionName,
          executionArn,
          input: parsed,
          signal: abort.signal,
          onEvent: (e) => recorder.runEvent(e),
          onInvoke: (i) => recorder.invocation(i),
        });
      } catch (err) {
        outcome = { status: 'FAILED', error: { Error: (err as Error).name || 'Error', Cause: (err as Error).message } };
      }
      execution.status = outcome.status;
      execution.stopDate = Date.now();
      if (outcome.output !== undefined) execution.output = JSON.stringify(outcome.output);
      if (outcome.error) {
        execution.error = outcome.error.Error;
        if (outcome.error.Cause !== undefined) execution.cause = outcome.error.Cause;
      }
      recorder.flush();
      const type = { SUCCEEDED: 'ExecutionSucceeded', FAILED: 'ExecutionFailed', ABORTED: 'ExecutionAborted', TIMED_OUT: 'ExecutionTimedOut' }[outcome.status];
      recorder.add(type, outcome.error ? { [`${type[0].toLowerCase()}${type.slice(1)}EventDetails`]: { error: outcome.error.Error, cause: outcome.error.Cause } } : {});
      this.save();
      resolveDone();
      const event = statusChange(execution);
      for (const l of this.endListeners) {
        try {
          l(event);
        } catch {
          // a listener's failure is its own
        }
      }
    })();
    return execution;
  }

  describe(executionArn: string): LocalExecution {
    if (!EXECUTION_ARN.test(executionArn)) throw new SfnError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${executionArn}'`);
    const e = this.executions.get(executionArn);
    if (!e) throw new SfnError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return e;
  }

  /** Newest first, as Step Functions lists them. */
  list(stateMachineArn: string, statusFilter?: string): LocalExecution[] {
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new SfnError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${stateMachineArn}'`);
    if (!this.machines.has(stateMachineArn) && ![...this.executions.values()].some((e) => e.stateMachineArn === stateMachineArn)) {
      throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    }
    if (statusFilter !== undefined && !['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'].includes(statusFilter)) {
      throw new SfnError('ValidationException', `1 validation error detected: Value '${statusFilter}' at 'statusFilter' failed to satisfy constraint`);
    }
    return [...this.executions.values()]
      .filter((e) => e.stateMachineArn === stateMachineArn && (statusFilter === undefined || e.status === statusFilter))
      .sort((a, b) => b.startDate - a.startDate);
  }

  stop(executionArn: string): LocalExecution {
    const e = this.describe(executionArn);
    if (e.status === 'RUNNING') e.abort.abort();
    return e;
  }

  /** Every execution that has not ended yet has ended (tests and shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }

  runningCount(): number {
    return [...this.executions.values()].filter((e) => e.status === 'RUNNING').length;
  }
}

export interface ExecutionStatusChange {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'Step Functions Execution Status Change';
  readonly source: 'aws.states';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: { executionArn: string; stateMachineArn: string; name: string; status: string; startDate: number; stopDate: number | null; input: string; output: string | null };
}

function statusChange(e: LocalExecution): ExecutionStatusChange {
  const [, , , region, account] = e.executionArn.split(':');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account,
    time: new Date(e.stopDate ?? Date.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
    region,
    resources: [e.executionArn],
    detail: { executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: e.startDate, stopDate: e.stopDate ?? null, input: e.input, output: e.output ?? null },
  };
}

/**
 * Turns the runner's events into Step Functions history events. As in AWS, a task's first LambdaFunctionScheduled
 * follows (and names as previousEventId) its TaskStateEntered, and a retry's follows the failure before it: Notify
 * finds the state of each invocation that way (for its memory). The runner reports an invocation as it starts and a
 * state entry through the interpreter's event stream, which can come a little later: an invocation of a state not
 * entered yet waits for that entry.
 */
class HistoryRecorder {
  private readonly lastEventOf = new Map<string, number>();
  private readonly inState = new Map<string, number>();
  private readonly waiting = new Map<string, LambdaInvocation[]>();
  constructor(private readonly history: HistoryEvent[]) {}

  add(type: string, details: Record<string, unknown> = {}, timestamp = Date.now(), key?: string): void {
    const id = this.history.length + 1;
    const previousEventId = (key !== undefined ? this.lastEventOf.get(key) : undefined) ?? this.history.length;
    this.history.push({ id, previousEventId, timestamp: timestamp / 1000, type, ...details });
    if (key !== undefined) this.lastEventOf.set(key, id);
  }

  runEvent(e: RunEvent): void {
    if (e.type === 'StateEntered') {
      this.add(`${e.visit.type}StateEntered`, { stateEnteredEventDetails: { name: e.visit.name } }, e.at, `${e.visit.name}#${e.visit.mapIndex ?? ''}`);
      this.inState.set(e.visit.name, (this.inState.get(e.visit.name) ?? 0) + 1);
      this.lastEventOf.set(`${e.visit.name}#lambda`, this.history.length);
      const waiting = this.waiting.get(e.visit.name) ?? [];
      this.waiting.delete(e.visit.name);
      for (const i of waiting) this.invocation(i);
    } else if (e.type === 'StateExited' && e.visit.status !== 'failed') {
      this.add(`${e.visit.type}StateExited`, { stateExitedEventDetails: { name: e.visit.name } }, e.at, `${e.visit.name}#${e.visit.mapIndex ?? ''}`);
    }
    // A visit ends with its exit (a retried failure is still the same visit).
    if (e.type === 'StateExited') this.inState.set(e.visit.name, Math.max(0, (this.inState.get(e.visit.name) ?? 0) - 1));
  }

  invocation(i: LambdaInvocation): void {
    const waiting = this.waiting.get(i.state);
    if (waiting || (i.phase === 'start' && !this.inState.get(i.state))) {
      this.waiting.set(i.state, [...(waiting ?? []), i]);
      return;
    }
    const key = `${i.state}#lambda`;
    if (i.phase === 'start') {
      this.add('LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: { resource: i.functionArn, memoryMb: i.memoryMb } }, i.startedAt, key);
      this.add('LambdaFunctionStarted', {}, i.startedAt, key);
    } else if (i.error) {
      this.add('LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: i.error } }, i.endedAt, key);
    } else {
      this.add('LambdaFunctionSucceeded', {}, i.endedAt, key);
    }
  }

  /** Invocations whose state entry never came (an aborted execution), before the execution's last event. */
  flush(): void {
    const waiting = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const i of waiting) {
      this.inState.set(i.state, Math.max(1, this.inState.get(i.state) ?? 0));
      this.invocation(i);
    }
  }
}

export interface LocalStepFunctionsServer {
  /** http://127.0.0.1:<port>: the value for AWS_ENDPOINT_URL_SFN. */
  readonly endpoint: string;
  readonly sfn: LocalStepFunctions;
  stop(): Promise<void>;
}

export const localSfnEnv = (endpoint: string): Record<string, string> => ({ AWS_ENDPOINT_URL_SFN: endpoint });

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

function call(sfn: LocalStepFunctions, op: string, input: Record<string, unknown>): unknown {
  const str = (name: string, requiredField = true): string | undefined => {
    const v = input[name];
    if (v === undefined && !requiredField) return undefined;
    if (typeof v !== 'string' || v === '') throw new SfnError('ValidationException', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`);
    return v;
  };
  const page = <T>(items: T[]): { items: T[]; nextToken?: string } => {
    const max = input.maxResults === undefined || input.maxResults === 0 ? 100 : Number(input.maxResults);
    if (!Number.isInteger(max) || max < 0 || max > 1000) throw new SfnError('ValidationException', `1 validation error detected: Value '${String(input.maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000`);
    const from = input.nextToken === undefined ? 0 : Number(Buffer.from(String(input.nextToken), 'base64url').toString('utf8'));
    if (!Number.isInteger(from) || from < 0) throw new SfnError('InvalidToken', `Invalid token: ${String(input.nextToken)}`);
    const slice = items.slice(from, from + max);
    return { items: slice, ...(from + max < items.length ? { nextToken: Buffer.from(String(from + max)).toString('base64url') } : {}) };
  };
  switch (op) {
    case 'StartExecution': {
      const e = sfn.start(str('stateMachineArn')!, str('name', false), str('input', false) ?? '{}');
      return { executionArn: e.executionArn, startDate: seconds(e.startDate) };
    }
    case 'DescribeExecution': {
      const e = sfn.describe(str('executionArn')!);
      return {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: seconds(e.startDate),
        ...(e.stopDate !== undefined ? { stopDate: seconds(e.stopDate) } : {}),
        input: e.input,
        inputDetails: { included: true },
        ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
        ...(e.cause !== undefined ? { cause: e.cause } : {}),
      };
    }
    case 'ListExecutions': {
      const { items, nextToken } = page(sfn.list(str('stateMachineArn')!, str('statusFilter', false)));
      return {
        executions: items.map((e) => ({ executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: seconds(e.startDate), ...(e.stopDate !== undefined ? { stopDate: seconds(e.stopDate) } : {}) })),
        ...(nextToken ? { nextToken } : {}),
      };
    }
    case 'GetExecutionHistory': {
      const e = sfn.describe(str('executionArn')!);
      const events = input.reverseOrder === true ? [...e.history].reverse() : e.history;
      const { items, nextToken } = page(events);
      return { events: items, ...(nextToken ? { nextToken } : {}) };
    }
    case 'StopExecution': {
      const e = sfn.stop(str('executionArn')!);
      return { stopDate: seconds(e.stopDate ?? Date.now()) };
    }
    default:
      throw new SfnError('UnknownOperationException', `The local Step Functions server does not implement ${op}`);
  }
}

/** Starts the JSON 1.0 front of `sfn` on a free 127.0.0.1 port. */
export async function startLocalStepFunctions(sfn: LocalStepFunctions = new LocalStepFunctions()): Promise<LocalStepFunctionsServer> {
  const api = await startJsonApi({ targetPrefix: 'AWSStepFunctions', errorNamespace: 'com.amazonaws.swf.service.v2.model', internalError: 'InternalFailure', call: (op, input) => call(sfn, op, input) });
  return { endpoint: api.endpoint, sfn, stop: () => api.stop() };
}
