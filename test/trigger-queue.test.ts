import { requestStart } from '../local/start';
import { TriggerHarness, waitFor } from './helpers/trigger-harness';

/**
 * The trigger against the queue semantics it relies on, through the real bundled handler (issue 10): the synthesized
 * template's EventBridge rule, queue (redrive after 5 receives), event source mapping (batches of up to 100, two at
 * a time, partial batch responses) and trigger Lambda, on the local S3 (conditional writes), SQS (at-least-once,
 * unordered, visibility timeout, redelivery, dead-letter queue) and Step Functions (StartExecution's idempotency),
 * whose executions the test ends by hand. The visibility timeout is 10 s instead of the template's 360 s (and the
 * function's timeout 10 s instead of 60 s, as Lambda wants it no longer), so a redelivery takes seconds.
 */
const h = new TriggerHarness();
const QUIET = 2;
const VISIBILITY = 10;
const csv = (i: number) => `id,x,churned\n${i},${i * 2},${i % 2}\n`;

beforeAll(async () => {
  await h.start({ trigger: { quietPeriodSeconds: QUIET, maxWaitSeconds: 60 } }, { visibilityTimeoutSeconds: VISIBILITY, functionTimeoutSeconds: VISIBILITY });
}, 300_000);
afterAll(() => h.cleanup(), 60_000);
// A failed test leaves no run in flight for the next one (the burst's run is handed over to the next test on purpose).
let handOver = false;
afterEach(async () => {
  if (handOver) {
    handOver = false;
    return;
  }
  h.endAll();
  await waitFor('no run in flight', async () => (await h.state().catch(() => undefined))?.inFlight === undefined, 30_000).catch(() => undefined);
}, 60_000);

describe('quiet mode', () => {
  test('1,000 objects in a burst, every event delivered at least once (200 twice), give one execution whose manifest lists all 1,000 exactly once', async () => {
    // GIVEN a burst of 1,000 uploads, most of it queued while Lambda's pollers are not reading (a backlog: the
    // two pollers then take batches of 100 at the same time, so concurrent invocations race on the state)
    const keys = Array.from({ length: 1000 }, (_, i) => `incoming/burst/part-${String(i).padStart(4, '0')}.csv`);
    await h.pausePolling();
    for (let i = 0; i < 800; i += 50) await Promise.all(keys.slice(i, i + 50).map((k, j) => h.put(k, csv(i + j))));
    await waitFor('800 events queued', () => h.sqs.stats(h.trigger.queueName).visible >= 800);
    h.resumePolling();
    for (let i = 800; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k, j) => h.put(k, csv(i + j))));
    // AND S3 delivering 200 of the events a second time, late and in another order (at-least-once)
    const twice = keys.filter((_, i) => i % 5 === 0);
    // (the same S3 notifications again: the local bus turns them into the same EventBridge events)
    for (const key of twice.reverse()) h.trigger.bus.put(await eventFor(key));
    // WHEN arrivals go quiet
    await waitFor('a run started', () => h.runs.length >= 1, 120_000);
    await h.idle(QUIET * 1000 + 1000);
    // THEN exactly one execution, with every object exactly once
    expect(h.runs).toHaveLength(1);
    const manifest = h.runs[0].manifest!;
    expect(manifest.objects.map((o) => o.key)).toEqual(keys);
    expect(new Set(manifest.objects.map((o) => o.key)).size).toBe(1000);
    expect(manifest).toMatchObject({ reason: 'data', bucket: h.dataBucket, executionName: h.runs[0].name });
    for (const o of manifest.objects) expect(o.etag).toMatch(/^"[0-9a-f]{32}"$/);
    // The batches really were batches, and some ran at the same time: the conditional writes kept them apart. (On
    // a busy machine a batch may time out or lose too many write races; its messages come back, which is the
    // semantics under test, and the manifest above is still exact.)
    expect(h.batches.length).toBeLessThan(200);
    expect(Math.max(...h.batches.map((b) => b.records))).toBeGreaterThan(10);
    expect(h.overlappingBatches()).toBeGreaterThan(1);
    handOver = true;
  }, 300_000);

  test('an object that arrives during the run gives exactly one follow-up run that contains it, once the run ends', async () => {
    const first = h.runs[0].name;
    // GIVEN the burst's run is still running, WHEN two objects land (one twice)
    await h.put('incoming/late/a.csv', csv(1));
    await h.put('incoming/late/b.csv', csv(2));
    h.trigger.bus.put(await eventFor('incoming/late/a.csv'));
    // THEN nothing starts while it runs: they wait in the state
    await waitFor('both pending', async () => (await h.state()).pending.length === 2);
    await h.idle(QUIET * 1000 + 1000);
    expect(h.runs).toHaveLength(1);
    expect((await h.state()).pending.map((p) => p.key)).toEqual(['incoming/late/a.csv', 'incoming/late/b.csv']);
    // WHEN the run ends (its status change goes through the rule to the queue)
    h.end(first);
    await waitFor('the follow-up run', () => h.runs.length >= 2, 60_000);
    await h.idle(QUIET * 1000 + 1000);
    // THEN exactly one follow-up, with exactly those two objects
    expect(h.runs).toHaveLength(2);
    expect(h.runs[1].manifest!.objects.map((o) => o.key)).toEqual(['incoming/late/a.csv', 'incoming/late/b.csv']);
    expect((await h.state()).history[0]).toMatchObject({ executionName: first, status: 'SUCCEEDED' });
    // AND the end event delivered again, or the objects' events again, start nothing more
    h.trigger.bus.put(await eventFor('incoming/late/b.csv'));
    h.trigger.bus.put(endedEvent(first));
    await h.idle(QUIET * 1000 + 1000);
    expect(h.runs).toHaveLength(2);
    h.end(h.runs[1].name);
    await waitFor('the follow-up recorded as ended', async () => (await h.state()).inFlight === undefined);
  }, 180_000);

  test('reordered events: an older version delivered after a newer one is ignored; the newer one is taken', async () => {
    const before = h.runs.length;
    // GIVEN two versions of one key, the newer event delivered first
    h.trigger.bus.put(syntheticEvent('incoming/versions/v.csv', '"bbbb"', '0000000002'));
    h.trigger.bus.put(syntheticEvent('incoming/versions/v.csv', '"aaaa"', '0000000001'));
    await waitFor('a run started', () => h.runs.length > before, 60_000);
    await h.idle(QUIET * 1000 + 1000);
    expect(h.runs).toHaveLength(before + 1);
    expect(h.runs[before].manifest!.objects).toEqual([{ key: 'incoming/versions/v.csv', size: 10, etag: '"bbbb"' }]);
    h.end(h.runs[before].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
  }, 120_000);

  test('a failed start goes back to the queue and is retried until it happens, never dropped', async () => {
    const before = h.runs.length;
    const failedBatches = h.batches.filter((b) => b.failed > 0).length;
    // GIVEN Step Functions refusing the next 3 starts (the SDK does not retry ExecutionLimitExceeded itself)
    h.sfn.faults.startExecution = { error: 'ExecutionLimitExceeded', times: 3 };
    await h.put('incoming/retry/r.csv', csv(7));
    // THEN the batch fails, comes back after the visibility timeout, and the run starts on a later attempt
    await waitFor('the run started after the refusals', () => h.runs.length > before, 120_000);
    expect(h.sfn.faults.startExecution!.times).toBe(0);
    expect(h.batches.filter((b) => b.failed > 0).length).toBeGreaterThan(failedBatches);
    expect(h.runs[before].manifest!.objects.map((o) => o.key)).toEqual(['incoming/retry/r.csv']);
    await h.idle(QUIET * 1000 + 1000);
    expect(h.runs).toHaveLength(before + 1);
    expect(h.sqs.stats(h.trigger.deadLetterQueueName).visible).toBe(0);
    h.end(h.runs[before].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
  }, 180_000);

  test('a start that keeps failing: its messages land in the dead-letter queue after 5 receives, and the run still starts once Step Functions accepts it', async () => {
    const before = h.runs.length;
    h.sfn.faults.startExecution = { error: 'ExecutionLimitExceeded', times: 1000 };
    await h.put('incoming/stuck/s.csv', csv(8));
    await waitFor('the message in the dead-letter queue', () => h.sqs.stats(h.trigger.deadLetterQueueName).visible >= 1, 120_000);
    // The run is not lost: it is recorded, with its manifest, waiting to be started.
    const waiting = (await h.state()).inFlight!;
    expect(waiting).toMatchObject({ objects: 1 });
    expect(waiting.startedAt).toBeUndefined();
    // WHEN Step Functions accepts starts again and anything wakes the trigger (here: the DLQ message replayed)
    h.sfn.faults.startExecution = undefined;
    const [dead] = h.sqs.receive(h.trigger.deadLetterQueueName, 1);
    h.sqs.send(h.trigger.queueName, dead.body);
    h.sqs.delete(h.trigger.deadLetterQueueName, dead.receiptHandle);
    await waitFor('the run started', () => h.runs.length > before, 60_000);
    expect(h.runs[before].name).toBe(waiting.executionName);
    expect(h.runs[before].manifest!.objects.map((o) => o.key)).toEqual(['incoming/stuck/s.csv']);
    h.end(h.runs[before].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
    await h.idle(QUIET * 1000 + 1000);
    expect(h.runs).toHaveLength(before + 1);
  }, 180_000);

  test('a message the trigger cannot read fails alone (partial batch response) and ends in the dead-letter queue', async () => {
    const before = h.sqs.stats(h.trigger.deadLetterQueueName).visible;
    const runs = h.runs.length;
    h.sqs.send(h.trigger.queueName, '{"not":"a trigger message"}');
    await h.put('incoming/poison/ok.csv', csv(9));
    await waitFor('the good object started a run', () => h.runs.length > runs, 60_000);
    expect(h.runs[runs].manifest!.objects.map((o) => o.key)).toEqual(['incoming/poison/ok.csv']);
    await waitFor('the bad message in the dead-letter queue', () => h.sqs.stats(h.trigger.deadLetterQueueName).visible > before, 120_000);
    h.end(h.runs[runs].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
  }, 180_000);
});

describe('marker mode', () => {
  beforeAll(async () => {
    // The same bundle, with the configuration a redeploy in marker mode would give it.
    await h.stopTrigger();
    h.startTrigger(VISIBILITY, { trigger: { mode: 'marker' } });
  });

  test('objects alone start nothing; _SUCCESS starts a run of exactly its folder; manifest.json of exactly the files it lists', async () => {
    const started = h.runs.length;
    await h.put('incoming/m1/a.csv', csv(1));
    await h.put('incoming/m1/sub/b.csv', csv(2));
    await h.put('incoming/m2/other.csv', csv(3));
    await h.idle(1000);
    expect(h.runs).toHaveLength(started);
    // WHEN the producer writes the marker last
    await h.put('incoming/m1/_SUCCESS', '');
    await waitFor('the marker run', () => h.runs.length === started + 1, 60_000);
    expect(h.runs[started].manifest!).toMatchObject({ reason: 'marker' });
    expect(h.runs[started].manifest!.objects.map((o) => o.key)).toEqual(['incoming/m1/a.csv', 'incoming/m1/sub/b.csv']);
    // A manifest.json marker, written while that run is in flight: exactly the files it lists, in one follow-up run
    await h.put('incoming/m3/x.csv', csv(4));
    await h.put('incoming/m3/y.csv', csv(5));
    await h.put('incoming/m3/z.csv', csv(6));
    await h.put('incoming/m3/manifest.json', JSON.stringify({ files: ['x.csv', { path: 'z.csv' }] }));
    await h.idle(1000);
    expect(h.runs).toHaveLength(started + 1);
    h.end(h.runs[started].name);
    await waitFor('the follow-up run', () => h.runs.length === started + 2, 60_000);
    expect(h.runs[started + 1].manifest!.objects.map((o) => o.key)).toEqual(['incoming/m3/x.csv', 'incoming/m3/z.csv']);
    // the same marker again changes nothing
    h.trigger.bus.put(await eventFor('incoming/m1/_SUCCESS'));
    await h.idle(1000);
    h.end(h.runs[started + 1].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
    await h.idle(1000);
    expect(h.runs).toHaveLength(started + 2);
  }, 180_000);

  test('relearn start --data: a run of exactly what is under the prefix, through the queue; the same request again starts nothing more', async () => {
    const started = h.runs.length;
    // GIVEN objects under a prefix that no marker covers (in marker mode they start nothing on their own)
    await h.put('incoming/manual/a.csv', csv(1));
    await h.put('incoming/manual/b.csv', csv(2));
    await h.put('incoming/other/c.csv', csv(3));
    await h.idle(1000);
    expect(h.runs).toHaveLength(started);
    // WHEN relearn start asks for that prefix (the command's own code, against the harness's queue)
    const sent = await requestStart(h.target(), { data: `s3://${h.dataBucket}/incoming/manual/`, requestedBy: 'test' });
    await waitFor('the started run', () => h.runs.length === started + 1, 60_000);
    // THEN exactly those objects, with the reason "start"
    expect(h.runs[started].manifest).toMatchObject({ reason: 'start' });
    expect(h.runs[started].manifest!.objects.map((o) => o.key)).toEqual(['incoming/manual/a.csv', 'incoming/manual/b.csv']);
    // AND the same request delivered again queues nothing new
    h.sqs.send(h.trigger.queueName, JSON.stringify(sent.message));
    await h.idle(1000);
    h.end(h.runs[started].name);
    await waitFor('ended', async () => (await h.state()).inFlight === undefined);
    await h.idle(1000);
    expect(h.runs).toHaveLength(started + 1);
    // Bad --data is refused before anything is sent
    await expect(requestStart(h.target(), { data: 's3://another-bucket/x/' })).rejects.toThrow(`--data must be in the pipeline's data bucket (s3://${h.dataBucket}/...), but got s3://another-bucket/`);
    await expect(requestStart(h.target(), { data: `s3://${h.dataBucket}` })).rejects.toThrow(/must name a prefix/);
  }, 180_000);

  test('a manifest.json that names a missing file fails its message (retried, then dead-lettered) and starts nothing', async () => {
    const started = h.runs.length;
    const before = h.sqs.stats(h.trigger.deadLetterQueueName).visible;
    await h.put('incoming/m4/manifest.json', JSON.stringify({ files: ['missing.csv'] }));
    await waitFor('the marker message in the dead-letter queue', () => h.sqs.stats(h.trigger.deadLetterQueueName).visible > before, 120_000);
    expect(h.runs).toHaveLength(started);
  }, 180_000);
});

/** The EventBridge `Object Created` event S3 would send again for `key` (its current ETag and size). */
async function eventFor(key: string): Promise<Record<string, unknown>> {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const head = await h.s3.client.send(new HeadObjectCommand({ Bucket: h.dataBucket, Key: key }));
  return syntheticEvent(key, head.ETag!, undefined, head.ContentLength!);
}

function syntheticEvent(key: string, etag: string, sequencer?: string, size = 10): Record<string, unknown> {
  return {
    version: '0',
    id: `dup-${Math.random()}`,
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '000000000000',
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${h.dataBucket}`],
    detail: { version: '0', bucket: { name: h.dataBucket }, object: { key, size, etag: etag.replace(/"/g, ''), ...(sequencer ? { sequencer } : {}) }, reason: 'PutObject' },
  };
}

function endedEvent(name: string): Record<string, unknown> {
  const arn = `${h.resources.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  return {
    version: '0',
    id: `dup-${Math.random()}`,
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [arn],
    detail: { executionArn: arn, stateMachineArn: h.resources.stateMachineArn, name, status: 'SUCCEEDED' },
  };
}
