import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { HistoryEventLike, RunCost, runCost, RunUsage, STATE_MEMORY_ENV, stateMemoryLookup, trainingUsage, usageFromHistory, usd } from '../shared/cost';
import { StageEvent } from '../shared/contracts';

/**
 * What the run cost, as Notify can know it: the run is nearly over when Notify runs, so the figure covers the
 * execution's history up to Notify, plus an estimate of Notify itself (its time so far) and of the one end state
 * after it. Kept in outcome.json (`cost`) and said in one line of the message.
 */
export type RunCostRecord = (RunCost & { readonly covers: string }) | { readonly unknown: string };

export const COVERS = 'the execution up to Notify; Notify itself estimated from its time so far, plus the end state after it';

/**
 * The state a history event belongs to: follow previousEventId back to the nearest `*StateEntered` (AWS links a
 * task's Lambda events to its entry that way). Undefined when the chain does not lead there (the caller then takes
 * the latest task entered before the event: the same state, since only ComputeStatistics runs tasks side by side,
 * all of one state).
 */
function stateOf(byId: ReadonlyMap<number, HistoryEventLike & { stateEnteredEventDetails?: { name?: string } }>, e: HistoryEventLike): string | undefined {
  let cur: (HistoryEventLike & { stateEnteredEventDetails?: { name?: string } }) | undefined = e;
  for (let hops = 0; cur && hops < 1000; hops++) {
    if (cur.type?.endsWith('StateEntered')) return cur.stateEnteredEventDetails?.name;
    cur = cur.previousEventId !== undefined ? byId.get(cur.previousEventId) : undefined;
  }
  return undefined;
}

/**
 * The run's cost from its history at Notify (pure). `stateMemory` gives each Lambda task state's memory (the
 * history names the function, not its memory); a function it does not know is counted at 128 MB and said so.
 */
export function costAtNotify(
  events: readonly (HistoryEventLike & { stateEnteredEventDetails?: { name?: string } })[],
  opts: { readonly stateMemory: Readonly<Record<string, number>>; readonly now: number; readonly training?: RunUsage['training']; readonly unpriced?: readonly string[] },
): RunCost & { covers: string } {
  const byId = new Map(events.filter((e) => e.id !== undefined).map((e) => [e.id!, e]));
  const memoryOfState = stateMemoryLookup(opts.stateMemory);
  const memoryByArn = new Map<string, number>();
  let lastTaskEntered: string | undefined;
  for (const e of events) {
    if (e.type === 'TaskStateEntered') lastTaskEntered = e.stateEnteredEventDetails?.name;
    const arn = e.lambdaFunctionScheduledEventDetails?.resource;
    if (e.type !== 'LambdaFunctionScheduled' || !arn || memoryByArn.has(arn)) continue;
    const chained = stateOf(byId, e);
    const state = chained !== undefined && memoryOfState(chained) !== undefined ? chained : lastTaskEntered;
    const mb = memoryOfState(state);
    if (mb !== undefined) memoryByArn.set(arn, mb);
  }
  const unknownMemory = new Set<string>();
  const memoryOf = (arn: string) => {
    const mb = memoryByArn.get(arn);
    if (mb === undefined) unknownMemory.add(arn.split(':').pop() ?? arn);
    return mb;
  };
  const usage = usageFromHistory(events, memoryOf);
  // Notify's own invocation: scheduled and started, not ended yet (the last Lambda event is a Started).
  const lastLambda = [...events].reverse().find((e) => e.type?.startsWith('LambdaFunction'));
  const lambda = [...usage.lambda];
  if (lastLambda?.type === 'LambdaFunctionStarted') {
    const ms = (t: Date | number | undefined) => (t instanceof Date ? t.getTime() : (t ?? 0) * 1000);
    const scheduled = lastLambda.previousEventId !== undefined ? byId.get(lastLambda.previousEventId) : undefined;
    const d = scheduled?.lambdaFunctionScheduledEventDetails;
    const state = stateOf(byId, lastLambda) ?? lastTaskEntered;
    const memoryMb = d?.memoryMb ?? (d?.resource ? memoryByArn.get(d.resource) : undefined) ?? memoryOfState(state) ?? 128;
    lambda.push({ memoryMb, durationMs: Math.max(0, opts.now - ms(lastLambda.timestamp)) });
  }
  const cost = runCost({ stateTransitions: usage.stateTransitions + 1, lambda, ...(opts.training ? { training: opts.training } : {}) });
  const deployed = events.some((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'Deploy');
  const unpriced = [
    ...cost.unpriced,
    ...(opts.unpriced ?? []),
    ...(unknownMemory.size ? [`the memory of ${[...unknownMemory].sort().join(', ')} (counted as 128 MB)`] : []),
    ...(deployed ? ['the endpoint update (not measured yet)'] : []),
  ];
  return { ...cost, unpriced, covers: COVERS };
}

/** The message's line, in words. */
export function costLine(c: RunCostRecord): string {
  if ('unknown' in c) return `Cost: unknown (${c.unknown})`;
  const parts = [`${c.stateTransitions} state transitions`, `${c.lambdaGbSeconds.toFixed(1)} Lambda GB-s`];
  if (c.training && c.trainingUsd !== undefined) {
    parts.push(`training ${c.training.billableSeconds} s on ${c.training.instanceType}${c.training.instanceCount > 1 ? ` x${c.training.instanceCount}` : ''} (${usd(c.trainingUsd)}${c.spotSavingsUsd ? `, spot saved ${usd(c.spotSavingsUsd)}` : ''})`);
  }
  const missing = c.unpriced.length ? `; not counted: ${c.unpriced.join(', ')}` : '';
  return `Cost: ${usd(c.totalUsd)} at list prices (${c.region}, ${c.pricesAsOf}): ${parts.join(', ')}${missing} (up to Notify, Notify itself estimated)`;
}

/**
 * Reads the run's history (every page) and its training job, and prices them. Never throws: a history that cannot
 * be read gives `{ unknown: <why> }`, and the run goes on (a cost figure is not worth a failed notification).
 */
export async function runCostRecord(
  event: StageEvent,
  deps: { readonly sfn: SFNClient; readonly sagemaker: SageMakerClient; readonly env?: NodeJS.ProcessEnv; readonly now?: () => number },
): Promise<RunCostRecord> {
  if (!event.executionArn) return { unknown: 'Notify was not given its execution ARN' };
  let stateMemory: Record<string, number>;
  try {
    stateMemory = JSON.parse((deps.env ?? process.env)[STATE_MEMORY_ENV] ?? '{}') as Record<string, number>;
  } catch (err) {
    return { unknown: `${STATE_MEMORY_ENV} is not JSON (${(err as Error).message})` };
  }
  const events: HistoryEvent[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await deps.sfn.send(new GetExecutionHistoryCommand({ executionArn: event.executionArn, maxResults: 1000, nextToken }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (err) {
    return { unknown: `the execution history could not be read: ${(err as Error).name}: ${(err as Error).message}` };
  }
  const now = (deps.now ?? Date.now)();
  let training: RunUsage['training'];
  const unpriced: string[] = [];
  const jobName = event.state.training?.jobName;
  if (jobName && !event.state.rollback) {
    try {
      training = trainingUsage(await deps.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: jobName })));
      if (!training) unpriced.push(`training job ${jobName} (no billable time reported yet)`);
    } catch (err) {
      unpriced.push(`training job ${jobName} (${(err as Error).name}: ${(err as Error).message})`);
    }
  }
  return costAtNotify(events as Parameters<typeof costAtNotify>[0], { stateMemory, now, ...(training ? { training } : {}), unpriced });
}
