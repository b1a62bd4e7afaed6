import * as z from 'zod';
import { RUN_BECAUSE_MAX } from '../shared/contracts';
import { RelearnError } from '../shared/errors';

/**
 * What arrives on the trigger queue (each SQS message body is one of these):
 * - S3's `Object Created` events for the data bucket, through the EventBridge rule;
 * - Step Functions' `Execution Status Change` events of the pipeline's state machine (a run ended), same way;
 * - `{"relearn": "tick"}`: the trigger's own delayed wake-up (quiet period);
 * - `{"relearn": "schedule"}`: the EventBridge Scheduler schedule;
 * - `{"relearn": "start", "prefix"?, "requestId", "requestedAt"}`: `relearn start [--data s3://...]`;
 * - `{"relearn": "drift", "because"}`: the production monitor found drift (monitoring.retrainOnDrift): start what
 *   has landed now, like a schedule tick, with the monitor's words as the run's reason (lambdas/monitor/retrain.ts).
 */

/** A message the trigger cannot read: it fails, is retried and ends in the dead-letter queue (with an alarm). */
export class InvalidTriggerMessage extends RelearnError {
  override readonly name = 'InvalidTriggerMessage';
}

const S3ObjectCreatedSchema = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  time: z.string(),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().min(0).optional(),
      etag: z.string().optional(),
      'version-id': z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

const ExecutionStatusSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({ executionArn: z.string(), stateMachineArn: z.string(), name: z.string(), status: z.string() }),
});

const OwnMessageSchema = z.discriminatedUnion('relearn', [
  z.object({ relearn: z.literal('tick') }),
  z.object({ relearn: z.literal('schedule') }),
  z.object({ relearn: z.literal('drift'), because: z.string().min(1).max(RUN_BECAUSE_MAX) }),
  z.object({
    relearn: z.literal('start'),
    /** A prefix of the data bucket: a run of exactly what is under it. Without one: start what is pending now. */
    prefix: z.string().min(1).optional(),
    requestId: z.string().min(1).max(100).optional(),
    requestedAt: z.iso.datetime().optional(),
    requestedBy: z.string().max(200).optional(),
  }),
]);

export type TriggerMessage =
  | {
      readonly kind: 'object-created';
      readonly bucket: string;
      readonly key: string;
      readonly size: number;
      readonly etag: string;
      readonly versionId?: string;
      readonly sequencer?: string;
      readonly time: string;
    }
  | { readonly kind: 'execution-status'; readonly executionArn: string; readonly stateMachineArn: string; readonly name: string; readonly status: string }
  | { readonly kind: 'tick' }
  | { readonly kind: 'schedule' }
  | { readonly kind: 'drift'; readonly because: string }
  | { readonly kind: 'start'; readonly prefix?: string; readonly requestId?: string; readonly requestedAt?: string; readonly requestedBy?: string };

/** S3 and the SDK write ETags in quotes, S3's events without: one form everywhere (quoted, as GetObject returns it). */
export const quoteEtag = (etag: string): string => (etag.startsWith('"') ? etag : `"${etag}"`);

export function parseMessage(body: string): TriggerMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidTriggerMessage(`the message body is not JSON: ${body.slice(0, 200)}`);
  }
  const own = OwnMessageSchema.safeParse(raw);
  if (own.success) {
    const m = own.data;
    if (m.relearn === 'drift') return { kind: 'drift', because: m.because };
    return m.relearn === 'start' ? { kind: 'start', ...withoutRelearn(m) } : { kind: m.relearn };
  }
  const s3 = S3ObjectCreatedSchema.safeParse(raw);
  if (s3.success) {
    const o = s3.data.detail.object;
    return {
      kind: 'object-created',
      bucket: s3.data.detail.bucket.name,
      key: o.key,
      size: o.size ?? 0,
      etag: quoteEtag(o.etag ?? ''),
      ...(o['version-id'] ? { versionId: o['version-id'] } : {}),
      ...(o.sequencer ? { sequencer: o.sequencer } : {}),
      time: s3.data.time,
    };
  }
  const sfn = ExecutionStatusSchema.safeParse(raw);
  if (sfn.success) return { kind: 'execution-status', ...sfn.data.detail };
  const what = raw && typeof raw === 'object' ? JSON.stringify({ source: (raw as Record<string, unknown>).source, 'detail-type': (raw as Record<string, unknown>)['detail-type'], relearn: (raw as Record<string, unknown>).relearn }) : typeof raw;
  throw new InvalidTriggerMessage(`not a message the trigger knows (${what}): expected an S3 Object Created event, a Step Functions execution status change, or {"relearn": "tick" | "schedule" | "start" | "drift"}`);
}

function withoutRelearn<T extends { relearn: string }>(m: T): Omit<T, 'relearn'> {
  const { relearn: _relearn, ...rest } = m;
  return rest;
}
