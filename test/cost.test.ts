import { PRICES, runCost, usageFromHistory } from '../lambdas/shared/cost';

/** The cost of a run at the pinned list prices (lambdas/shared/cost.ts), against figures worked out by hand. */
describe('runCost', () => {
  test('a hand-computed run: transitions, Lambda GB-seconds and requests, spot training, a blue/green update', () => {
    // GIVEN 40 transitions; Lambda 2048 MB x 1.5 s + 2 x 256 MB x 0.2 s; 600 s of spot training billed 240 s on one
    // ml.m5.large; a 300 s update of two ml.m5.large
    const cost = runCost({
      stateTransitions: 40,
      lambda: [
        { memoryMb: 2048, durationMs: 1500 },
        { memoryMb: 256, durationMs: 200 },
        { memoryMb: 256, durationMs: 199.2 }, // billed as 200 ms (1 ms steps)
      ],
      training: { instanceType: 'ml.m5.large', instanceCount: 1, trainingSeconds: 600, billableSeconds: 240 },
      endpointUpdate: { instanceType: 'ml.m5.large', instanceCount: 2, seconds: 300 },
    });
    // THEN, by hand:
    // transitions 40 x $0.025/1000 = $0.001
    // Lambda 2 x 1.5 + 0.25 x 0.2 + 0.25 x 0.2 = 3.1 GB-s x $0.0000133334 = $0.00004133354; 3 requests x $0.0000002 = $0.0000006
    // training 240 s x $0.115/3600 = $0.00766667 (spot saved 360 s x $0.115/3600 = $0.0115)
    // update 2 x 300 s x $0.115/3600 = $0.01916667
    expect(cost.lambdaGbSeconds).toBeCloseTo(3.1, 10);
    expect(cost.orchestrationUsd).toBeCloseTo(0.00104193354, 10);
    expect(cost.trainingUsd).toBeCloseTo(0.00766666667, 10);
    expect(cost.spotSavingsUsd).toBeCloseTo(0.0115, 10);
    expect(cost.endpointUpdateUsd).toBeCloseTo(0.01916666667, 10);
    expect(cost.totalUsd).toBeCloseTo(0.02787526688, 10);
    expect(cost).toMatchObject({ currency: 'USD', pricesAsOf: PRICES.asOf, region: 'us-east-1', stateTransitions: 40, lambdaRequests: 3, unpriced: [] });
  });

  test('an instance type without a price leaves that part out and says so', () => {
    const cost = runCost({ stateTransitions: 4, lambda: [], training: { instanceType: 'ml.p5.48xlarge', instanceCount: 1, trainingSeconds: 60, billableSeconds: 60 } });
    expect(cost.trainingUsd).toBeUndefined();
    expect(cost.unpriced).toEqual(['training on ml.p5.48xlarge']);
    expect(cost.totalUsd).toBeCloseTo(0.0001, 10);
  });
});

describe('usageFromHistory', () => {
  test('every state entered is a transition, a retried invocation one more; Map iterations side by side are told apart', () => {
    const t = (s: number) => new Date(1_700_000_000_000 + s * 1000);
    const fn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
    const events = [
      { id: 1, type: 'ExecutionStarted', timestamp: t(0) },
      { id: 2, previousEventId: 1, type: 'TaskStateEntered', timestamp: t(0) },
      { id: 3, previousEventId: 2, type: 'LambdaFunctionScheduled', timestamp: t(0), lambdaFunctionScheduledEventDetails: { resource: fn('ingest') } },
      { id: 4, previousEventId: 3, type: 'LambdaFunctionStarted', timestamp: t(1) },
      { id: 5, previousEventId: 4, type: 'LambdaFunctionFailed', timestamp: t(2) },
      // the retry
      { id: 6, previousEventId: 5, type: 'LambdaFunctionScheduled', timestamp: t(3), lambdaFunctionScheduledEventDetails: { resource: fn('ingest') } },
      { id: 7, previousEventId: 6, type: 'LambdaFunctionStarted', timestamp: t(3) },
      { id: 8, previousEventId: 7, type: 'LambdaFunctionSucceeded', timestamp: t(7) },
      { id: 9, previousEventId: 8, type: 'TaskStateExited', timestamp: t(7) },
      { id: 10, previousEventId: 9, type: 'MapStateEntered', timestamp: t(7) },
      // two shards at once, ending in the other order
      { id: 11, previousEventId: 10, type: 'TaskStateEntered', timestamp: t(7) },
      { id: 12, previousEventId: 10, type: 'TaskStateEntered', timestamp: t(7) },
      { id: 13, previousEventId: 11, type: 'LambdaFunctionScheduled', timestamp: t(7), lambdaFunctionScheduledEventDetails: { resource: fn('shard') } },
      { id: 14, previousEventId: 12, type: 'LambdaFunctionScheduled', timestamp: t(7), lambdaFunctionScheduledEventDetails: { resource: fn('shard') } },
      { id: 15, previousEventId: 13, type: 'LambdaFunctionStarted', timestamp: t(8) },
      { id: 16, previousEventId: 14, type: 'LambdaFunctionStarted', timestamp: t(9) },
      { id: 17, previousEventId: 16, type: 'LambdaFunctionSucceeded', timestamp: t(10) },
      { id: 18, previousEventId: 15, type: 'LambdaFunctionSucceeded', timestamp: t(12) },
      { id: 19, previousEventId: 18, type: 'SucceedStateEntered', timestamp: t(12) },
      { id: 20, previousEventId: 19, type: 'ExecutionSucceeded', timestamp: t(12) },
    ];
    const memory: Record<string, number> = { [fn('ingest')]: 2048, [fn('shard')]: 1024 };
    const u = usageFromHistory(events, (arn) => memory[arn]);
    // 5 states entered (Task, Map, 2 x Task, Succeed) + 1 retry
    expect(u.stateTransitions).toBe(6);
    expect(u.lambda).toEqual([
      { memoryMb: 2048, durationMs: 1000 },
      { memoryMb: 2048, durationMs: 4000 },
      { memoryMb: 1024, durationMs: 1000 },
      { memoryMb: 1024, durationMs: 4000 },
    ]);
  });
});
