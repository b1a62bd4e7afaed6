import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import { LocalSqs, LocalSqsServer, startLocalSqs } from '../local/services/sqs';
import { SqsEventSourceMapping } from '../local/services/sqs-event-source';
import { LocalStepFunctions, LocalStepFunctionsServer, startLocalStepFunctions } from '../local/services/stepfunctions';

/**
 * The local SQS, its event source mapping and the local Step Functions API behave as the services document it:
 * what the trigger relies on (redelivery, receipt handles, the redrive policy, partial batch responses, StartExecution's
 * idempotency). Through the SDK where a client would talk to them.
 */
const credentials = LOCAL_S3_CREDENTIALS;
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  throw new Error('it succeeded');
};

describe('local SQS', () => {
  let clock = 1_000_000;
  const sqs = new LocalSqs('000000000000', 'us-east-1', () => clock);
  sqs.createQueue({ name: 'dlq' });
  sqs.createQueue({ name: 'q', visibilityTimeoutSeconds: 30, redrive: { deadLetterQueue: 'dlq', maxReceiveCount: 2 } });

  test('a received message is invisible for the visibility timeout, then comes back with a new receipt handle; an old handle deletes nothing', () => {
    sqs.send('q', 'one');
    const [first] = sqs.receive('q', 10);
    expect(first.attributes.ApproximateReceiveCount).toBe('1');
    expect(sqs.receive('q', 10)).toEqual([]);
    clock += 30_000;
    const [second] = sqs.receive('q', 10);
    expect(second.messageId).toBe(first.messageId);
    expect(second.receiptHandle).not.toBe(first.receiptHandle);
    expect(second.attributes.ApproximateReceiveCount).toBe('2');
    sqs.delete('q', first.receiptHandle); // stale: "succeeds", deletes nothing
    expect(sqs.stats('q')).toMatchObject({ inFlight: 1 });
    sqs.delete('q', second.receiptHandle);
    expect(sqs.stats('q')).toMatchObject({ visible: 0, inFlight: 0 });
  });

  test('past maxReceiveCount a message moves to the dead-letter queue instead of being received again', () => {
    sqs.send('q', 'poison');
    for (let i = 0; i < 2; i++) {
      expect(sqs.receive('q', 1)).toHaveLength(1);
      clock += 30_000;
    }
    expect(sqs.receive('q', 1)).toEqual([]);
    expect(sqs.receive('dlq', 1).map((m) => m.body)).toEqual(['poison']);
  });

  test('DelaySeconds keeps a message back; the SDK talks JSON 1.0 to it and gets SQS errors', async () => {
    let server: LocalSqsServer | undefined;
    try {
      server = await startLocalSqs(new LocalSqs());
      server.sqs.createQueue({ name: 'api' });
      const client = new SQSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, useQueueUrlAsEndpoint: false });
      const QueueUrl = 'https://sqs.us-east-1.amazonaws.com/000000000000/api';
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"relearn":"tick"}', DelaySeconds: 1 }));
      expect((await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }))).Messages ?? []).toEqual([]);
      const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
      expect(attrs.Attributes).toMatchObject({ ApproximateNumberOfMessagesDelayed: '1' });
      await new Promise((r) => setTimeout(r, 1100));
      expect((await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }))).Messages?.map((m) => m.Body)).toEqual(['{"relearn":"tick"}']);
      expect(await failure(client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x', DelaySeconds: 901 })))).toBe('InvalidParameterValue');
      expect(await failure(client.send(new SendMessageCommand({ QueueUrl: QueueUrl.replace('/api', '/nope'), MessageBody: 'x' })))).toBe('QueueDoesNotExist');
      client.destroy();
    } finally {
      await server?.stop();
    }
  });
});

describe('the SQS event source mapping', () => {
  const run = async (respond: (ids: string[]) => unknown) => {
    const sqs = new LocalSqs();
    sqs.createQueue({ name: 'q', visibilityTimeoutSeconds: 60 });
    for (const body of ['a', 'b', 'c']) sqs.send('q', body);
    let first: string[] = [];
    const mapping = new SqsEventSourceMapping({
      sqs,
      queue: 'q',
      batchSize: 10,
      concurrency: 1,
      invoke: async (event) => {
        if (first.length) return { batchItemFailures: [] };
        first = event.Records.map((r) => r.messageId);
        return respond(first);
      },
    });
    mapping.start();
    await mapping.idle();
    await mapping.stop();
    return { kept: sqs.stats('q').inFlight, first };
  };

  test('with ReportBatchItemFailures only the named messages stay; a thrown error or an unknown id keeps the whole batch', async () => {
    expect((await run((ids) => ({ batchItemFailures: [{ itemIdentifier: ids[1] }] }))).kept).toBe(1);
    expect((await run(() => ({ batchItemFailures: [] }))).kept).toBe(0);
    expect(
      (
        await run(() => {
          throw new Error('boom');
        })
      ).kept,
    ).toBe(3);
    expect((await run(() => ({ batchItemFailures: [{ itemIdentifier: 'not-in-the-batch' }] }))).kept).toBe(3);
  });
});

describe('local Step Functions API', () => {
  let server: LocalStepFunctionsServer;
  let client: SFNClient;
  let dir: string;
  const machine = 'arn:aws:states:us-east-1:000000000000:stateMachine:relearn-retrain';
  const gates = new Map<string, () => void>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'relearn-sfn-'));
    const sfn = new LocalStepFunctions(join(dir, 'executions.json'));
    sfn.register(machine, async (run) => {
      run.onEvent({ type: 'StateEntered', visit: { name: 'Ingest', type: 'Task', enteredAt: Date.now(), retries: 0, status: 'running' }, at: Date.now() });
      run.onInvoke({ state: 'Ingest', functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ingest', memoryMb: 2048, phase: 'start', startedAt: Date.now() });
      await new Promise<void>((r) => gates.set(run.executionName, r));
      run.onInvoke({ state: 'Ingest', functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ingest', memoryMb: 2048, phase: 'end', startedAt: Date.now(), endedAt: Date.now() });
      return { status: 'SUCCEEDED', output: { ok: true } };
    });
    server = await startLocalStepFunctions(sfn);
    client = new SFNClient({ endpoint: server.endpoint, region: 'us-east-1', credentials });
  });
  afterAll(async () => {
    client.destroy();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("StartExecution is idempotent for the same name and input while running; otherwise ExecutionAlreadyExists", async () => {
    const input = '{"source":{"bucket":"b","manifest":"s3://a/trigger/manifests/x.json"}}';
    const a = await client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'data-1', input }));
    const b = await client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'data-1', input }));
    expect(b.executionArn).toBe(a.executionArn);
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'data-1', input: '{}' })))).toBe('ExecutionAlreadyExists');
    const running = await client.send(new ListExecutionsCommand({ stateMachineArn: machine, statusFilter: 'RUNNING' }));
    expect(running.executions?.map((e) => e.name)).toEqual(['data-1']);
    gates.get('data-1')!();
    await server.sfn.drain();
    const d = await client.send(new DescribeExecutionCommand({ executionArn: a.executionArn }));
    expect(d).toMatchObject({ status: 'SUCCEEDED', output: '{"ok":true}' });
    expect(d.stopDate).toBeInstanceOf(Date);
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'data-1', input })))).toBe('ExecutionAlreadyExists');
  });

  test('names, inputs and ARNs are checked as Step Functions checks them', async () => {
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'has space' })))).toBe('InvalidName');
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'x'.repeat(81) })))).toBe('InvalidName');
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'ok', input: '{not json' })))).toBe('InvalidExecutionInput');
    expect(await failure(client.send(new StartExecutionCommand({ stateMachineArn: machine.replace('relearn-retrain', 'other'), name: 'ok' })))).toBe('StateMachineDoesNotExist');
    expect(await failure(client.send(new DescribeExecutionCommand({ executionArn: `${machine.replace(':stateMachine:', ':execution:')}:missing` })))).toBe('ExecutionDoesNotExist');
    expect(await failure(client.send(new DescribeExecutionCommand({ executionArn: 'not-an-arn' })))).toBe('InvalidArn');
  });

  test('the history has the state and Lambda events a run cost is counted from', async () => {
    const { executionArn } = await client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'data-2' }));
    gates.get('data-2')!();
    await server.sfn.drain();
    const h = await client.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(h.events?.map((e) => e.type)).toEqual(['ExecutionStarted', 'TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionSucceeded', 'ExecutionSucceeded']);
    expect(h.events?.[0].id).toBe(1);
  });

  test("a task's Lambda events follow its entry and name it (previousEventId), as in AWS, even when the invocation is reported first", async () => {
    // GIVEN a runner that reports the invocation before the state's entry (the interpreter's event stream lags), then a retry
    const rollback = 'arn:aws:states:us-east-1:000000000000:stateMachine:relearn-rollback';
    const fn = 'arn:aws:lambda:us-east-1:000000000000:function:deploy';
    const visit = { name: 'Deploy', type: 'Task', enteredAt: Date.now(), retries: 0, status: 'running' as const };
    server.sfn.register(rollback, async (run) => {
      run.onInvoke({ state: 'Deploy', functionArn: fn, memoryMb: 256, phase: 'start', startedAt: Date.now() });
      run.onEvent({ type: 'StateEntered', visit, at: Date.now() });
      run.onInvoke({ state: 'Deploy', functionArn: fn, memoryMb: 256, phase: 'end', startedAt: Date.now(), endedAt: Date.now(), error: 'Lambda.ServiceException' });
      run.onInvoke({ state: 'Deploy', functionArn: fn, memoryMb: 256, phase: 'start', startedAt: Date.now() });
      run.onInvoke({ state: 'Deploy', functionArn: fn, memoryMb: 256, phase: 'end', startedAt: Date.now(), endedAt: Date.now() });
      run.onEvent({ type: 'StateExited', visit: { ...visit, status: 'succeeded' }, at: Date.now() });
      return { status: 'SUCCEEDED', output: {} };
    });
    // WHEN
    const { executionArn } = await client.send(new StartExecutionCommand({ stateMachineArn: rollback, name: 'order-1' }));
    await server.sfn.drain();
    const h = await client.send(new GetExecutionHistoryCommand({ executionArn }));
    // THEN entry first, the first invocation names the entry, the retry names the failure before it
    expect(h.events?.map((e) => [e.id, e.type, e.previousEventId])).toEqual([
      [1, 'ExecutionStarted', 0],
      [2, 'TaskStateEntered', 1],
      [3, 'LambdaFunctionScheduled', 2],
      [4, 'LambdaFunctionStarted', 3],
      [5, 'LambdaFunctionFailed', 4],
      [6, 'LambdaFunctionScheduled', 5],
      [7, 'LambdaFunctionStarted', 6],
      [8, 'LambdaFunctionSucceeded', 7],
      [9, 'TaskStateExited', 2],
      [10, 'ExecutionSucceeded', 9],
    ]);
  });

  test('executions outlive the process in the state file; one left RUNNING by a process that ended is ABORTED', async () => {
    await client.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'left-running' }));
    const again = new LocalStepFunctions(join(dir, 'executions.json'));
    expect(again.describe(`${machine.replace(':stateMachine:', ':execution:')}:left-running`).status).toBe('ABORTED');
    expect(again.list(machine).map((e) => e.name)).toEqual(expect.arrayContaining(['data-1', 'data-2']));
    expect(() => again.start(machine, 'data-1')).toThrow(/State Machine Does Not Exist|Execution Already Exists/);
    gates.get('left-running')!();
  });
});
