import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { checkTraining } from '../lambdas/check-training/core';
import { checkEndpoint } from '../lambdas/check-endpoint/core';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { ConfigError, parseConfig } from '../lambdas/shared/config';
import { loadEnv } from '../lambdas/shared/env';
import {
  EVENTS_PER_POLL,
  nextPollWaitSeconds,
  pollingBudget,
  pollingProblems,
  pollsFor,
  POLLING_EVENT_BUDGET,
  trainingPollSchedule,
  withFirstWait,
} from '../lambdas/shared/polling';
import { waitPathProblem } from '../local/asl/definition';
import { setLambdaEnv } from './helpers/local-s3';

describe('the polling backoff (lambdas/shared/polling.ts)', () => {
  const s = { firstSeconds: 10, maxSeconds: 100 };

  test('the next wait is 10% of the elapsed time, never below the first interval nor above the cap', () => {
    expect(nextPollWaitSeconds(0, s)).toBe(10);
    expect(nextPollWaitSeconds(99, s)).toBe(10);
    expect(nextPollWaitSeconds(101, s)).toBe(11); // ceil(10.1)
    expect(nextPollWaitSeconds(500, s)).toBe(50);
    expect(nextPollWaitSeconds(5000, s)).toBe(100);
  });

  test('polls to notice a job, counted by hand', () => {
    // t = 10, 20, ..., 100 (10 polls, each wait 10); then waits ceil(10% of t): 110 (+10), 121 (+11), 134 (+13),
    // 148 (+14), 163 (+15), 180 (+17), 198 (+18), 218 (+20): the 18th poll is the first at or after 200 s.
    expect(pollsFor(200, s)).toBe(18);
    expect(pollsFor(1, s)).toBe(1);
    expect(pollsFor(100, s)).toBe(10);
    // with a cap of 20 s the same waits reach 218 s (18 polls), then 20 s each: 238, 258, 278, 298, 318
    expect(pollsFor(300, { firstSeconds: 10, maxSeconds: 20 })).toBe(23);
  });

  test('the defaults: a 10-minute job takes 10 polls, a 4-hour job 49, instead of 10 and 240 every minute', () => {
    const schedule = trainingPollSchedule(parseConfig({}));
    expect(schedule).toEqual({ firstSeconds: 60, maxSeconds: 600 });
    expect(pollsFor(600, schedule)).toBe(10);
    expect(pollsFor(4 * 3600, schedule)).toBe(49);
  });

  test('StartTraining and Deploy hand the first wait to the Wait that follows them, unless they set one', () => {
    const started: { jobName: string; nextWaitSeconds?: number } = { jobName: 'j' };
    expect(withFirstWait(started, s)).toEqual({ jobName: 'j', nextWaitSeconds: 10 });
    expect(withFirstWait({ ...started, nextWaitSeconds: 3 }, s)).toEqual({ jobName: 'j', nextWaitSeconds: 3 });
  });
});

describe('config validation: the longest legal run stays well inside the 25,000-event history (issue 11, finding 5)', () => {
  const thrown = (input: unknown): ConfigError => {
    try {
      parseConfig(input);
    } catch (err) {
      return err as ConfigError;
    }
    throw new Error('parseConfig accepted it');
  };

  test('the defaults fit with room: 34 + 46 polls, 720 events of the 15,000 allowed', () => {
    const b = pollingBudget(parseConfig({}));
    expect(b).toMatchObject({ training: { longestSeconds: 5400, polls: 34 }, endpoint: { longestSeconds: 3780, polls: 46 }, events: 720, budget: POLLING_EVENT_BUDGET });
  });

  test('a 1-second poll with a 28-day MaxRuntime is refused, naming the field and the smallest cap that fits', () => {
    const input = { training: { pollIntervalSeconds: 1, maxRuntimeSeconds: 28 * 24 * 3600 } };
    const err = thrown(input);
    expect(err.problems).toHaveLength(1);
    const m = /^training\.maxPollIntervalSeconds: .*4,099 times \(28\.0 days\).*about 37,305 history events.*set training\.maxPollIntervalSeconds to at least (\d+) \(it is 600\)$/.exec(err.problems[0]);
    expect(m).not.toBeNull();
    const cap = Number(m![1]);
    // THEN that cap fits, and one second less does not: the advice is exact
    const fits = parseConfig({ training: { ...input.training, maxPollIntervalSeconds: cap } });
    expect(pollingBudget(fits).events).toBeLessThanOrEqual(POLLING_EVENT_BUDGET);
    expect(() => parseConfig({ training: { ...input.training, maxPollIntervalSeconds: cap - 1 } })).toThrow(ConfigError);
  });

  test('spot counts with its MaxWait, and an endpoint bound polled every second is refused on its own field', () => {
    const spot = pollingBudget(parseConfig({ training: { maxPollIntervalSeconds: 3600, spot: { enabled: true, maxWaitSeconds: 20 * 86400 }, maxRuntimeSeconds: 10 * 86400 } }));
    expect(spot.training.longestSeconds).toBe(20 * 86400 + 1800);
    const err = thrown({ deployment: { pollIntervalSeconds: 1, maxPollIntervalSeconds: 1 }, training: { maxRuntimeSeconds: 28 * 86400, maxPollIntervalSeconds: 3600 } });
    expect(err.problems.map((p) => p.split(':')[0])).toEqual(['deployment.maxPollIntervalSeconds']);
  });

  test('the cap may not be below the first interval', () => {
    expect(thrown({ training: { pollIntervalSeconds: 120, maxPollIntervalSeconds: 60 } }).problems).toEqual([
      'training.maxPollIntervalSeconds: must be >= training.pollIntervalSeconds (120), but got 60',
    ]);
    expect(pollingProblems(parseConfig({}))).toEqual([]);
    expect(EVENTS_PER_POLL).toBe(9);
  });
});

describe('CheckTraining and CheckEndpoint compute the next wait', () => {
  // A running job's age at a chosen moment is not something the local server can be asked for: SDK mock.
  const sm = mockClient(SageMakerClient);
  const sagemaker = new SageMakerClient({ region: 'us-east-1' });
  beforeEach(() => {
    sm.reset();
    setLambdaEnv({ training: { pollIntervalSeconds: 60, maxPollIntervalSeconds: 600 } });
  });
  const source = { bucket: 'b', prefix: 'incoming/' };

  test('a job 2 hours old is polled again in 600 s (the cap); one 20 minutes old in 120 s; a finished one carries no wait', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const running = (minutes: number) => ({ TrainingJobName: 'j', TrainingJobStatus: 'InProgress', CreationTime: new Date(now.getTime() - minutes * 60000) });
    const event = { executionName: 'e', state: { source, training: { jobName: 'j', status: 'InProgress', done: false } } };
    sm.on(DescribeTrainingJobCommand).resolvesOnce(running(120) as never).resolvesOnce(running(20) as never).resolvesOnce(running(0.5) as never);
    await expect(checkTraining(event, loadEnv(), { sagemaker }, now)).resolves.toMatchObject({ done: false, nextWaitSeconds: 600 });
    await expect(checkTraining(event, loadEnv(), { sagemaker }, now)).resolves.toMatchObject({ done: false, nextWaitSeconds: 120 });
    await expect(checkTraining(event, loadEnv(), { sagemaker }, now)).resolves.toMatchObject({ done: false, nextWaitSeconds: 60 });
  });

  test("an endpoint update's age counts from the first poll minus the first wait, kept in the state between polls", async () => {
    setLambdaEnv({ deployment: { pollIntervalSeconds: 30, maxPollIntervalSeconds: 120 } });
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'Updating', EndpointConfigName: 'old' } as never);
    const deployment = { endpointName: 'relearn-endpoint', modelName: 'm', endpointConfigName: 'new', status: 'Updating', done: false, nextWaitSeconds: 30 };
    const t0 = new Date('2026-12-01T12:00:30Z');
    const first = await checkEndpoint({ executionName: 'e', state: { source, deployment } }, loadEnv(), { sagemaker }, t0);
    expect(first).toMatchObject({ pollingSince: '2026-12-01T12:00:00.000Z', nextWaitSeconds: 30 });
    const later = await checkEndpoint({ executionName: 'e', state: { source, deployment: first } }, loadEnv(), { sagemaker }, new Date('2026-12-01T12:10:00Z'));
    expect(later).toMatchObject({ pollingSince: '2026-12-01T12:00:00.000Z', nextWaitSeconds: 60 });
  });
});

describe('local mode checks a Wait SecondsPath as Step Functions does', () => {
  const def = { StartAt: 'W', States: { W: { Type: 'Wait', SecondsPath: '$.training.nextWaitSeconds', Next: 'X' }, X: { Type: 'Succeed' } } };
  test('a missing or negative value is a States.Runtime cause; a whole number is fine', () => {
    expect(waitPathProblem(def, 'W', { training: { nextWaitSeconds: 60 } })).toBeUndefined();
    expect(waitPathProblem(def, 'W', { training: {} })).toMatch(/does not reference an input value: \$\.training\.nextWaitSeconds/);
    expect(waitPathProblem(def, 'W', { training: { nextWaitSeconds: -1 } })).toMatch(/non-negative integer/);
    expect(waitPathProblem(def, 'X', {})).toBeUndefined();
  });
});
