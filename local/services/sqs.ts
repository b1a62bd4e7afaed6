import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { startJsonApi } from './json-api';
import { ApiError } from './sagemaker/api-error';

/**
 * A local Amazon SQS (standard queues) with the semantics the trigger relies on, as SQS documents them:
 *
 * - at-least-once, unordered: ReceiveMessage hands out visible messages in no particular order (shuffled);
 * - visibility timeout: a received message is invisible until it is deleted or its timeout passes, then it is
 *   received again with a new receipt handle and a higher ApproximateReceiveCount; deleting with an older receipt
 *   handle "succeeds" but deletes nothing (SQS: "you must provide the most recently received receipt handle");
 * - DelaySeconds (0-900) per message or per queue;
 * - a redrive policy: a message received more than maxReceiveCount times moves to the dead-letter queue instead of
 *   being received again;
 * - retention: a message older than the retention period is gone.
 *
 * The HTTP server speaks SQS's AWS JSON 1.0 protocol (what @aws-sdk/client-sqs sends) for the operations relearn
 * uses; a QueueUrl names its queue by its last path segment, whatever the host (the template's URLs are AWS's).
 * The event source mapping (sqs-event-source.ts) uses the in-process API, as Lambda's pollers are part of AWS.
 */

export const SQS_LIMITS = {
  /** MaximumMessageSize's long-standing default. */
  maxBodyBytes: 262_144,
  maxDelaySeconds: 900,
  maxVisibilitySeconds: 43_200,
  maxReceive: 10,
} as const;

export interface QueueSpec {
  readonly name: string;
  /** @default 30 */
  readonly visibilityTimeoutSeconds?: number;
  /** @default 0 */
  readonly delaySeconds?: number;
  /** @default 4 days */
  readonly retentionSeconds?: number;
  readonly redrive?: { readonly deadLetterQueue: string; readonly maxReceiveCount: number };
}

export interface SqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  receiptHandle?: string;
}

export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly attributes: { ApproximateReceiveCount: string; SentTimestamp: string; ApproximateFirstReceiveTimestamp: string; SenderId: string };
}

/** An error SQS would answer: the SDK takes `__type`'s last part as the error name. */
export class SqsError extends ApiError {}

interface Queue {
  readonly spec: Required<Omit<QueueSpec, 'redrive'>> & Pick<QueueSpec, 'redrive'>;
  readonly messages: SqsMessage[];
}

export class LocalSqs {
  private readonly queues = new Map<string, Queue>();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly account = '000000000000',
    readonly region = 'us-east-1',
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  createQueue(spec: QueueSpec): string {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(spec.name)) throw new SqsError('InvalidParameterValue', `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length: ${spec.name}`);
    if (!this.queues.has(spec.name)) {
      this.queues.set(spec.name, {
        spec: { name: spec.name, visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds ?? 30, delaySeconds: spec.delaySeconds ?? 0, retentionSeconds: spec.retentionSeconds ?? 4 * 86400, redrive: spec.redrive },
        messages: [],
      });
    }
    return this.urlOf(spec.name);
  }

  urlOf(name: string, endpoint = `https://sqs.${this.region}.amazonaws.com`): string {
    return `${endpoint}/${this.account}/${name}`;
  }

  arnOf(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.account}:${name}`;
  }

  /** The queue a QueueUrl (any host) or a name refers to. */
  queue(urlOrName: string): Queue {
    const name = urlOrName.includes('/') ? urlOrName.replace(/\/+$/, '').split('/').pop()! : urlOrName;
    const q = this.queues.get(name);
    if (!q) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return q;
  }

  send(urlOrName: string, body: string, delaySeconds?: number): { messageId: string; md5OfBody: string } {
    const q = this.queue(urlOrName);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes < 1 || bytes > SQS_LIMITS.maxBodyBytes) throw new SqsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${SQS_LIMITS.maxBodyBytes} bytes and not empty.`);
    const delay = delaySeconds ?? q.spec.delaySeconds;
    if (!Number.isInteger(delay) || delay < 0 || delay > SQS_LIMITS.maxDelaySeconds) {
      throw new SqsError('InvalidParameterValue', `Value ${delay} for parameter DelaySeconds is invalid. Reason: must be between 0 and ${SQS_LIMITS.maxDelaySeconds}.`);
    }
    const t = this.now();
    const message: SqsMessage = { messageId: randomUUID(), body, md5OfBody: createHash('md5').update(body, 'utf8').digest('hex'), sentAt: t, visibleAt: t + delay * 1000, receiveCount: 0 };
    q.messages.push(message);
    this.notify();
    return { messageId: message.messageId, md5OfBody: message.md5OfBody };
  }

  /** Up to `max` visible messages, in no particular order; each becomes invisible for the visibility timeout. */
  receive(urlOrName: string, max = 1, visibilityTimeoutSeconds?: number): ReceivedMessage[] {
    const q = this.queue(urlOrName);
    if (!Number.isInteger(max) || max < 1 || max > SQS_LIMITS.maxReceive) {
      throw new SqsError('InvalidParameterValue', `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`);
    }
    const visibility = visibilityTimeoutSeconds ?? q.spec.visibilityTimeoutSeconds;
    const t = this.now();
    this.expire(q, t);
    const visible = q.messages.filter((m) => m.visibleAt <= t);
    for (let i = visible.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [visible[i], visible[j]] = [visible[j], visible[i]];
    }
    const out: ReceivedMessage[] = [];
    for (const m of visible) {
      if (out.length >= max) break;
      // The redrive policy: past maxReceiveCount receives, the message goes to the dead-letter queue.
      if (q.spec.redrive && m.receiveCount >= q.spec.redrive.maxReceiveCount) {
        q.messages.splice(q.messages.indexOf(m), 1);
        const dlq = this.queue(q.spec.redrive.deadLetterQueue);
        dlq.messages.push({ ...m, visibleAt: t, receiveCount: 0, firstReceivedAt: undefined, receiptHandle: undefined });
        this.notify();
        continue;
      }
      m.receiveCount++;
      m.firstReceivedAt ??= t;
      m.visibleAt = t + visibility * 1000;
      m.receiptHandle = randomBytes(24).toString('base64url');
      out.push({
        messageId: m.messageId,
        receiptHandle: m.receiptHandle,
        body: m.body,
        md5OfBody: m.md5OfBody,
        attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentAt),
          ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
          SenderId: 'AROALOCALRELEARN',
        },
      });
    }
    return out;
  }

  /** Deletes the message this receipt handle was last given for; an older handle deletes nothing (as SQS). */
  delete(urlOrName: string, receiptHandle: string): void {
    const q = this.queue(urlOrName);
    if (!receiptHandle) throw new SqsError('ReceiptHandleIsInvalid', 'The input receipt handle is invalid.');
    const i = q.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (i >= 0) q.messages.splice(i, 1);
    this.notify();
  }

  changeVisibility(urlOrName: string, receiptHandle: string, seconds: number): void {
    const q = this.queue(urlOrName);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > SQS_LIMITS.maxVisibilitySeconds) throw new SqsError('InvalidParameterValue', `Value ${seconds} for parameter VisibilityTimeout is invalid.`);
    const m = q.messages.find((x) => x.receiptHandle === receiptHandle);
    if (!m || m.visibleAt <= this.now()) throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.');
    m.visibleAt = this.now() + seconds * 1000;
    this.notify();
  }

  /** The queue's approximate counts (GetQueueAttributes) and its oldest message's age (CloudWatch's ApproximateAgeOfOldestMessage). */
  stats(urlOrName: string): { visible: number; inFlight: number; delayed: number; oldestAgeSeconds: number } {
    const q = this.queue(urlOrName);
    const t = this.now();
    this.expire(q, t);
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of q.messages) {
      if (m.visibleAt <= t) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    const oldest = q.messages.filter((m) => m.visibleAt <= t || m.receiveCount > 0).reduce((min, m) => Math.min(min, m.sentAt), t);
    return { visible, inFlight, delayed, oldestAgeSeconds: Math.floor((t - oldest) / 1000) };
  }

  /** Milliseconds until some message of the queue becomes visible (undefined when it holds none). */
  nextVisibleInMs(urlOrName: string): number | undefined {
    const q = this.queue(urlOrName);
    if (q.messages.length === 0) return undefined;
    return Math.max(0, Math.min(...q.messages.map((m) => m.visibleAt)) - this.now());
  }

  /** Called whenever a message is sent, deleted or moved (the event source mapping wakes up on it). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  private expire(q: Queue, t: number): void {
    for (let i = q.messages.length - 1; i >= 0; i--) if (t - q.messages[i].sentAt > q.spec.retentionSeconds * 1000) q.messages.splice(i, 1);
  }
}

export interface LocalSqsServer {
  /** http://127.0.0.1:<port>: the value for AWS_ENDPOINT_URL_SQS. */
  readonly endpoint: string;
  readonly sqs: LocalSqs;
  stop(): Promise<void>;
}

/** The SDK's standard endpoint variable pointing SQS clients here. */
export const localSqsEnv = (endpoint: string): Record<string, string> => ({ AWS_ENDPOINT_URL_SQS: endpoint });

/** Starts the JSON 1.0 front of `sqs` on a free 127.0.0.1 port. */
export async function startLocalSqs(sqs: LocalSqs = new LocalSqs()): Promise<LocalSqsServer> {
  const api = await startJsonApi({ targetPrefix: 'AmazonSQS', errorNamespace: 'com.amazonaws.sqs', internalError: 'InternalError', call: (op, input) => call(sqs, op, input) });
  return { endpoint: api.endpoint, sqs, stop: () => api.stop() };
}

function required(input: Record<string, unknown>, name: string): string {
  const v = input[name];
  if (typeof v !== 'string' || v === '') throw new SqsError('MissingParameter', `The request must contain the parameter ${name}.`);
  return v;
}

function call(sqs: LocalSqs, op: string, input: Record<string, unknown>): unknown {
  switch (op) {
    case 'SendMessage': {
      const delay = input.DelaySeconds === undefined ? undefined : Number(input.DelaySeconds);
      const r = sqs.send(required(input, 'QueueUrl'), required(input, 'MessageBody'), delay);
      return { MessageId: r.messageId, MD5OfMessageBody: r.md5OfBody };
    }
    case 'ReceiveMessage': {
      const max = input.MaxNumberOfMessages === undefined ? 1 : Number(input.MaxNumberOfMessages);
      const visibility = input.VisibilityTimeout === undefined ? undefined : Number(input.VisibilityTimeout);
      const messages = sqs.receive(required(input, 'QueueUrl'), max, visibility);
      return {
        Messages: messages.map((m) => ({ MessageId: m.messageId, ReceiptHandle: m.receiptHandle, MD5OfBody: m.md5OfBody, Body: m.body, Attributes: m.attributes })),
      };
    }
    case 'DeleteMessage':
      sqs.delete(required(input, 'QueueUrl'), required(input, 'ReceiptHandle'));
      return {};
    case 'ChangeMessageVisibility':
      sqs.changeVisibility(required(input, 'QueueUrl'), required(input, 'ReceiptHandle'), Number(input.VisibilityTimeout));
      return {};
    case 'GetQueueUrl': {
      const name = required(input, 'QueueName');
      sqs.queue(name);
      return { QueueUrl: sqs.urlOf(name) };
    }
    case 'GetQueueAttributes': {
      const s = sqs.stats(required(input, 'QueueUrl'));
      return {
        Attributes: {
          ApproximateNumberOfMessages: String(s.visible),
          ApproximateNumberOfMessagesNotVisible: String(s.inFlight),
          ApproximateNumberOfMessagesDelayed: String(s.delayed),
        },
      };
    }
    default:
      throw new SqsError('UnsupportedOperation', `The local SQS server does not implement ${op}`);
  }
}
