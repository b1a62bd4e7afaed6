/**
 * How long the state machine waits between two polls of a training job (CheckTraining) or an endpoint update
 * (CheckEndpoint), and how many polls the longest legal run can take.
 *
 * Every poll costs three state transitions (Wait, Check, Choice: what Step Functions bills) and nine history
 * events (Step Functions ends an execution that reaches 25,000). A fixed interval makes both grow with the job:
 * a 4-hour job polled every minute is 240 polls and 720 transitions, and a 1-second poll of a 28-day job would
 * pass the history limit thousands of times over. So the wait grows with the time already spent: the first
 * interval, then 10% of the elapsed time, up to a cap. A job is then noticed at most 10% (and at most the cap)
 * after it ends, and the number of polls grows with the logarithm of the duration until the cap is reached.
 *
 * Shared by CheckTraining/CheckEndpoint (the next wait), the config validation (the poll budget) and the
 * state machine's execution timeout.
 */

/** The next wait is this share of the time elapsed since the job started (before the floor and the cap). */
export const POLL_BACKOFF = 0.1;
/** Step Functions' limit on the events in one execution's history (Standard workflows). */
export const HISTORY_EVENT_LIMIT = 25_000;
/** History events of one poll round: Wait (entered, exited), Lambda task (entered, scheduled, started, succeeded, exited), Choice (entered, exited). */
export const EVENTS_PER_POLL = 9;
/** State transitions of one poll round (what Step Functions bills): the Wait, the Lambda task and the Choice. */
export const TRANSITIONS_PER_POLL = 3;
/**
 * Events the two polling loops of the longest legal run may use together: 60% of the limit, so that the rest
 * (every other state, Map iterations of the statistics shards, retries) has 10,000 events of room.
 */
export const POLLING_EVENT_BUDGET = 15_000;

/** Provisioning, image and data download, model upload: time a job takes besides its own runtime limit. */
export const TRAINING_OVERHEAD_SECONDS = 30 * 60;
/** How long creating or updating an endpoint may take when `blueGreen.maximumExecutionTimeoutSeconds` does not bound it. */
export const ENDPOINT_UPDATE_SECONDS = 60 * 60;

export interface PollSchedule {
  /** The first wait, and the shortest. */
  readonly firstSeconds: number;
  /** The longest wait. */
  readonly maxSeconds: number;
}

/** The polling-related fields of the configuration (a structural subset of RelearnConfig). */
export interface PollingConfig {
  readonly training: {
    readonly pollIntervalSeconds: number;
    readonly maxPollIntervalSeconds: number;
    readonly maxRuntimeSeconds: number;
    readonly spot: { readonly enabled: boolean; readonly maxWaitSeconds?: number };
  };
  readonly deployment: {
    readonly pollIntervalSeconds: number;
    readonly maxPollIntervalSeconds: number;
    readonly blueGreen: { readonly waitIntervalSeconds: number; readonly terminationWaitSeconds: number; readonly maximumExecutionTimeoutSeconds?: number };
  };
}

/** The wait before the next poll: max(first, ceil(10% of elapsed)), at most the cap. Whole seconds (a Wait's SecondsPath). */
export function nextPollWaitSeconds(elapsedSeconds: number, schedule: PollSchedule): number {
  const grown = Math.ceil(Math.max(0, elapsedSeconds) * POLL_BACKOFF);
  return Math.min(schedule.maxSeconds, Math.max(schedule.firstSeconds, grown));
}

/** Seconds since `since` (0 when there is no time to go by). */
export function ageSeconds(since: Date | string | undefined, now: Date): number {
  if (since === undefined) return 0;
  const t = since instanceof Date ? since.getTime() : Date.parse(since);
  return Number.isFinite(t) ? Math.max(0, (now.getTime() - t) / 1000) : 0;
}

/** How many polls it takes to notice a job that runs `durationSeconds`: the first poll at or after its end included. */
export function pollsFor(durationSeconds: number, schedule: PollSchedule): number {
  let t = 0;
  let polls = 0;
  while (t < durationSeconds) {
    t += polls === 0 ? schedule.firstSeconds : nextPollWaitSeconds(t, schedule);
    polls++;
  }
  return Math.max(1, polls);
}

export const trainingPollSchedule = (c: PollingConfig): PollSchedule => ({
  firstSeconds: c.training.pollIntervalSeconds,
  maxSeconds: c.training.maxPollIntervalSeconds,
});

export const endpointPollSchedule = (c: PollingConfig): PollSchedule => ({
  firstSeconds: c.deployment.pollIntervalSeconds,
  maxSeconds: c.deployment.maxPollIntervalSeconds,
});

/** The longest a training job can last: SageMaker stops it at MaxRuntime (spot: MaxWaitTime), plus provisioning and upload. */
export function longestTrainingSeconds(c: PollingConfig): number {
  const t = c.training;
  const limit = t.spot.enabled ? (t.spot.maxWaitSeconds ?? 2 * t.maxRuntimeSeconds) : t.maxRuntimeSeconds;
  return limit + TRAINING_OVERHEAD_SECONDS;
}

/** The longest an endpoint create/update can last: SageMaker's own bound when configured, else an hour plus the blue/green waits. */
export function longestEndpointUpdateSeconds(c: PollingConfig): number {
  const b = c.deployment.blueGreen;
  return b.maximumExecutionTimeoutSeconds ?? ENDPOINT_UPDATE_SECONDS + b.waitIntervalSeconds + b.terminationWaitSeconds;
}

export interface PollingBudget {
  readonly training: { readonly longestSeconds: number; readonly polls: number };
  readonly endpoint: { readonly longestSeconds: number; readonly polls: number };
  /** History events of both polling loops in the longest legal run. */
  readonly events: number;
  readonly budget: number;
}

/** The polls and history events of the longest legal run under this configuration. */
export function pollingBudget(c: PollingConfig): PollingBudget {
  const trainingSeconds = longestTrainingSeconds(c);
  const endpointSeconds = longestEndpointUpdateSeconds(c);
  const training = { longestSeconds: trainingSeconds, polls: pollsFor(trainingSeconds, trainingPollSchedule(c)) };
  const endpoint = { longestSeconds: endpointSeconds, polls: pollsFor(endpointSeconds, endpointPollSchedule(c)) };
  return { training, endpoint, events: (training.polls + endpoint.polls) * EVENTS_PER_POLL, budget: POLLING_EVENT_BUDGET };
}

/** The smallest cap that keeps `polls(duration)` within `maxPolls` (binary search; the poll count falls as the cap grows). */
export function smallestCapFor(durationSeconds: number, firstSeconds: number, maxPolls: number): number {
  let lo = Math.max(1, firstSeconds);
  let hi = Math.max(lo, Math.ceil(durationSeconds));
  if (pollsFor(durationSeconds, { firstSeconds, maxSeconds: hi }) > maxPolls) return hi;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (pollsFor(durationSeconds, { firstSeconds, maxSeconds: mid }) <= maxPolls) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Config validation: the polling of the longest legal run must stay well inside the history limit. Returns one
 * problem per polling loop that would have to change, each naming the field and the value that would fit, or [].
 */
export function pollingProblems(c: PollingConfig): { path: string[]; message: string }[] {
  const b = pollingBudget(c);
  if (b.events <= b.budget) return [];
  const fmt = (n: number) => n.toLocaleString('en-US');
  const hours = (s: number) => (s >= 86400 ? `${(s / 86400).toFixed(1)} days` : `${(s / 3600).toFixed(1)} h`);
  // Each loop may use what the other leaves, or half the budget when both are over half.
  const budgetPolls = Math.floor(b.budget / EVENTS_PER_POLL);
  const half = Math.floor(budgetPolls / 2);
  const allowTraining = b.endpoint.polls <= half ? budgetPolls - b.endpoint.polls : half;
  const allowEndpoint = b.training.polls <= half ? budgetPolls - b.training.polls : half;
  const problems: { path: string[]; message: string }[] = [];
  const head =
    `the longest legal run polls the training job ${fmt(b.training.polls)} times (${hours(b.training.longestSeconds)}) and the endpoint ` +
    `${fmt(b.endpoint.polls)} times (${hours(b.endpoint.longestSeconds)}): about ${fmt(b.events)} history events, more than the ${fmt(b.budget)} ` +
    `relearn allows its polling of Step Functions' ${fmt(HISTORY_EVENT_LIMIT)}-event limit`;
  if (b.training.polls > allowTraining) {
    const cap = smallestCapFor(b.training.longestSeconds, c.training.pollIntervalSeconds, allowTraining);
    problems.push({ path: ['training', 'maxPollIntervalSeconds'], message: `${head}; set training.maxPollIntervalSeconds to at least ${cap} (it is ${c.training.maxPollIntervalSeconds})` });
  }
  if (b.endpoint.polls > allowEndpoint) {
    const cap = smallestCapFor(b.endpoint.longestSeconds, c.deployment.pollIntervalSeconds, allowEndpoint);
    problems.push({ path: ['deployment', 'maxPollIntervalSeconds'], message: `${head}; set deployment.maxPollIntervalSeconds to at least ${cap} (it is ${c.deployment.maxPollIntervalSeconds})` });
  }
  return problems;
}

/**
 * A stage result that a Wait with `SecondsPath: $.<key>.nextWaitSeconds` follows (StartTraining, Deploy): the first
 * wait, unless the stage already set one.
 */
export function withFirstWait<T extends { nextWaitSeconds?: number }>(ref: T, schedule: PollSchedule): T {
  return ref.nextWaitSeconds === undefined ? { ...ref, nextWaitSeconds: schedule.firstSeconds } : ref;
}
