import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { parseS3Uri } from '../lambdas/shared/s3';
import type { PipelineTarget } from './target';

/**
 * `relearn start [--data s3://<data bucket>/<prefix>]`: a request on the trigger queue, so a start by hand goes
 * through the same single-flight path as data and schedules (lambdas/trigger/messages.ts, `{"relearn": "start"}`).
 * Without --data: start what is pending now, without waiting out the quiet period. With it: a run of exactly what is
 * under the prefix, queued behind the run in flight. The request's id and time name the run, so a redelivered
 * message queues the same run, not a second one.
 */

/** --data names something the trigger cannot start a run of. */
export class StartRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartRequestError';
  }
}

export async function requestStart(
  t: PipelineTarget,
  opts: { data?: string; requestedBy?: string; now?: Date } = {},
): Promise<{ requestId: string; messageId?: string; message: Record<string, string> }> {
  if (!t.triggerQueueUrl) throw new StartRequestError(`${t.name}: no trigger queue to send to (local runs start with relearn local run, or from files dropped where relearn local watch watches)`);
  let prefix: string | undefined;
  if (opts.data !== undefined) {
    let parsed: { bucket: string; key: string };
    try {
      parsed = parseS3Uri(opts.data);
    } catch {
      throw new StartRequestError(`--data must be s3://${t.dataBucket}/<prefix>, but got ${opts.data}`);
    }
    if (parsed.bucket !== t.dataBucket) throw new StartRequestError(`--data must be in the pipeline's data bucket (s3://${t.dataBucket}/...), but got s3://${parsed.bucket}/`);
    if (!parsed.key) throw new StartRequestError(`--data must name a prefix of s3://${t.dataBucket}/ (a run of the whole bucket is not what you want), but got ${opts.data}`);
    prefix = parsed.key;
  }
  const requestId = randomUUID();
  const message = {
    relearn: 'start',
    ...(prefix ? { prefix } : {}),
    requestId,
    requestedAt: (opts.now ?? new Date()).toISOString(),
    ...(opts.requestedBy ? { requestedBy: opts.requestedBy.slice(0, 200) } : {}),
  };
  const res = await t.sqs.send(new SendMessageCommand({ QueueUrl: t.triggerQueueUrl, MessageBody: JSON.stringify(message) }));
  return { requestId, ...(res.MessageId ? { messageId: res.MessageId } : {}), message };
}
