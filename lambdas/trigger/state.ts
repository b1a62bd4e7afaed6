import { createHash } from 'node:crypto';
import * as z from 'zod';
import { Layout, ManifestObject, ManifestObjectSchema, RUN_BECAUSE_MAX, RUN_REASONS, RunManifest } from '../shared/contracts';

/**
 * The trigger's single-flight state: one JSON object in the artifacts bucket (`trigger/state.json`), replaced only
 * by conditional writes (If-Match on the ETag read, If-None-Match for the first), so concurrent invocations never
 * lose each other's updates. docs/architecture.md ("Trigger") explains each field.
 */

/** An object that arrived and waits for the next run. */
export const PendingObjectSchema = ManifestObjectSchema.extend({
  /** S3's per-key event order (hex; compared left-padded). Absent when the object came from a listing. */
  sequencer: z.string().optional(),
  /** When S3 says it was created (the event's time). */
  arrivedAt: z.string(),
});
export type PendingObject = z.infer<typeof PendingObjectSchema>;

/** What a run took of a key: a later event for the same version (a duplicate, or reordered) is ignored. */
export const ConsumedSchema = z.object({ sequencer: z.string().optional(), id: z.string(), at: z.string() }).strict();
export type Consumed = z.infer<typeof ConsumedSchema>;

export const RunRecordSchema = z
  .object({
    executionName: z.string(),
    manifestKey: z.string(),
    reason: z.enum(RUN_REASONS),
    /** The reason in words (a drift start's verdict): the execution input carries it as `trigger`. */
    because: z.string().max(RUN_BECAUSE_MAX).optional(),
    objects: z.number().int(),
    bytes: z.number().int(),
    createdAt: z.string(),
    /** Set once StartExecution succeeded (or the execution was seen running). */
    startedAt: z.string().optional(),
    executionArn: z.string().optional(),
    endedAt: z.string().optional(),
    /** The execution's final status (SUCCEEDED, FAILED, TIMED_OUT, ABORTED). */
    status: z.string().optional(),
  })
  .strict();
export type RunRecord = z.infer<typeof RunRecordSchema>;

export const TriggerStateSchema = z
  .object({
    version: z.literal(1),
    /** Arrived, not yet in a run: at most one entry per key (the newest version), sorted by key. */
    pending: z.array(PendingObjectSchema),
    firstArrivalAt: z.string().optional(),
    lastArrivalAt: z.string().optional(),
    /** A schedule tick, `relearn start` or a drift verdict: start what is pending now, without waiting out the quiet period. */
    flush: z.object({ at: z.string(), by: z.enum(['schedule', 'start', 'drift']), because: z.string().max(RUN_BECAUSE_MAX).optional() }).strict().optional(),
    /** Runs asked for by hand with their own manifest (`relearn start --data`), started in order. */
    queued: z.array(RunRecordSchema),
    /** The run started (or about to be): at most one. */
    inFlight: RunRecordSchema.optional(),
    /** A RUNNING execution relearn did not start (by hand), seen when it was about to start one: it waits for its end. */
    blockedBy: z.string().optional(),
    /** The delayed wake-up sent for the quiet period (SQS DelaySeconds). */
    tick: z.object({ dueAt: z.string() }).strict().optional(),
    /** Per key, what the latest run took; kept for CONSUMED_RETENTION_MS. */
    consumed: z.record(z.string(), ConsumedSchema),
    /** The last runs that ended, newest first. */
    history: z.array(RunRecordSchema),
    updatedAt: z.string(),
  })
  .strict();
export type TriggerState = z.infer<typeof TriggerStateSchema>;

export const emptyState = (now: Date): TriggerState => ({ version: 1, pending: [], queued: [], consumed: {}, history: [], updatedAt: now.toISOString() });

/**
 * How long a key's consumption is remembered: the trigger queue keeps a message 14 days and EventBridge retries a
 * delivery for 24 hours, so no duplicate of an event can arrive later than this.
 */
export const CONSUMED_RETENTION_MS = 15 * 24 * 3600 * 1000;
/** Ended runs kept in the state (what `relearn status` shows without asking Step Functions). */
export const HISTORY_LENGTH = 20;
/** Objects that mark a batch complete: never data (Ingest skips them too). */
export const MARKER_NAMES = ['_SUCCESS', 'manifest.json'] as const;

export const isMarkerKey = (key: string): boolean => (MARKER_NAMES as readonly string[]).includes(key.slice(key.lastIndexOf('/') + 1));

/** S3 sequencers are hex strings of varying length: left-pad the shorter with zeros, then compare (S3's own rule). */
export function compareSequencers(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  const pa = a.toUpperCase().padStart(n, '0');
  const pb = b.toUpperCase().padStart(n, '0');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** The identity of a version of an object: its version id when the bucket is versioned, else its ETag. */
export const versionIdentity = (o: { versionId?: string; etag: string }): string => o.versionId ?? o.etag;

/**
 * The execution name, derived from the manifest's content: `<reason>-<yyyymmddThhmmssZ>-<10 hex of sha256>`. The same
 * manifest always gives the same name, so a repeated StartExecution is idempotent; at most 80 characters.
 */
export function executionNameOf(m: Omit<RunManifest, 'executionName' | 'version'>): string {
  const stamp = m.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const digest = createHash('sha256')
    .update(JSON.stringify({ reason: m.reason, createdAt: m.createdAt, bucket: m.bucket, objects: m.objects.map((o) => [o.key, o.versionId ?? null, o.size, o.etag]) }))
    .digest('hex')
    .slice(0, 10);
  return `${m.reason}-${stamp}-${digest}`;
}

/** A run manifest for these objects (sorted by key), with its name and the record the state keeps of it. */
export function buildRun(objects: readonly ManifestObject[], reason: RunManifest['reason'], bucket: string, now: Date, because?: string): { manifest: RunManifest; record: RunRecord } {
  const sorted = [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((o) => ({
    key: o.key,
    ...(o.versionId ? { versionId: o.versionId } : {}),
    size: o.size,
    etag: o.etag,
  }));
  const createdAt = now.toISOString();
  const executionName = executionNameOf({ reason, createdAt, bucket, objects: sorted });
  const manifest: RunManifest = { version: 1, executionName, reason, ...(because ? { because } : {}), createdAt, bucket, objects: sorted };
  const record: RunRecord = {
    executionName,
    manifestKey: Layout.runManifest(executionName),
    reason,
    ...(because ? { because } : {}),
    objects: sorted.length,
    bytes: sorted.reduce((n, o) => n + o.size, 0),
    createdAt,
  };
  return { manifest, record };
}
