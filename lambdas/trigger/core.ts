import { RunManifest } from '../shared/contracts';
import {
  buildRun,
  compareSequencers,
  Consumed,
  CONSUMED_RETENTION_MS,
  HISTORY_LENGTH,
  isMarkerKey,
  PendingObject,
  RunRecord,
  TriggerState,
  versionIdentity,
} from './state';

/**
 * The trigger's decisions, pure: given the state read from S3, a batch of inputs (what the queue delivered, already
 * parsed and expanded) and what Step Functions says about the run in flight, the next state and what to do.
 * The handler (handler.ts) does the I/O around it: read state, observe, decide, write the manifest and the wake-up,
 * write the state conditionally, then start the run. Every rule below is idempotent, so S3's at-least-once,
 * out-of-order events and SQS's redeliveries change nothing the second time.
 */

export interface TriggerSettings {
  readonly enabled: boolean;
  readonly mode: 'quiet' | 'marker';
  readonly quietPeriodSeconds: number;
  readonly maxWaitSeconds: number;
  /** The bucket whose objects runs take (DATA_BUCKET). */
  readonly dataBucket: string;
}

export type TriggerInput =
  /** Quiet mode: an object landed (an S3 Object Created event). */
  | { readonly kind: 'object'; readonly object: PendingObject }
  /** Marker mode: the objects a marker covers (expanded by the handler). */
  | { readonly kind: 'batch'; readonly marker: string; readonly objects: readonly PendingObject[] }
  /** `relearn start --data`: a run with its own manifest, already written. */
  | { readonly kind: 'queue-run'; readonly record: RunRecord }
  /** A schedule tick, `relearn start`, or the monitor's drift verdict (with its words): start what is pending now. */
  | { readonly kind: 'flush'; readonly by: 'schedule' | 'start' | 'drift'; readonly because?: string }
  /** A delayed wake-up or an execution's status change: look again. */
  | { readonly kind: 'wake'; readonly why: string };

/** Step Functions' view, read by the handler before deciding. */
export interface Observed {
  /** DescribeExecution of `state.inFlight`: its status, or MISSING when it has not been started (yet). */
  readonly inFlight?: { readonly status: string; readonly stopDate?: string; readonly executionArn?: string };
  /** RUNNING executions of the state machine other than the one in flight (started by hand). */
  readonly othersRunning: readonly string[];
}

export interface Decision {
  readonly state: TriggerState;
  /** Write this manifest before the state (a new run from the pending objects). */
  readonly manifest?: RunManifest;
  /** Send a delayed wake-up in this many seconds (SQS DelaySeconds, 1-900), before the state is written. */
  readonly tickInSeconds?: number;
  /** What happened, for the log. */
  readonly notes: readonly string[];
}

export const TERMINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
/** SQS's longest DelaySeconds: a longer quiet period is waited out in several wake-ups. */
export const MAX_TICK_SECONDS = 900;

export function decide(previous: TriggerState, inputs: readonly TriggerInput[], settings: TriggerSettings, observed: Observed, now: Date): Decision {
  const s: TriggerState = structuredClone(previous);
  const notes: string[] = [];
  const t = now.getTime();

  // 1. What arrived.
  const pending = new Map(s.pending.map((p) => [p.key, p]));
  let added = 0;
  let duplicates = 0;
  const accept = (o: PendingObject) => {
    const r = acceptObject(s, pending, o);
    if (r === 'added') added++;
    else if (r === 'duplicate') duplicates++;
  };
  for (const input of inputs) {
    switch (input.kind) {
      case 'object':
        if (!settings.enabled) notes.push(`trigger disabled: ${input.object.key} starts nothing`);
        else if (settings.mode === 'marker') notes.push(`marker mode: ${input.object.key} waits for its marker`);
        else accept(input.object);
        break;
      case 'batch':
        if (!settings.enabled) notes.push(`trigger disabled: marker ${input.marker} starts nothing`);
        else {
          input.objects.forEach(accept);
          notes.push(`marker ${input.marker} covers ${input.objects.length} object(s)`);
        }
        break;
      case 'queue-run': {
        const name = input.record.executionName;
        const known = s.inFlight?.executionName === name || s.queued.some((r) => r.executionName === name) || s.history.some((r) => r.executionName === name);
        if (known) notes.push(`run ${name} is already queued or started`);
        else {
          s.queued.push(input.record);
          notes.push(`queued run ${name} (${input.record.objects} object(s))`);
        }
        break;
      }
      case 'flush': {
        // A drift flush keeps its words until a run takes them: a schedule tick meanwhile does not erase them.
        const keep = input.by !== 'drift' && s.flush?.by === 'drift' ? s.flush : undefined;
        s.flush = keep ? { ...keep, at: now.toISOString() } : { at: now.toISOString(), by: input.by, ...(input.because ? { because: input.because } : {}) };
        break;
      }
      case 'wake':
        break;
    }
  }
  s.pending = [...pending.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (added || duplicates) notes.push(`${added} new object(s), ${duplicates} duplicate or stale event(s) ignored; ${s.pending.length} pending`);

  // 2. The run in flight: Step Functions' own status is the truth (an event may be late, duplicated or reordered).
  if (s.inFlight && observed.inFlight) {
    const status = observed.inFlight.status;
    if (TERMINAL_STATUSES.has(status)) {
      notes.push(`run ${s.inFlight.executionName} ended ${status}`);
      s.history.unshift({ ...s.inFlight, status, endedAt: observed.inFlight.stopDate ?? now.toISOString() });
      s.inFlight = undefined;
    } else if (status !== 'MISSING' && !s.inFlight.startedAt) {
      s.inFlight = { ...s.inFlight, startedAt: now.toISOString(), ...(observed.inFlight.executionArn ? { executionArn: observed.inFlight.executionArn } : {}) };
    }
  }

  // 3. At most one run: start the next one only when nothing runs.
  let manifest: RunManifest | undefined;
  s.blockedBy = undefined;
  if (!s.inFlight) {
    if (observed.othersRunning.length > 0) {
      s.blockedBy = observed.othersRunning[0];
      notes.push(`waiting: ${observed.othersRunning[0]} is running (started by hand)`);
    } else if (s.queued.length > 0) {
      s.inFlight = s.queued.shift();
      notes.push(`starting queued run ${s.inFlight!.executionName}`);
    } else if (isDue(s, settings, t)) {
      const reason = s.flush?.by ?? (settings.mode === 'marker' ? 'marker' : 'data');
      const run = buildRun(s.pending, reason, settings.dataBucket, now, s.flush?.because);
      for (const o of s.pending) s.consumed[o.key] = { ...(o.sequencer ? { sequencer: o.sequencer } : {}), id: versionIdentity(o), at: now.toISOString() };
      s.pending = [];
      s.firstArrivalAt = undefined;
      s.lastArrivalAt = undefined;
      s.flush = undefined;
      s.inFlight = run.record;
      manifest = run.manifest;
      notes.push(`starting run ${run.record.executionName} (${reason}, ${run.record.objects} object(s))`);
    }
    if (s.flush && s.pending.length === 0) {
      notes.push(`${s.flush.by}: nothing new to train on${s.flush.by === 'drift' ? ' (drift retrains on data that landed since the last run)' : ''}`);
      s.flush = undefined;
    }
  }

  // 4. The quiet period: a delayed wake-up at the time the pending objects become due (chained past 15 minutes).
  let tickInSeconds: number | undefined;
  if (s.tick && Date.parse(s.tick.dueAt) <= t) s.tick = undefined;
  if (!s.inFlight && !s.blockedBy && s.pending.length > 0 && !isDue(s, settings, t)) {
    const wakeAt = dueAt(s, settings);
    if (!s.tick || Date.parse(s.tick.dueAt) > wakeAt) {
      tickInSeconds = Math.min(MAX_TICK_SECONDS, Math.max(1, Math.ceil((wakeAt - t) / 1000)));
      s.tick = { dueAt: new Date(t + tickInSeconds * 1000).toISOString() };
    }
  }

  // 5. Housekeeping.
  for (const [key, c] of Object.entries(s.consumed)) if (t - Date.parse(c.at) > CONSUMED_RETENTION_MS) delete s.consumed[key];
  s.history = s.history.slice(0, HISTORY_LENGTH);
  s.updatedAt = now.toISOString();
  for (const k of ['inFlight', 'blockedBy', 'tick', 'flush', 'firstArrivalAt', 'lastArrivalAt'] as const) if (s[k] === undefined) delete s[k];
  return { state: s, ...(manifest ? { manifest } : {}), ...(tickInSeconds !== undefined ? { tickInSeconds } : {}), notes };
}

/** Adds an arrival to the pending set unless it is a marker, empty, already taken or older than what is pending. */
function acceptObject(s: TriggerState, pending: Map<string, PendingObject>, o: PendingObject): 'added' | 'duplicate' | 'skipped' {
  if (isMarkerKey(o.key) || o.key.endsWith('/') || o.size === 0) return 'skipped';
  const consumed = s.consumed[o.key];
  if (consumed && !isNewer(o, consumed.sequencer, consumed.id)) return 'duplicate';
  const known = pending.get(o.key);
  if (known && !isNewer(o, known.sequencer, versionIdentity(known))) return 'duplicate';
  pending.set(o.key, o);
  if (!s.firstArrivalAt || o.arrivedAt < s.firstArrivalAt) s.firstArrivalAt = o.arrivedAt;
  if (!s.lastArrivalAt || o.arrivedAt > s.lastArrivalAt) s.lastArrivalAt = o.arrivedAt;
  return 'added';
}

/** A later version than the one known: by S3's sequencer when both have one, else any other version. */
function isNewer(o: PendingObject, knownSequencer: string | undefined, knownId: string): boolean {
  if (o.sequencer && knownSequencer) return compareSequencers(o.sequencer, knownSequencer) > 0;
  return versionIdentity(o) !== knownId;
}

/** When the pending objects become due (quiet mode): the quiet period after the last arrival, or the max wait after the first. */
export function dueAt(s: Pick<TriggerState, 'firstArrivalAt' | 'lastArrivalAt' | 'updatedAt'>, settings: TriggerSettings): number {
  const last = Date.parse(s.lastArrivalAt ?? s.updatedAt);
  const first = Date.parse(s.firstArrivalAt ?? s.updatedAt);
  return Math.min(last + settings.quietPeriodSeconds * 1000, first + settings.maxWaitSeconds * 1000);
}

export function isDue(s: TriggerState, settings: TriggerSettings, nowMs: number): boolean {
  if (s.pending.length === 0) return false;
  if (settings.mode === 'marker' || s.flush) return true;
  return nowMs >= dueAt(s, settings);
}

export type { Consumed };
