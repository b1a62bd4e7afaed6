import { Template } from 'aws-cdk-lib/assertions';
import { MonitorReport } from '../lambdas/monitor/compare';
import { retrainReason } from '../lambdas/monitor/retrain';
import { parseConfig } from '../lambdas/shared/config';
import { PipelineStateSchema } from '../lambdas/shared/contracts';
import { executionInput } from '../lambdas/trigger/batch';
import { decide, Observed, TriggerSettings } from '../lambdas/trigger/core';
import { parseMessage } from '../lambdas/trigger/messages';
import { emptyState, PendingObject, TriggerState } from '../lambdas/trigger/state';
import { statementsOf, synth } from './helpers/templates';

/**
 * Retrain on drift: the monitor's side (when a verdict asks for a retrain, in words) and the trigger's (a drift start
 * is a flush with a reason: what landed since the last run starts now, at most one run at a time, the reason carried
 * into the manifest, the run record and the execution input). The whole path runs end to end in
 * test/e2e-monitoring.test.ts.
 */

const settings: TriggerSettings = { enabled: true, mode: 'quiet', quietPeriodSeconds: 3600, maxWaitSeconds: 7200, dataBucket: 'data' };
const idle: Observed = { othersRunning: [] };
const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + s * 1000);
const obj = (key: string, arrived: number): PendingObject => ({ key, size: 10, etag: `"${key}"`, sequencer: '01', arrivedAt: at(arrived).toISOString() });
const BECAUSE = 'drift in production traffic, window 20261201T1100Z-20261201T1200Z, champion run-1: 2 drifted feature(s): plan, tenure_months (report s3://a/monitoring/x/report.html)';

function report(verdict: MonitorReport['verdict'], drifted: string[], predictions: boolean): MonitorReport {
  return { verdict, driftedFeatures: drifted, predictions: { drifted: predictions, columns: [] }, window: { id: 'W', start: '', end: '' }, champion: { executionName: 'run-1' } } as unknown as MonitorReport;
}

describe('when the monitor asks for a retrain', () => {
  const config = (retrainOnDrift: Record<string, unknown>) => parseConfig({ monitoring: { retrainOnDrift } }).monitoring.retrainOnDrift;

  test('only on a drift verdict that meets the bar, with the verdict in words (at most 500 characters)', () => {
    expect(retrainReason(report('drift', ['plan'], false), config({ enabled: false }), 'r')).toBeUndefined();
    expect(retrainReason(report('issues', [], false), config({ enabled: true }), 'r')).toBeUndefined();
    expect(retrainReason(report('drift', ['plan'], false), config({ enabled: true, minDriftedFeatures: 2, onPredictionDrift: false }), 'r')).toBeUndefined();
    expect(retrainReason(report('drift', ['plan'], true), config({ enabled: true, minDriftedFeatures: 2 }), 'r')).toBe(
      'drift in production traffic, window W, champion run-1: 1 drifted feature(s): plan; the prediction distribution shifted (report r)',
    );
    const long = retrainReason(report('drift', Array.from({ length: 80 }, (_, i) => `feature_${i}`), false), config({ enabled: true }), 's3://bucket/monitoring/W/report.html')!;
    expect(long.length).toBe(500);
    expect(long).toMatch(/\.\.\. \(report s3:\/\/bucket\/monitoring\/W\/report\.html\)$/);
  });

  test('the drift message is one the trigger reads; a bad one names what it expected', () => {
    expect(parseMessage(JSON.stringify({ relearn: 'drift', because: BECAUSE }))).toEqual({ kind: 'drift', because: BECAUSE });
    expect(() => parseMessage(JSON.stringify({ relearn: 'drift' }))).toThrow(/"relearn": "tick" \| "schedule" \| "start" \| "drift"/);
  });
});

describe('the trigger on a drift start', () => {
  const flush = { kind: 'flush' as const, by: 'drift' as const, because: BECAUSE };

  test('what has landed starts now (not after the quiet period), as one run whose manifest, record and input carry the reason', () => {
    // GIVEN two objects landed a minute ago (the quiet period is an hour)
    const landed = decide(emptyState(at(0)), [{ kind: 'object', object: obj('incoming/a.csv', 0) }, { kind: 'object', object: obj('incoming/b.csv', 1) }], settings, idle, at(60));
    expect(landed.state.inFlight).toBeUndefined();
    // WHEN the monitor's drift start arrives
    const d = decide(landed.state, [flush], settings, idle, at(61));
    // THEN
    expect(d.manifest).toMatchObject({ reason: 'drift', because: BECAUSE, objects: [{ key: 'incoming/a.csv' }, { key: 'incoming/b.csv' }] });
    expect(d.state.inFlight).toMatchObject({ reason: 'drift', because: BECAUSE, objects: 2 });
    expect(d.state.inFlight!.executionName).toMatch(/^drift-20261201T120101Z-[0-9a-f]{10}$/);
    const input = JSON.parse(executionInput(d.state.inFlight!, { dataBucket: 'data', artifactsBucket: 'artifacts' }));
    expect(input).toEqual({ source: { bucket: 'data', manifest: `s3://artifacts/trigger/manifests/${d.state.inFlight!.executionName}.json` }, trigger: { reason: 'drift', because: BECAUSE } });
    // The state machine's handlers read the reason with the state (PipelineStateSchema keeps it).
    expect(PipelineStateSchema.parse(input).trigger).toEqual({ reason: 'drift', because: BECAUSE });
  });

  test('the monitor firing again while that run is in flight starts nothing more, and says why', () => {
    const started = decide(decide(emptyState(at(0)), [{ kind: 'object', object: obj('incoming/a.csv', 0) }], settings, idle, at(10)).state, [flush], settings, idle, at(11)).state;
    const running: Observed = { inFlight: { status: 'RUNNING' }, othersRunning: [] };
    const again = decide(started, [flush], settings, running, at(3600));
    expect(again.manifest).toBeUndefined();
    expect(again.state.inFlight!.executionName).toBe(started.inFlight!.executionName);
    // when it ends, the pending drift flush finds nothing new: no second run
    const ended = decide(again.state, [{ kind: 'wake', why: 'ended' }], settings, { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] }, at(3700));
    expect(ended.manifest).toBeUndefined();
    expect(ended.state.inFlight).toBeUndefined();
    expect(ended.notes).toContain('drift: nothing new to train on (drift retrains on data that landed since the last run)');
  });

  test('nothing landed since the last run: nothing starts (the same data would give the same model)', () => {
    const d = decide(emptyState(at(0)), [flush], settings, idle, at(5));
    expect(d.manifest).toBeUndefined();
    expect(d.state.flush).toBeUndefined();
    expect(d.notes).toContain('drift: nothing new to train on (drift retrains on data that landed since the last run)');
  });

  test('a schedule tick meanwhile does not erase the drift reason', () => {
    const running: Observed = { inFlight: { status: 'RUNNING' }, othersRunning: [] };
    const inFlight: TriggerState = { ...emptyState(at(0)), inFlight: { executionName: 'data-x', manifestKey: 'k', reason: 'data', objects: 1, bytes: 1, createdAt: at(0).toISOString(), startedAt: at(0).toISOString() } };
    let s = decide(inFlight, [{ kind: 'object', object: obj('incoming/new.csv', 1) }, flush], settings, running, at(2)).state;
    s = decide(s, [{ kind: 'flush', by: 'schedule' }], settings, running, at(3)).state;
    const next = decide(s, [{ kind: 'wake', why: 'ended' }], settings, { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] }, at(4));
    expect(next.manifest).toMatchObject({ reason: 'drift', because: BECAUSE, objects: [{ key: 'incoming/new.csv' }] });
  });
});

describe('the template with retrain on drift', () => {
  const compareOf = (t: Template) => Object.entries(t.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('PipelineMonitoringCompareFunction'))![1];
  const compareStatements = (t: Template) => statementsOf(t, 'PipelineMonitoringCompareFunctionRole');

  test('on: CompareWithBaseline may send to the trigger queue, and knows its URL; off: neither', () => {
    const on = synth({ monitoring: { retrainOnDrift: { enabled: true } } }).pipeline;
    expect(compareOf(on).Properties.Environment.Variables.TRIGGER_QUEUE_URL).toEqual({ Ref: expect.stringMatching(/^PipelineTriggerQueue/) });
    const send = compareStatements(on).filter((s) => ([] as string[]).concat(s.Action).includes('sqs:SendMessage'));
    expect(send.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^PipelineTriggerQueue/), 'Arn'] }]);
    const off = synth({}).pipeline;
    expect(compareOf(off).Properties.Environment.Variables.TRIGGER_QUEUE_URL).toBeUndefined();
    expect(compareStatements(off).some((s) => ([] as string[]).concat(s.Action).includes('sqs:SendMessage'))).toBe(false);
  });
});
