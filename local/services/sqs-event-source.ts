import { LocalSqs, ReceivedMessage } from './sqs';

/**
 * Lambda's SQS event source mapping, locally: pollers that receive batches from a queue and invoke the function with
 * them, as Lambda documents it:
 * - a batch is up to `batchSize` messages, gathered for at most `maximumBatchingWindowSeconds`;
 * - up to `concurrency` batches are in flight at once (Lambda scales pollers out; relearn's trigger must cope);
 * - with ReportBatchItemFailures, the messages the function names in `batchItemFailures` stay in the queue (they come
 *   back after their visibility timeout) and the others are deleted; a function error, or a response naming a
 *   message that was not in the batch, keeps the whole batch;
 * - a message keeps coming back until the queue's redrive policy moves it to the dead-letter queue.
 */

export interface SqsRecordEvent {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: ReceivedMessage['attributes'];
  readonly messageAttributes: Record<string, never>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

export interface EventSourceMappingOptions {
  readonly sqs: LocalSqs;
  readonly queue: string;
  /** @default 10 */
  readonly batchSize?: number;
  /** @default 0 */
  readonly maximumBatchingWindowSeconds?: number;
  /** @default 2 */
  readonly concurrency?: number;
  /** The function; its result's batchItemFailures (ReportBatchItemFailures) keep those messages. */
  readonly invoke: (event: { Records: SqsRecordEvent[] }) => Promise<unknown>;
  /** Every batch and what came of it. */
  readonly onBatch?: (b: { records: number; failed: number; ms: number; error?: string }) => void;
}

export class SqsEventSourceMapping {
  private running = false;
  private inFlight = 0;
  private wake?: () => void;
  private readonly loops: Promise<void>[] = [];
  private unsubscribe?: () => void;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: EventSourceMappingOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.opts.sqs.onChange(() => this.poke());
    for (let i = 0; i < (this.opts.concurrency ?? 2); i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.poke();
    await Promise.all(this.loops);
  }

  /** Resolves once the queue holds nothing visible or delayed for longer than `withinMs` and no batch is in flight. */
  async idle(withinMs = 0): Promise<void> {
    for (;;) {
      const next = this.opts.sqs.nextVisibleInMs(this.opts.queue);
      if (this.inFlight === 0 && (next === undefined || next > withinMs)) return;
      await new Promise<void>((r) => {
        this.idleWaiters.push(r);
        setTimeout(r, Math.max(10, Math.min(next ?? 50, 250))).unref();
      });
    }
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
    for (const r of this.idleWaiters.splice(0)) r();
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.wake === resolve) this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      const previous = this.wake;
      this.wake = () => {
        clearTimeout(timer);
        previous?.();
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    const { sqs, queue } = this.opts;
    const batchSize = this.opts.batchSize ?? 10;
    const windowMs = (this.opts.maximumBatchingWindowSeconds ?? 0) * 1000;
    while (this.running) {
      const batch: ReceivedMessage[] = [];
      const deadline = Date.now() + windowMs;
      for (;;) {
        batch.push(...sqs.receive(queue, Math.min(10, batchSize - batch.length)));
        if (batch.length >= batchSize || !this.running) break;
        const left = deadline - Date.now();
        if (batch.length > 0 && left <= 0) break;
        const next = sqs.nextVisibleInMs(queue);
        await this.sleep(Math.max(5, Math.min(batch.length > 0 ? left : 1000, next ?? 1000)));
      }
      if (batch.length === 0) continue;
      this.inFlight++;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight--;
        this.poke();
      }
    }
  }

  private async deliver(batch: ReceivedMessage[]): Promise<void> {
    const { sqs, queue } = this.opts;
    const records: SqsRecordEvent[] = batch.map((m) => ({
      messageId: m.messageId,
      receiptHandle: m.receiptHandle,
      body: m.body,
      attributes: m.attributes,
      messageAttributes: {},
      md5OfBody: m.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: sqs.arnOf(sqs.queue(queue).spec.name),
      awsRegion: sqs.region,
    }));
    let keep: Set<string>;
    let error: string | undefined;
    const started = Date.now();
    try {
      const result = (await this.opts.invoke({ Records: records })) as { batchItemFailures?: { itemIdentifier?: string }[] } | null;
      const ids = (result?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
      const known = new Set(batch.map((m) => m.messageId));
      // Lambda: an unknown or empty identifier fails the whole batch.
      keep = ids.every((id) => id && known.has(id)) ? new Set(ids as string[]) : known;
    } catch (err) {
      error = `${(err as Error).name}: ${(err as Error).message}`;
      keep = new Set(batch.map((m) => m.messageId));
    }
    for (const m of batch) if (!keep.has(m.messageId)) sqs.delete(queue, m.receiptHandle);
    this.opts.onBatch?.({ records: batch.length, failed: keep.size, ms: Date.now() - started, ...(error ? { error } : {}) });
  }
}
