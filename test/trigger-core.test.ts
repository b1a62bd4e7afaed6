import { decide, Observed, TriggerInput, TriggerSettings } from '../lambdas/trigger/core';
import { buildRun, compareSequencers, emptyState, executionNameOf, PendingObject, TriggerState } from '../lambdas/trigger/state';

/**
 * The trigger's pure decisions (lambdas/trigger/core.ts). The queue semantics around them (redelivery, batching,
 * partial failures, conditional writes) are exercised through the bundled handler in trigger-queue.test.ts.
 */

const quiet: TriggerSettings = { enabled: true, mode: 'quiet', quietPeriodSeconds: 60, maxWaitSeconds: 600, dataBucket: 'data' };
const idle: Observed = { othersRunning: [] };
const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + s * 1000);
const obj = (key: string, seq: string, arrived: number, etag = `"${key}-${seq}"`): PendingObject => ({ key, size: 10, etag, sequencer: seq, arrivedAt: at(arrived).toISOString() });
const arrive = (...objects: PendingObject[]): TriggerInput[] => objects.map((object) => ({ kind: 'object', object }));

function run(state: TriggerState, inputs: TriggerInput[], seconds: number, observed: Observed = idle, settings = quiet) {
  return decide(state, inputs, settings, observed, at(seconds));
}

describe('quiet mode', () => {
  test('arrivals wait out the quiet period (a delayed wake-up is sent for it), then one run takes them all', () => {
    // GIVEN three objects in a burst
    const d1 = run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0), obj('incoming/b.csv', '01', 1), obj('incoming/c.csv', '01', 2)), 3);
    // THEN nothing starts yet, and a wake-up is due when the last arrival is 60 s old
    expect(d1.state.inFlight).toBeUndefined();
    expect(d1.state.pending.map((p) => p.key)).toEqual(['incoming/a.csv', 'incoming/b.csv', 'incoming/c.csv']);
    expect(d1.tickInSeconds).toBe(59);
    // WHEN a fourth one lands before then, the wake-up already sent comes early and re-checks: no second one
    const d2 = run(d1.state, arrive(obj('incoming/d.csv', '01', 30)), 31);
    expect(d2.tickInSeconds).toBeUndefined();
    // WHEN the early wake-up comes, it schedules the next one for the new due time
    const d3 = run(d2.state, [{ kind: 'wake', why: 'tick' }], 62);
    expect(d3.state.inFlight).toBeUndefined();
    expect(d3.tickInSeconds).toBe(28);
    // WHEN arrivals have paused for the quiet period
    const d4 = run(d3.state, [{ kind: 'wake', why: 'tick' }], 90);
    expect(d4.manifest?.objects.map((o) => o.key)).toEqual(['incoming/a.csv', 'incoming/b.csv', 'incoming/c.csv', 'incoming/d.csv']);
    expect(d4.state.inFlight).toMatchObject({ executionName: d4.manifest!.executionName, objects: 4, reason: 'data' });
    expect(d4.state.pending).toEqual([]);
    expect(Object.keys(d4.state.consumed)).toHaveLength(4);
  });

  test('a steady trickle starts a run at the latest maxWaitSeconds after the first arrival', () => {
    let s = emptyState(at(0));
    for (let t = 0; t < 600; t += 30) s = run(s, arrive(obj(`incoming/f${t}.csv`, '01', t)), t).state;
    expect(s.inFlight).toBeUndefined();
    const d = run(s, arrive(obj('incoming/late.csv', '01', 600)), 600);
    expect(d.state.inFlight?.objects).toBe(21);
  });

  test('duplicated and reordered events change nothing; a newer version of a taken key is new data', () => {
    const a1 = obj('incoming/a.csv', '0064D3901D00059242', 0);
    const started = run(run(emptyState(at(0)), arrive(a1), 0).state, [], 61).state;
    expect(started.inFlight?.objects).toBe(1);
    const ended: Observed = { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] };
    // the same event again, and an older version of the key delivered late (shorter sequencer: left-padded)
    const older = obj('incoming/a.csv', '64D3901D00059241', 0, '"old"');
    const d = run(started, arrive(a1, older), 70, ended);
    expect(d.state.pending).toEqual([]);
    expect(d.state.inFlight).toBeUndefined();
    expect(d.notes.join(' ')).toMatch(/0 new object\(s\), 2 duplicate or stale/);
    // a newer version of the same key is pending again
    const newer = obj('incoming/a.csv', '0064D3901D00059299', 80, '"new"');
    expect(run(d.state, arrive(newer), 80).state.pending.map((p) => p.etag)).toEqual(['"new"']);
    // within one batch, the newer version wins whatever the delivery order
    const twice = run(emptyState(at(0)), arrive(obj('incoming/b.csv', '0002', 0, '"v2"'), obj('incoming/b.csv', '0001', 0, '"v1"')), 1);
    expect(twice.state.pending.map((p) => p.etag)).toEqual(['"v2"']);
  });

  test('what lands during a run waits; when the run ends it goes into exactly one follow-up run', () => {
    const first = run(run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 0).state, [], 61).state;
    const running: Observed = { inFlight: { status: 'RUNNING' }, othersRunning: [] };
    let s = run(first, arrive(obj('incoming/b.csv', '01', 100)), 100, running).state;
    s = run(s, arrive(obj('incoming/c.csv', '01', 700)), 700, running).state;
    expect(s.inFlight?.executionName).toBe(first.inFlight!.executionName);
    expect(s.pending).toHaveLength(2);
    // WHEN the run ends (its status change, or any later look), both go into one follow-up run
    const d = run(s, [{ kind: 'wake', why: 'ended' }], 800, { inFlight: { status: 'FAILED', stopDate: at(790).toISOString() }, othersRunning: [] });
    expect(d.state.history[0]).toMatchObject({ executionName: first.inFlight!.executionName, status: 'FAILED', endedAt: at(790).toISOString() });
    expect(d.manifest?.objects.map((o) => o.key)).toEqual(['incoming/b.csv', 'incoming/c.csv']);
    // AND a second look at the same end starts nothing more
    const again = run(d.state, [{ kind: 'wake', why: 'ended' }], 801, { inFlight: { status: 'MISSING' }, othersRunning: [] });
    expect(again.manifest).toBeUndefined();
    expect(again.state.inFlight?.executionName).toBe(d.manifest!.executionName);
  });

  test('an execution started by hand blocks the next run until it ends', () => {
    const s = run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 0).state;
    const d = run(s, [], 120, { othersRunning: ['arn:aws:states:us-east-1:1:execution:relearn-retrain:by-hand'] });
    expect(d.state.inFlight).toBeUndefined();
    expect(d.state.blockedBy).toMatch(/by-hand$/);
    expect(d.tickInSeconds).toBeUndefined();
    expect(run(d.state, [], 130).state.inFlight?.objects).toBe(1);
  });

  test('a schedule tick starts what is pending at once; with nothing new it starts nothing', () => {
    const s = run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 0).state;
    const d = run(s, [{ kind: 'flush', by: 'schedule' }], 5);
    expect(d.state.inFlight).toMatchObject({ reason: 'schedule', objects: 1 });
    const nothing = run(emptyState(at(0)), [{ kind: 'flush', by: 'schedule' }], 5);
    expect(nothing.state.inFlight).toBeUndefined();
    expect(nothing.state.flush).toBeUndefined();
    expect(nothing.notes).toContain('schedule: nothing new to train on');
  });

  test('a run asked for by hand waits its turn and is queued once, however often the request is delivered', () => {
    const { record } = buildRun([{ key: 'incoming/old/x.csv', size: 5, etag: '"x"' }], 'start', 'data', at(0));
    const running: Observed = { inFlight: { status: 'RUNNING' }, othersRunning: [] };
    const first = run(run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 0).state, [], 61).state;
    const q = run(first, [{ kind: 'queue-run', record }, { kind: 'queue-run', record }], 70, running).state;
    expect(q.queued.map((r) => r.executionName)).toEqual([record.executionName]);
    const next = run(q, [], 80, { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] });
    expect(next.state.inFlight?.executionName).toBe(record.executionName);
    expect(next.manifest).toBeUndefined(); // its manifest was written when it was queued
  });

  test('disabled: arrivals start nothing', () => {
    const d = run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 500, idle, { ...quiet, enabled: false });
    expect(d.state.pending).toEqual([]);
  });
});

describe('marker mode', () => {
  const marker: TriggerSettings = { ...quiet, mode: 'marker' };
  test('objects alone start nothing; a marker starts a run of exactly what it covers, at once', () => {
    const s = run(emptyState(at(0)), arrive(obj('incoming/b1/a.csv', '01', 0)), 1, idle, marker).state;
    expect(s.pending).toEqual([]);
    const covered = [obj('incoming/b1/a.csv', '01', 0), obj('incoming/b1/b.csv', '01', 0)];
    const d = run(s, [{ kind: 'batch', marker: 'incoming/b1/_SUCCESS', objects: covered }], 2, idle, marker);
    expect(d.manifest).toMatchObject({ reason: 'marker', objects: [{ key: 'incoming/b1/a.csv' }, { key: 'incoming/b1/b.csv' }] });
    // the same marker delivered again covers nothing new
    const again = run(d.state, [{ kind: 'batch', marker: 'incoming/b1/_SUCCESS', objects: covered.map(({ sequencer: _s, ...o }) => o) }], 3, { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] }, marker);
    expect(again.manifest).toBeUndefined();
    expect(again.state.pending).toEqual([]);
  });
});

describe('names and order', () => {
  test('the execution name derives from the manifest: same content, same name; at most 80 characters', () => {
    const objects = [{ key: 'incoming/a.csv', size: 1, etag: '"e"' }];
    const a = buildRun(objects, 'data', 'data', at(0));
    const b = buildRun(objects, 'data', 'data', at(0));
    const c = buildRun([{ ...objects[0], etag: '"f"' }], 'data', 'data', at(0));
    expect(a.record.executionName).toBe(b.record.executionName);
    expect(a.record.executionName).not.toBe(c.record.executionName);
    expect(a.record.executionName).toMatch(/^data-20261201T120000Z-[0-9a-f]{10}$/);
    expect(executionNameOf({ reason: 'schedule', createdAt: at(0).toISOString(), bucket: 'd', objects }).length).toBeLessThanOrEqual(80);
    expect(a.record.manifestKey).toBe(`trigger/manifests/${a.record.executionName}.json`);
  });

  test("sequencers compare as S3 says: left-pad the shorter with zeros", () => {
    expect(compareSequencers('0A', 'A')).toBe(0);
    expect(compareSequencers('FF', '100')).toBe(-1);
    expect(compareSequencers('0064D3901D00059242', '64D3901D00059241')).toBe(1);
  });

  test('what a run took is forgotten after 15 days (no duplicate can arrive later)', () => {
    const s = run(run(emptyState(at(0)), arrive(obj('incoming/a.csv', '01', 0)), 0).state, [], 61).state;
    const later = run(s, [], 16 * 86400, { inFlight: { status: 'SUCCEEDED' }, othersRunning: [] }).state;
    expect(later.consumed).toEqual({});
  });
});
