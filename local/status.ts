import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { DescribeTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, HistoryEvent, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { RunCost, runCost, trainingUsage, usageFromHistory, usd } from '../lambdas/shared/cost';
import { trainingJobName } from '../lambdas/shared/names';
import { ChampionRecord, Layout, RunManifest } from '../lambdas/shared/contracts';
import { getJsonIfExists, s3Uri } from '../lambdas/shared/s3';
import { TriggerState } from '../lambdas/trigger/state';
import type { PipelineTarget } from './target';

/**
 * `relearn status`: what a pipeline did and will do, read through the SDK from a deployed stack or a local project
 * (local/target.ts): the last executions with outcome, duration and why they ran; what the trigger holds for the
 * next run; the champion and its metric; the endpoint's state; links to the console and the reports.
 */

export interface ExecutionLine {
  readonly name: string;
  readonly status: string;
  readonly startedAt: string;
  readonly stoppedAt?: string;
  readonly durationSeconds?: number;
  /** Why it ran (the trigger's run record): data, marker, schedule, start, drift; absent when started by hand. */
  readonly reason?: string;
  readonly objects?: number;
  readonly consoleUrl?: string;
  readonly reportUri: string;
  /** What it cost at the pinned list prices (lambdas/shared/cost.ts): ended runs only. */
  readonly cost?: RunCost;
}

export interface StatusReport {
  readonly pipeline: string;
  readonly target: 'aws' | 'local';
  readonly region: string;
  readonly executions: readonly ExecutionLine[];
  readonly next: {
    /** A run the trigger started (or is starting) that has not ended. */
    readonly inFlight?: { readonly executionName: string; readonly objects: number; readonly started: boolean };
    /** Objects landed since the last run, waiting for the next. */
    readonly pending: { readonly objects: number; readonly bytes: number; readonly firstArrivalAt?: string; readonly lastArrivalAt?: string };
    /** Runs asked for with `relearn start --data`, in order. */
    readonly queued: readonly string[];
    /** An execution started by hand that the trigger waits for. */
    readonly blockedBy?: string;
  };
  readonly champion?: { readonly executionName: string; readonly promotedAt: string; readonly metric: { readonly name: string; readonly value: number | null }; readonly modelPackageArn: string };
  readonly endpoint: { readonly name: string; readonly status: string; readonly lastModified?: string };
  readonly links: { readonly stateMachine: string; readonly artifacts: string };
}

export async function collectStatus(t: PipelineTarget, opts: { limit?: number; now?: Date } = {}): Promise<StatusReport> {
  const limit = opts.limit ?? 10;
  const [list, trigger, champion, endpoint] = await Promise.all([
    t.sfn.send(new ListExecutionsCommand({ stateMachineArn: t.stateMachineArn, maxResults: limit })),
    getJsonIfExists<TriggerState>(t.s3, t.artifactsBucket, Layout.triggerState),
    getJsonIfExists<ChampionRecord>(t.s3, t.artifactsBucket, Layout.champion),
    t.sagemaker.send(new DescribeEndpointCommand({ EndpointName: t.endpointName })).catch((err: Error) => {
      if (err.name === 'ValidationException' || err.name === 'ResourceNotFound') return undefined;
      throw err;
    }),
  ]);
  // Why each ran: the trigger's records (history, in flight); a run started by hand has none.
  const records = new Map<string, { reason: string; objects: number }>();
  for (const r of [...(trigger?.history ?? []), ...(trigger?.inFlight ? [trigger.inFlight] : [])]) records.set(r.executionName, r);
  const executions: ExecutionLine[] = (list.executions ?? []).map((e) => {
    const started = e.startDate ?? new Date(0);
    const record = records.get(e.name!);
    return {
      name: e.name!,
      status: e.status ?? 'UNKNOWN',
      startedAt: started.toISOString(),
      ...(e.stopDate ? { stoppedAt: e.stopDate.toISOString(), durationSeconds: Math.round((e.stopDate.getTime() - started.getTime()) / 100) / 10 } : {}),
      ...(record ? { reason: record.reason, objects: record.objects } : {}),
      ...(t.consoleLink(e.executionArn!) ? { consoleUrl: t.consoleLink(e.executionArn!) } : {}),
      reportUri: s3Uri(t.artifactsBucket, `${Layout.evaluation(e.name!)}report.html`),
    };
  });
  await Promise.all(executions.map(async (e, i) => {
    if (!e.stoppedAt) return;
    const cost = await costOf(t, list.executions![i].executionArn!, e.name).catch(() => undefined);
    if (cost) (executions[i] as { cost?: RunCost }).cost = cost;
  }));
  const pending = trigger?.pending ?? [];
  return {
    pipeline: t.name,
    target: t.kind,
    region: t.region,
    executions,
    next: {
      ...(trigger?.inFlight ? { inFlight: { executionName: trigger.inFlight.executionName, objects: trigger.inFlight.objects, started: Boolean(trigger.inFlight.startedAt) } } : {}),
      pending: {
        objects: pending.length,
        bytes: pending.reduce((n, p) => n + p.size, 0),
        ...(trigger?.firstArrivalAt ? { firstArrivalAt: trigger.firstArrivalAt } : {}),
        ...(trigger?.lastArrivalAt ? { lastArrivalAt: trigger.lastArrivalAt } : {}),
      },
      queued: (trigger?.queued ?? []).map((q) => q.executionName),
      ...(trigger?.blockedBy ? { blockedBy: trigger.blockedBy } : {}),
    },
    ...(champion
      ? { champion: { executionName: champion.executionName, promotedAt: champion.promotedAt, metric: champion.primaryMetric, modelPackageArn: champion.modelPackageArn } }
      : {}),
    endpoint: {
      name: t.endpointName,
      status: endpoint?.EndpointStatus ?? 'absent',
      ...(endpoint?.LastModifiedTime ? { lastModified: endpoint.LastModifiedTime.toISOString() } : {}),
    },
    links: {
      stateMachine: t.kind === 'aws' ? `https://${t.region}.console.aws.amazon.com/states/home?region=${t.region}#/statemachines/view/${t.stateMachineArn}` : t.stateMachineArn,
      artifacts: s3Uri(t.artifactsBucket, 'runs/'),
    },
  };
}

/**
 * A run's cost: orchestration from its history; training from its job (billable seconds: spot bills fewer than it
 * trains). The endpoint update is not measured yet, so it is listed as unpriced when the run deployed.
 */
export async function costOf(t: PipelineTarget, executionArn: string, executionName: string): Promise<RunCost> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await t.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const memory = new Map<string, number | undefined>();
  for (const e of events) {
    const arn = e.lambdaFunctionScheduledEventDetails?.resource;
    if (arn && !memory.has(arn)) memory.set(arn, await t.memoryOf(arn));
  }
  const usage = usageFromHistory(events as Parameters<typeof usageFromHistory>[0], (arn) => memory.get(arn));
  let training: Parameters<typeof runCost>[0]['training'];
  if (events.some((e) => (e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'StartTraining'))) {
    const job = await t.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: trainingJobName(t.name, executionName) })).catch(() => undefined);
    if (job) training = trainingUsage(job);
  }
  const cost = runCost({ ...usage, ...(training ? { training } : {}) });
  const deployed = events.some((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'Deploy');
  return deployed ? { ...cost, unpriced: [...cost.unpriced, 'the endpoint update (not measured yet)'] } : cost;
}

/** The report in lines, for a terminal. */
export function formatStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push(`relearn status · pipeline ${r.pipeline} (${r.target === 'aws' ? `AWS ${r.region}` : 'local'})`);
  out.push('');
  out.push(r.executions.length ? 'Last executions (newest first):' : 'No executions yet.');
  for (const e of r.executions) {
    const took = e.durationSeconds !== undefined ? `${e.durationSeconds} s` : 'running';
    const why = e.reason ? `${e.reason}${e.objects !== undefined ? `, ${e.objects} object(s)` : ''}` : 'by hand';
    out.push(`  ${e.status.padEnd(9)} ${e.name}  ${e.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${took}  (${why})`);
    if (e.cost) {
      const parts = [`orchestration ${usd(e.cost.orchestrationUsd)} (${e.cost.stateTransitions} transitions, ${e.cost.lambdaGbSeconds.toFixed(1)} Lambda GB-s)`];
      if (e.cost.trainingUsd !== undefined) parts.push(`training ${usd(e.cost.trainingUsd)}${e.cost.spotSavingsUsd ? ` (spot saved ${usd(e.cost.spotSavingsUsd)})` : ''}`);
      out.push(`            cost ${usd(e.cost.totalUsd)}: ${parts.join(', ')}${e.cost.unpriced.length ? `; not counted: ${e.cost.unpriced.join(', ')}` : ''} (list prices ${e.cost.region}, ${e.cost.pricesAsOf})`);
    }
    out.push(`            report ${e.reportUri}${e.consoleUrl ? `\n            console ${e.consoleUrl}` : ''}`);
  }
  out.push('');
  const n = r.next;
  const parts: string[] = [];
  if (n.inFlight) parts.push(`${n.inFlight.executionName} ${n.inFlight.started ? 'in flight' : 'starting (its start is retried)'} with ${n.inFlight.objects} object(s)`);
  parts.push(n.pending.objects ? `${n.pending.objects} object(s) (${n.pending.bytes} bytes) pending for the next run, the last landed ${n.pending.lastArrivalAt}` : 'nothing pending');
  if (n.queued.length) parts.push(`${n.queued.length} run(s) queued by relearn start: ${n.queued.join(', ')}`);
  if (n.blockedBy) parts.push(`waiting for ${n.blockedBy} (started by hand) to end`);
  out.push(`Next run: ${parts.join('; ')}`);
  out.push(
    r.champion
      ? `Champion: ${r.champion.executionName} (promoted ${r.champion.promotedAt}), ${r.champion.metric.name} = ${r.champion.metric.value ?? 'n/a'}`
      : 'Champion: none yet',
  );
  out.push(`Endpoint: ${r.endpoint.name} ${r.endpoint.status}${r.endpoint.lastModified ? ` (since ${r.endpoint.lastModified})` : ''}`);
  out.push(`Links: ${r.links.stateMachine}\n       ${r.links.artifacts}`);
  return out.join('\n') + '\n';
}

/** A run's manifest (the objects it took), for `relearn status --json` consumers that want the keys. */
export async function manifestOf(t: PipelineTarget, executionName: string): Promise<RunManifest | undefined> {
  return getJsonIfExists<RunManifest>(t.s3, t.artifactsBucket, Layout.runManifest(executionName));
}
