import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../local/cli';
import { cloudRollbackCommand, rollbackExecutionName } from '../local/commands/rollback';

/**
 * `relearn rollback` against a deployed stack: it finds `<name>-rollback`, starts it and waits for its end. Step
 * Functions is mocked: there is no AWS here (the same state machine runs for real in local mode:
 * test/e2e-rollback.test.ts).
 */

const sfn = mockClient(SFNClient);
let dir: string;
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:churn-rollback';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-rollback-cli-'));
  writeFileSync(join(dir, 'relearn.config.json'), JSON.stringify({ name: 'churn' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => sfn.reset());

function io() {
  let out = '';
  let err = '';
  return { cwd: dir, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, out: () => out, err: () => err };
}

test('finds <name>-rollback by name (every page), starts it with the request, and reports the restored champion', async () => {
  sfn.on(ListStateMachinesCommand).resolvesOnce({ stateMachines: [{ name: 'churn-retrain', stateMachineArn: 'x', type: 'STANDARD', creationDate: new Date() }], nextToken: 't' })
    .resolvesOnce({ stateMachines: [{ name: 'churn-rollback', stateMachineArn: ARN, type: 'STANDARD', creationDate: new Date() }] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:rollback-1`, startDate: new Date() });
  const output = { rollback: { request: { to: 'run-a' }, target: { executionName: 'run-a', modelPackageArn: 'arn:pkg/1' }, from: { executionName: 'run-b' } }, deployment: { endpointConfigName: 'churn-epc-rb' } };
  sfn.on(DescribeExecutionCommand).resolvesOnce({ status: 'RUNNING', executionArn: 'e', stateMachineArn: ARN, startDate: new Date() })
    .resolves({ status: 'SUCCEEDED', executionArn: 'e', stateMachineArn: ARN, startDate: new Date(), output: JSON.stringify(output) });
  const c = io();
  const code = await cloudRollbackCommand({ to: 'run-a' }, c, new SFNClient({ region: 'eu-west-1' }), 1);
  expect(code).toBe(0);
  expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!)).toEqual({ rollback: { request: { to: 'run-a' } } });
  expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input).toMatchObject({ stateMachineArn: ARN, name: expect.stringMatching(/^rollback-\d{8}T\d{6}Z-[0-9a-f]{4}$/) });
  expect(c.out()).toMatch(/^rolled back \(rollback-\S+\): run-a is the champion again, replacing run-b; endpoint config churn-epc-rb \(model package arn:pkg\/1\)\n$/);
  expect(c.err()).toContain('RUNNING');
});

test('a refused rollback exits 1 with one line naming the reason', async () => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:rollback-2`, startDate: new Date() });
  sfn.on(DescribeExecutionCommand).resolves({
    status: 'FAILED', executionArn: 'e', stateMachineArn: ARN, startDate: new Date(), error: 'RollbackRefused',
    cause: JSON.stringify({ errorType: 'RollbackRefused', errorMessage: 'endpoint churn-endpoint is Updating (to churn-epc-x): an update is in flight' }),
  });
  const c = io();
  expect(await cloudRollbackCommand({ 'state-machine-arn': ARN }, c, new SFNClient({ region: 'eu-west-1' }), 1)).toBe(1);
  expect(c.err().trim().split('\n').pop()).toMatch(/^relearn: rollback rollback-\S+ refused: RollbackRefused: endpoint churn-endpoint is Updating \(to churn-epc-x\): an update is in flight$/);
  expect(sfn.commandCalls(ListStateMachinesCommand)).toHaveLength(0);
});

test('no such state machine, or an empty --to, is bad input: exit 2, one line, no stack trace', async () => {
  sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [] });
  const c = io();
  await expect(cloudRollbackCommand({}, c, new SFNClient({ region: 'eu-west-1' }), 1)).rejects.toMatchObject({ name: 'RollbackUsageError', message: expect.stringMatching(/no state machine named churn-rollback/) });
  const viaMain = io();
  expect(await main(['rollback', '--to', ' '], viaMain)).toBe(2);
  expect(viaMain.err()).toBe('relearn: --to needs an execution name or a model package ARN\n');
});

test('an AWS error (here AccessDenied on ListStateMachines) is one line naming it, exit 1, no stack trace', async () => {
  const denied = Object.assign(new Error('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: states:ListStateMachines'), {
    name: 'AccessDeniedException',
    $metadata: { httpStatusCode: 400 },
  });
  sfn.on(ListStateMachinesCommand).rejects(denied);
  const c = io();
  expect(await main(['rollback'], c)).toBe(1);
  expect(c.err()).toBe('relearn: AccessDeniedException: User: arn:aws:iam::123456789012:user/ops is not authorized to perform: states:ListStateMachines\n');
});

test('rollback execution names are valid in Step Functions and as SageMaker name material', () => {
  expect(rollbackExecutionName(new Date('2026-11-29T09:32:24.123Z'))).toMatch(/^rollback-20261129T093224Z-[0-9a-f]{4}$/);
});
