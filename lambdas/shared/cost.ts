/**
 * What a run costs at list prices, from a pinned price table (so a run's figure does not move when AWS's page does):
 * Step Functions state transitions (Standard workflows bill each state entered, retries included), Lambda GB-seconds
 * and requests, the training job's billable instance-seconds (managed spot bills fewer seconds than it trains: that
 * is the saving), and the endpoint update (a blue/green update runs the new fleet beside the old one while it bakes).
 * Free tiers are left out: the figure is what the run adds to a bill past them.
 */

export interface PriceTable {
  /** When these prices were read from AWS's pricing pages. */
  readonly asOf: string;
  readonly region: string;
  readonly currency: 'USD';
  readonly stepFunctionsPerTransition: number;
  /** Lambda, Arm (the stages run on arm64). */
  readonly lambdaPerGbSecond: number;
  readonly lambdaPerRequest: number;
  /** SageMaker training, on-demand, per instance-hour. */
  readonly trainingPerHour: Readonly<Record<string, number>>;
  /** SageMaker real-time inference (hosting), on-demand, per instance-hour. */
  readonly hostingPerHour: Readonly<Record<string, number>>;
}

/**
 * us-east-1 list prices. Step Functions: $0.025 per 1,000 state transitions (aws.amazon.com/step-functions/pricing);
 * Lambda Arm: $0.0000133334 per GB-second and $0.20 per million requests (aws.amazon.com/lambda/pricing);
 * SageMaker on-demand instance-hours (aws.amazon.com/sagemaker/pricing) for the instance types relearn's examples
 * use. An instance type not in the table gives no figure for its part (the cost says which part is unknown).
 */
export const PRICES: PriceTable = {
  asOf: '2026-12-01',
  region: 'us-east-1',
  currency: 'USD',
  stepFunctionsPerTransition: 0.025 / 1000,
  lambdaPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1_000_000,
  trainingPerHour: { 'ml.m5.large': 0.115, 'ml.m5.xlarge': 0.23, 'ml.m5.2xlarge': 0.461, 'ml.c5.xlarge': 0.204, 'ml.c5.2xlarge': 0.408 },
  hostingPerHour: { 'ml.t2.medium': 0.056, 'ml.m5.large': 0.115, 'ml.m5.xlarge': 0.23, 'ml.c5.large': 0.102, 'ml.c5.xlarge': 0.204 },
};

/**
 * Notify's environment variable: JSON `{ "<state name>": <memory MB> }` for every Lambda task of both state machines
 * (lib/constructs/retraining-state-machine.ts stateMemoryMb), since GetExecutionHistory names functions, not memory.
 */
export const STATE_MEMORY_ENV = 'RELEARN_STATE_MEMORY_MB';

/**
 * The state -> memory map, compact for Lambda's 4 KB environment: `"*"` holds the most common memory and only the
 * states with another one are named (`{"*":256,"Ingest":2048,...}`).
 */
export function encodeStateMemory(map: Readonly<Record<string, number>>): string {
  const counts = new Map<number, number>();
  for (const mb of Object.values(map)) counts.set(mb, (counts.get(mb) ?? 0) + 1);
  const common = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0];
  if (common === undefined) return '{}';
  return JSON.stringify({ '*': common, ...Object.fromEntries(Object.entries(map).filter(([, mb]) => mb !== common)) });
}

/** A state's memory from `encodeStateMemory`'s text: its own entry, else `"*"`. */
export function stateMemoryLookup(map: Readonly<Record<string, number>>): (state: string | undefined) => number | undefined {
  return (state) => (state === undefined ? undefined : (map[state] ?? map['*']));
}

/** What a run used. */
export interface RunUsage {
  readonly stateTransitions: number;
  /** One entry per Lambda invocation (retries are invocations). */
  readonly lambda: readonly { readonly memoryMb: number; readonly durationMs: number }[];
  readonly training?: { readonly instanceType: string; readonly instanceCount: number; readonly trainingSeconds: number; readonly billableSeconds: number };
  /** The new fleet's instance-seconds while the update ran beside the old one (blue/green). */
  readonly endpointUpdate?: { readonly instanceType: string; readonly instanceCount: number; readonly seconds: number };
}

export interface RunCost {
  readonly currency: 'USD';
  readonly pricesAsOf: string;
  readonly region: string;
  readonly stateTransitions: number;
  readonly lambdaGbSeconds: number;
  readonly lambdaRequests: number;
  /** State transitions + Lambda: what relearn itself costs around the job. */
  readonly orchestrationUsd: number;
  readonly trainingUsd?: number;
  /** The training job the figure counts (instance, seconds trained and billed). */
  readonly training?: RunUsage['training'];
  /** What spot saved against on-demand for the same training seconds. */
  readonly spotSavingsUsd?: number;
  readonly endpointUpdateUsd?: number;
  /** Everything with a price; parts without one are listed in `unpriced`. */
  readonly totalUsd: number;
  readonly unpriced: readonly string[];
}

/** Lambda bills duration in 1 ms steps. */
export const gbSeconds = (memoryMb: number, durationMs: number): number => (memoryMb / 1024) * (Math.ceil(durationMs) / 1000);

export function runCost(u: RunUsage, p: PriceTable = PRICES): RunCost {
  const unpriced: string[] = [];
  const lambdaGbSeconds = u.lambda.reduce((n, i) => n + gbSeconds(i.memoryMb, i.durationMs), 0);
  const orchestrationUsd = u.stateTransitions * p.stepFunctionsPerTransition + lambdaGbSeconds * p.lambdaPerGbSecond + u.lambda.length * p.lambdaPerRequest;
  let trainingUsd: number | undefined;
  let spotSavingsUsd: number | undefined;
  if (u.training) {
    const hourly = p.trainingPerHour[u.training.instanceType];
    if (hourly === undefined) unpriced.push(`training on ${u.training.instanceType}`);
    else {
      const perSecond = (hourly / 3600) * u.training.instanceCount;
      trainingUsd = u.training.billableSeconds * perSecond;
      spotSavingsUsd = Math.max(0, u.training.trainingSeconds - u.training.billableSeconds) * perSecond;
    }
  }
  let endpointUpdateUsd: number | undefined;
  if (u.endpointUpdate) {
    const hourly = p.hostingPerHour[u.endpointUpdate.instanceType];
    if (hourly === undefined) unpriced.push(`hosting on ${u.endpointUpdate.instanceType}`);
    else endpointUpdateUsd = (hourly / 3600) * u.endpointUpdate.instanceCount * u.endpointUpdate.seconds;
  }
  return {
    currency: 'USD',
    pricesAsOf: p.asOf,
    region: p.region,
    stateTransitions: u.stateTransitions,
    lambdaGbSeconds,
    lambdaRequests: u.lambda.length,
    orchestrationUsd,
    ...(trainingUsd !== undefined ? { trainingUsd } : {}),
    ...(u.training ? { training: u.training } : {}),
    ...(spotSavingsUsd !== undefined ? { spotSavingsUsd } : {}),
    ...(endpointUpdateUsd !== undefined ? { endpointUpdateUsd } : {}),
    totalUsd: orchestrationUsd + (trainingUsd ?? 0) + (endpointUpdateUsd ?? 0),
    unpriced,
  };
}

/**
 * A training job's usage from DescribeTrainingJob: billable seconds (spot bills fewer than it trains). Undefined
 * while the job has reported neither (not started, or still starting).
 */
export function trainingUsage(job: {
  ResourceConfig?: { InstanceType?: string; InstanceCount?: number };
  TrainingTimeInSeconds?: number;
  BillableTimeInSeconds?: number;
}): RunUsage['training'] {
  const instanceType = job.ResourceConfig?.InstanceType;
  const billableSeconds = job.BillableTimeInSeconds ?? job.TrainingTimeInSeconds;
  if (!instanceType || billableSeconds === undefined) return undefined;
  return { instanceType, instanceCount: job.ResourceConfig?.InstanceCount ?? 1, trainingSeconds: job.TrainingTimeInSeconds ?? billableSeconds, billableSeconds };
}

/** A Step Functions history event, as GetExecutionHistory returns it (the fields read here). */
export interface HistoryEventLike {
  readonly type?: string;
  readonly timestamp?: Date | number;
  readonly id?: number;
  readonly previousEventId?: number;
  readonly lambdaFunctionScheduledEventDetails?: { readonly resource?: string; readonly memoryMb?: number };
}

/**
 * State transitions and Lambda invocations from an execution's history: every `*StateEntered` is a transition, and
 * every Lambda invocation beyond the first of a task's entry (a retry) is one more. A Lambda invocation lasts from
 * LambdaFunctionStarted to its Succeeded/Failed/TimedOut event; its memory comes from `memoryOf(resource)` (AWS's
 * history does not carry it) or the event itself (the local history does).
 */
export function usageFromHistory(events: readonly HistoryEventLike[], memoryOf: (functionArn: string) => number | undefined): Pick<RunUsage, 'stateTransitions' | 'lambda'> {
  const ms = (t: Date | number | undefined) => (t instanceof Date ? t.getTime() : (t ?? 0) * 1000);
  let entered = 0;
  let taskEntries = 0;
  let scheduled = 0;
  const lambda: { memoryMb: number; durationMs: number }[] = [];
  // Invocations in flight by the id of their last event: Map iterations invoke the same function side by side, and
  // each event names the one before it (previousEventId).
  const open = new Map<number, { memoryMb: number; startedAt?: number }>();
  const take = (e: HistoryEventLike) => {
    const key = e.previousEventId !== undefined && open.has(e.previousEventId) ? e.previousEventId : [...open.keys()].pop();
    if (key === undefined) return undefined;
    const inv = open.get(key)!;
    open.delete(key);
    return inv;
  };
  for (const e of events) {
    const type = e.type ?? '';
    if (type.endsWith('StateEntered')) {
      entered++;
      if (type === 'TaskStateEntered') taskEntries++;
    } else if (type === 'LambdaFunctionScheduled') {
      scheduled++;
      const d = e.lambdaFunctionScheduledEventDetails;
      open.set(e.id ?? -scheduled, { memoryMb: d?.memoryMb ?? (d?.resource ? memoryOf(d.resource) : undefined) ?? 128 });
    } else if (type === 'LambdaFunctionStarted') {
      const inv = take(e);
      if (inv) open.set(e.id ?? -scheduled, { ...inv, startedAt: ms(e.timestamp) });
    } else if (type === 'LambdaFunctionSucceeded' || type === 'LambdaFunctionFailed' || type === 'LambdaFunctionTimedOut') {
      const inv = take(e);
      if (inv) lambda.push({ memoryMb: inv.memoryMb, durationMs: Math.max(0, ms(e.timestamp) - (inv.startedAt ?? ms(e.timestamp))) });
    }
  }
  return { stateTransitions: entered + Math.max(0, scheduled - taskEntries), lambda };
}

/** `$0.0123` with enough digits to show a fraction of a cent. */
export const usd = (v: number): string => (v >= 0.1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`);
