import { App } from 'aws-cdk-lib';
import { parseConfig } from '../lambdas/shared/config';
import { buildRelearnApp } from '../lib/app';
import { EXECUTION_TIMEOUT_MARGINS, executionTimeout, RETRIED_ERRORS, STATE_NAMES } from '../lib/constructs/retraining-state-machine';
import { Definition, Handlers, runDefinition, State, synthDefinition } from './helpers/state-machine';

/** All states, including those inside Map iterations. */
function allStates(def: Definition): Record<string, State> {
  const out: Record<string, State> = {};
  const walk = (states: Record<string, State>) => {
    for (const [name, s] of Object.entries(states)) {
      out[name] = s;
      if (s.ItemProcessor) walk(s.ItemProcessor.States);
      if (s.Iterator) walk(s.Iterator.States);
    }
  };
  walk(def.States);
  return out;
}

const config = parseConfig({ training: { pollIntervalSeconds: 45 }, deployment: { pollIntervalSeconds: 20 } });
let def: Definition;
let states: Record<string, State>;

beforeAll(() => {
  // GIVEN the app, WHEN synthesized (bundling skipped: only the definition matters here)
  def = synthDefinition(config);
  states = allStates(def);
});

describe('the state machine definition (docs/architecture.md)', () => {
  test('every state name of the contract is present, and nothing else', () => {
    expect(Object.keys(states).sort()).toEqual(Object.values(STATE_NAMES).sort());
    expect(def.StartAt).toBe('Ingest');
  });

  test('every Lambda task retries service errors and TransientError with backoff >= 2 and full jitter', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks).toHaveLength(15); // 13 stages; notify also serves NotPromoted and NotifyFailure
    for (const [name, s] of tasks) {
      expect({ name, retry: s.Retry }).toEqual({
        name,
        retry: [{ ErrorEquals: RETRIED_ERRORS, IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: 'FULL' }],
      });
      expect(s.Retry[0].BackoffRate).toBeGreaterThanOrEqual(2);
      expect(s.TimeoutSeconds).toBeGreaterThan(0);
    }
  });

  test('every Lambda task (and the statistics Map) is caught into NotifyFailure with the error at $.error', () => {
    const caught = Object.entries(def.States).filter(([name, s]) => (s.Type === 'Task' || s.Type === 'Map') && name !== 'NotifyFailure');
    expect(caught.length).toBe(14); // 13 top-level tasks besides NotifyFailure, and the Map
    for (const [name, s] of caught) {
      expect({ name, catch: s.Catch }).toEqual({ name, catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }] });
    }
  });

  test('NotifyFailure keeps $.error and ends in Failed, even when it fails itself (no loop)', () => {
    const nf = states.NotifyFailure;
    expect(nf.ResultPath).toBeNull();
    expect(nf.Next).toBe('Failed');
    expect(nf.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.notifyFailureError', Next: 'Failed' }]);
    expect(states.Failed).toEqual({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
  });

  test('tasks pass { executionName, executionStartTime, state } and store their result under their own key', () => {
    const expected: Record<string, string | null> = {
      Ingest: '$.dataset',
      ValidateData: '$.validation',
      StartTraining: '$.training',
      CheckTraining: '$.training',
      Evaluate: '$.evaluation',
      PackageModel: '$.model',
      Register: '$.registration',
      Deploy: '$.deployment',
      CheckEndpoint: '$.deployment',
      VerifyServing: '$.serving',
      PromoteBaseline: '$.champion',
      Notify: null,
      NotPromoted: null,
      NotifyFailure: null,
    };
    for (const [name, resultPath] of Object.entries(expected)) {
      expect({ name, params: states[name].Parameters, resultPath: states[name].ResultPath }).toEqual({
        name,
        params: { 'executionName.$': '$$.Execution.Name', 'executionStartTime.$': '$$.Execution.StartTime', 'executionArn.$': '$$.Execution.Id', 'state.$': '$' },
        resultPath,
      });
    }
  });

  test('ComputeStatistics maps ShardStatistics over the dataset parts, 10 at a time, discarding results', () => {
    const map = states.ComputeStatistics;
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.dataset.parts',
      ItemSelector: { 'executionName.$': '$$.Execution.Name', 'state.$': '$', 'item.$': '$$.Map.Item.Value' },
      MaxConcurrency: 10,
      ResultPath: null,
      Next: 'ValidateData',
    });
    expect(map.ItemProcessor.StartAt).toBe('ShardStatistics');
    expect(states.ShardStatistics.Parameters).toBeUndefined(); // the item selector already built its payload
  });

  test('poll loops wait what the stage before computed (backoff, lambdas/shared/polling.ts) and choose on done; the gate reads registration.promote', () => {
    expect(states.WaitForTraining).toEqual({ Type: 'Wait', SecondsPath: '$.training.nextWaitSeconds', Next: 'CheckTraining' });
    expect(states.WaitForEndpoint).toEqual({ Type: 'Wait', SecondsPath: '$.deployment.nextWaitSeconds', Next: 'CheckEndpoint' });
    expect(states['TrainingComplete?']).toMatchObject({
      Choices: [{ Variable: '$.training.done', BooleanEquals: true, Next: 'Evaluate' }],
      Default: 'WaitForTraining',
    });
    expect(states['EndpointReady?']).toMatchObject({
      Choices: [{ Variable: '$.deployment.done', BooleanEquals: true, Next: 'VerifyServing' }],
      Default: 'WaitForEndpoint',
    });
    expect(states['Blessed?']).toMatchObject({
      Choices: [{ Variable: '$.registration.promote', BooleanEquals: true, Next: 'Deploy' }],
      Default: 'NotPromoted',
    });
  });

  test('the whole execution is bounded: TimeoutSeconds is executionTimeout(config), so a stuck run ends TIMED_OUT', () => {
    // 3600 training + 1800 overhead + 600 longest wait; 3600 endpoint + 60 bake + 120 termination + 120 longest wait; 2 x 4830 stages
    expect(def.TimeoutSeconds).toBe(19560);
    expect(executionTimeout(config).toSeconds()).toBe(19560);
  });
});

describe('executionTimeout (the formula in lib/constructs/retraining-state-machine.ts)', () => {
  const base = executionTimeout(parseConfig({})).toSeconds();

  test('the reference configuration: 5 h 26 min, more than training and deployment alone', () => {
    expect(base).toBe(19560);
    expect(base).toBeGreaterThan(3600 + EXECUTION_TIMEOUT_MARGINS.trainingOverhead.toSeconds() + EXECUTION_TIMEOUT_MARGINS.endpointUpdate.toSeconds());
  });

  test("training counts with SageMaker's own limit: MaxRuntime, or spot's MaxWait (default twice MaxRuntime)", () => {
    expect(executionTimeout(parseConfig({ training: { maxRuntimeSeconds: 7200 } })).toSeconds()).toBe(base + 3600);
    expect(executionTimeout(parseConfig({ training: { spot: { enabled: true } } })).toSeconds()).toBe(base + 3600);
    expect(executionTimeout(parseConfig({ training: { spot: { enabled: true, maxWaitSeconds: 36000 } } })).toSeconds()).toBe(base + 32400);
    // spot settings do nothing while spot is off
    expect(executionTimeout(parseConfig({ training: { spot: { enabled: false, maxWaitSeconds: 36000 } } })).toSeconds()).toBe(base);
  });

  test('deployment counts with the blue/green bound when configured, else 1 h plus its waits; the longest wait of each loop counts once', () => {
    expect(executionTimeout(parseConfig({ deployment: { blueGreen: { maximumExecutionTimeoutSeconds: 14400 } } })).toSeconds()).toBe(base - 3780 + 14400);
    expect(executionTimeout(parseConfig({ deployment: { blueGreen: { waitIntervalSeconds: 600, terminationWaitSeconds: 900 } } })).toSeconds()).toBe(base - 180 + 1500);
    expect(executionTimeout(parseConfig({ training: { maxPollIntervalSeconds: 900 }, deployment: { maxPollIntervalSeconds: 300 } })).toSeconds()).toBe(base - 720 + 1200);
    // the first interval no longer bounds anything: the waits grow to the cap
    expect(executionTimeout(parseConfig({ training: { pollIntervalSeconds: 600 }, deployment: { pollIntervalSeconds: 120 } })).toSeconds()).toBe(base);
  });

  test('a limit past a STANDARD execution\'s year fails the synth, saying what was expected and what came in', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    // (a daily poll keeps that run's history within budget, so the construct's own check is what fails)
    const config = parseConfig({ training: { maxPollIntervalSeconds: 86400, spot: { enabled: true, maxWaitSeconds: 400 * 24 * 3600 } } });
    expect(() => buildRelearnApp(app, config, { nag: false })).toThrow(/timeout must be between 1 second and 365 days \(a STANDARD execution's limit\), but got \d+ seconds/);
  });
});

/**
 * The synthesized ASL, run by the same interpreter local mode uses, with each Lambda task replaced by a
 * function that records its input and returns a stage result. This checks the flow itself: which states
 * run, what each receives, and where results land.
 */
describe('the synthesized ASL, executed', () => {
  const stageResults = (overrides: Partial<Record<string, unknown>> = {}): Handlers => {
    let trainingPolls = 0;
    let endpointPolls = 0;
    const base: Handlers = {
      Ingest: () => ({ datasetId: 'd1', parts: ['datasets/d1/train/part-00000.csv', 'datasets/d1/validation/part-00000.csv'] }),
      ShardStatistics: () => ({ shard: 'ok' }),
      ValidateData: () => ({ blocking: 0 }),
      StartTraining: () => ({ jobName: 'job', done: false, nextWaitSeconds: 60 }),
      CheckTraining: () => ({ jobName: 'job', done: ++trainingPolls >= 2, nextWaitSeconds: 60 }),
      Evaluate: () => ({ deploy: true }),
      PackageModel: () => ({ modelDataUri: 's3://a/runs/run-1/model/model.tar.gz' }),
      Register: () => ({ promote: true }),
      Deploy: () => ({ endpointName: 'e', done: false, nextWaitSeconds: 30 }),
      CheckEndpoint: () => ({ endpointName: 'e', done: ++endpointPolls >= 2, nextWaitSeconds: 30 }),
      VerifyServing: () => ({ checkedRows: 3 }),
      PromoteBaseline: () => ({ championUri: 's3://a/champion/current.json' }),
      Notify: () => ({ published: true }),
      NotPromoted: () => ({ published: true }),
      NotifyFailure: () => ({ published: true }),
    };
    return { ...base, ...(overrides as Handlers) };
  };

  const execute = (handlers: Handlers) => runDefinition(def, handlers, { source: { bucket: 'data', prefix: 'incoming/' } });

  test('a promoted run goes through every stage once (polls twice) and ends in Done with each result under its key', async () => {
    // GIVEN stages that succeed and a gate that says deploy
    // WHEN the execution runs
    const { calls, output, error } = await execute(stageResults());
    // THEN
    expect(error).toBeUndefined();
    expect(calls.map((c) => c.state)).toEqual([
      'Ingest',
      'ShardStatistics',
      'ShardStatistics',
      'ValidateData',
      'StartTraining',
      'CheckTraining',
      'CheckTraining',
      'Evaluate',
      'PackageModel',
      'Register',
      'Deploy',
      'CheckEndpoint',
      'CheckEndpoint',
      'VerifyServing',
      'PromoteBaseline',
      'Notify',
    ]);
    const shardInputs = calls.filter((c) => c.state === 'ShardStatistics').map((c) => c.input);
    expect(shardInputs.map((i) => i.item).sort()).toEqual(['datasets/d1/train/part-00000.csv', 'datasets/d1/validation/part-00000.csv']);
    expect(shardInputs[0]).toMatchObject({ executionName: 'run-1', state: { dataset: { datasetId: 'd1' } } });
    const evaluateInput = calls.find((c) => c.state === 'Evaluate')!.input;
    expect(evaluateInput).toEqual({
      executionName: 'run-1',
      executionStartTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      executionArn: 'arn:exec:run-1',
      state: expect.objectContaining({ training: { jobName: 'job', done: true, nextWaitSeconds: 60 }, validation: { blocking: 0 } }),
    });
    expect(output).toMatchObject({
      source: { bucket: 'data', prefix: 'incoming/' },
      dataset: { datasetId: 'd1' },
      registration: { promote: true },
      deployment: { done: true },
      serving: { checkedRows: 3 },
      champion: { championUri: 's3://a/champion/current.json' },
    });
    expect(output.error).toBeUndefined();
  });

  test('a candidate that is not promoted is notified as such and the run succeeds without deploying', async () => {
    const { calls, output, error } = await execute(stageResults({ Register: () => ({ promote: false }) }));
    expect(error).toBeUndefined();
    const names = calls.map((c) => c.state);
    expect(names.slice(-2)).toEqual(['Register', 'NotPromoted']);
    expect(names).not.toContain('Deploy');
    expect(output.registration).toEqual({ promote: false });
  });

  test('a failing stage is caught: NotifyFailure receives the error, the run fails with the original error name', async () => {
    // GIVEN training that fails for good
    const failure = Object.assign(new Error('AlgorithmError: boom'), { name: 'TrainingFailed' });
    const { calls, error } = await execute(
      stageResults({
        CheckTraining: () => {
          throw failure;
        },
      }),
    );
    // THEN nothing after training runs, NotifyFailure sees $.error, and the execution fails as TrainingFailed
    const names = calls.map((c) => c.state);
    expect(names.slice(-2)).toEqual(['CheckTraining', 'NotifyFailure']);
    expect(names).not.toContain('Evaluate');
    const nf = calls.find((c) => c.state === 'NotifyFailure')!.input;
    expect(nf.state.error).toMatchObject({ Error: 'TrainingFailed', Cause: expect.stringContaining('boom') });
    // The Fail state reports $.error: the interpreter wraps it as ExecutionError { cause: FailStateError }.
    expect(error?.cause).toMatchObject({ name: 'TrainingFailed', message: expect.stringContaining('boom') });
  });

  test('a TransientError is retried and the run carries on', async () => {
    let attempts = 0;
    const { calls, error } = await execute(
      stageResults({
        ValidateData: () => {
          if (++attempts < 3) throw Object.assign(new Error('throttled'), { name: 'TransientError' });
          return { blocking: 0 };
        },
      }),
    );
    expect(error).toBeUndefined();
    expect(calls.filter((c) => c.state === 'ValidateData')).toHaveLength(3);
    expect(calls.map((c) => c.state)).not.toContain('NotifyFailure');
  });

  test('a failure inside a statistics shard is caught at the Map and fails the run', async () => {
    const { calls, error } = await execute(
      stageResults({
        ShardStatistics: () => {
          throw Object.assign(new Error('bad part'), { name: 'IngestError' });
        },
      }),
    );
    expect(calls.map((c) => c.state)).toContain('NotifyFailure');
    expect(calls.map((c) => c.state)).not.toContain('ValidateData');
    expect(error).toBeDefined();
  });

  test('when NotifyFailure itself fails the run still ends in Failed with the original error', async () => {
    const { calls, error } = await execute(
      stageResults({
        Ingest: () => {
          throw Object.assign(new Error('nothing there'), { name: 'NoNewData' });
        },
        NotifyFailure: () => {
          throw Object.assign(new Error('sns down'), { name: 'Error' });
        },
      }),
    );
    expect(calls.filter((c) => c.state === 'NotifyFailure')).toHaveLength(1);
    expect(error?.cause).toMatchObject({ name: 'NoNewData', message: expect.stringContaining('nothing there') });
  });
});
