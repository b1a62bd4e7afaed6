import { parseConfig } from '../lambdas/shared/config';
import { RETRIED_ERRORS } from '../lib/constructs/retraining-state-machine';
import { ROLLBACK_STATE_NAMES, rollbackTimeout } from '../lib/constructs/rollback-state-machine';
import { Definition, Handlers, runDefinition, synthDefinition } from './helpers/state-machine';

/**
 * The rollback state machine (`<name>-rollback`, docs/architecture.md "Rollback"): its definition, and its flow run
 * by the interpreter local mode uses, each Lambda replaced by a function that records its input.
 */

const config = parseConfig({ deployment: { pollIntervalSeconds: 20 } });
let rollback: Definition;
let retrain: Definition;

beforeAll(() => {
  rollback = synthDefinition(config, 'Rollback');
  retrain = synthDefinition(config, 'Retrain');
});

describe('the rollback state machine definition', () => {
  test('its states are the contract, starting at ResolveRollback', () => {
    expect(Object.keys(rollback.States).sort()).toEqual(Object.values(ROLLBACK_STATE_NAMES).sort());
    expect(rollback.StartAt).toBe('ResolveRollback');
    expect(rollback.TimeoutSeconds).toBe(rollbackTimeout(config).toSeconds());
    expect(rollbackTimeout(parseConfig({})).toSeconds()).toBe(5910);
  });

  test('Deploy, CheckEndpoint, VerifyServing and Notify are the retrain’s own functions (same roles, same code)', () => {
    for (const name of ['Deploy', 'CheckEndpoint', 'VerifyServing', 'Notify', 'NotifyFailure']) {
      expect([name, rollback.States[name].Resource]).toEqual([name, retrain.States[name].Resource]);
    }
    expect(rollback.States.ResolveRollback.Resource).toMatch(/PipelineResolveRollback/);
    expect(rollback.States.RestoreChampion.Resource).toMatch(/PipelineRestoreChampion/);
  });

  test('every task retries like the retrain’s and is caught into NotifyFailure; ResolveRollback’s result is the whole state', () => {
    const tasks = Object.entries(rollback.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks).toHaveLength(7);
    for (const [name, s] of tasks) {
      expect([name, s.Retry[0].ErrorEquals, s.Parameters]).toEqual([name, RETRIED_ERRORS, { 'executionName.$': '$$.Execution.Name', 'executionStartTime.$': '$$.Execution.StartTime', 'executionArn.$': '$$.Execution.Id', 'state.$': '$' }]);
      if (name !== 'NotifyFailure') expect(s.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }]);
    }
    expect(rollback.States.ResolveRollback.ResultPath).toBe('$.rollback');
    // The target becomes the registration Deploy reads (ResolveRollback checked it is Approved).
    expect(rollback.States.ApprovedTarget).toEqual({
      Type: 'Pass',
      Parameters: { 'modelPackageArn.$': '$.rollback.target.modelPackageArn', approvalStatus: 'Approved', promote: true },
      ResultPath: '$.registration',
      Next: 'Deploy',
    });
    expect(rollback.States.RestoreChampion.ResultPath).toBe('$.champion');
    expect(rollback.States.WaitForEndpoint).toMatchObject({ Type: 'Wait', Seconds: 20, Next: 'CheckEndpoint' });
  });
});

describe('the rollback flow, executed', () => {
  const input = { rollback: { request: { to: 'run-a' } } };
  const handlers = (overrides: Handlers = {}): Handlers => {
    let polls = 0;
    return {
      ResolveRollback: (i) => ({ ...i.state.rollback, target: { executionName: 'run-a', modelPackageArn: 'arn:p/1' } }),
      Deploy: () => ({ endpointName: 'e', endpointConfigName: 'epc-rb', previousEndpointConfigName: 'epc-b', done: false }),
      CheckEndpoint: (i) => ({ ...i.state.deployment, done: ++polls >= 2 }),
      VerifyServing: () => ({ checkedRows: 20, maxAbsDifference: 0 }),
      RestoreChampion: () => ({ championUri: 's3://a/champion/current.json', registry: [] }),
      Notify: () => ({ outcome: 'rolled back' }),
      NotifyFailure: () => ({ outcome: 'failed' }),
      ...overrides,
    };
  };

  test('resolve, deploy through the guarded update, poll, verify, restore the champion, notify', async () => {
    const { calls, output, error } = await runDefinition(rollback, handlers(), input, 'rollback-1');
    expect(error).toBeUndefined();
    expect(calls.map((c) => c.state)).toEqual(['ResolveRollback', 'Deploy', 'CheckEndpoint', 'CheckEndpoint', 'VerifyServing', 'RestoreChampion', 'Notify']);
    // Deploy receives the registration ResolveRollback put in the state, like a retrain's Deploy.
    expect(calls[1].input.state.registration).toEqual({ modelPackageArn: 'arn:p/1', approvalStatus: 'Approved', promote: true });
    expect(output).toMatchObject({ rollback: { request: { to: 'run-a' }, target: { executionName: 'run-a' } }, deployment: { done: true }, champion: { championUri: 's3://a/champion/current.json' } });
  });

  test('a refusal ends at NotifyFailure -> Failed with RollbackRefused, and nothing is deployed', async () => {
    const refuse = () => {
      const e = new Error('endpoint relearn-endpoint is Updating: an update is in flight');
      e.name = 'RollbackRefused';
      throw e;
    };
    const { calls, error } = await runDefinition(rollback, handlers({ ResolveRollback: refuse }), input, 'rollback-2');
    expect(calls.map((c) => c.state)).toEqual(['ResolveRollback', 'NotifyFailure']);
    expect(calls[1].input.state.error.Error).toBe('RollbackRefused');
    expect(String(error)).toMatch(/an update is in flight/);
  });
});
