import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../local/cli';
import { findPythonWithSklearn } from '../local/commands/common';
import type { StatusReport } from '../local/status';
import { startWatch, WatchEvent, WatchSession } from '../local/watch';
import { REPO_ROOT } from '../local/synth';
import { waitFor } from './helpers/trigger-harness';

/**
 * `relearn local watch` end to end (issue 10): files dropped into the local landing zone go through the synthesized
 * EventBridge rule, trigger queue and bundled trigger Lambda (each function as its own role, IAM enforced) and start
 * real executions of the state machine (real training): a burst gives one run; a file dropped during that run gives
 * exactly one follow-up run, once the first has ended.
 */
jest.setTimeout(900_000);

const QUIET = 3;
let dir: string;
let session: WatchSession;
const events: WatchEvent[] = [];

// The example's 5,000 rows in four files (a producer's burst) and one more file from another day.
const lines = readFileSync(join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-clean.csv'), 'utf8').trimEnd().split('\n');
const [header, ...rows] = lines;
const part = (i: number, n: number) => [header, ...rows.filter((_, r) => r % n === i)].join('\n') + '\n';
const day2 = readFileSync(join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-day2.csv'), 'utf8');

/** Writes as a producer should: to a temporary name, then renamed into place. */
const drop = (rel: string, body: string) => {
  const full = join(session.dir, rel);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(`${full}.tmp`, body);
  renameSync(`${full}.tmp`, full);
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-watch-'));
  // A config file, so `relearn status --local` afterwards finds the same pipeline (and its synthesized app).
  writeFileSync(join(dir, 'relearn.config.json'), JSON.stringify({ name: 'watched', trigger: { quietPeriodSeconds: QUIET, maxWaitSeconds: 600 } }));
  session = await startWatch({
    projectDir: dir,
    python: findPythonWithSklearn(),
    onEvent: (e) => events.push(e),
  });
}, 600_000);
afterAll(async () => {
  await session?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

test('a burst of files gives one run; a file dropped during that run gives exactly one follow-up run', async () => {
  // GIVEN the watcher is ready
  expect(events[0]).toMatchObject({ type: 'ready', mode: 'quiet', quietPeriodSeconds: QUIET, enforceIam: true });
  // WHEN a producer drops four files in a burst
  for (let i = 0; i < 4; i++) drop(`day1/part-${i}.csv`, part(i, 4));
  await waitFor('the first run started', () => session.runs.length >= 1, 120_000);
  const first = session.runs[0];
  // THEN one run with exactly those four objects
  expect(first.keys).toEqual([0, 1, 2, 3].map((i) => `incoming/day1/part-${i}.csv`));
  expect(first.reason).toBe('data');
  expect(first.status).toBe('RUNNING');

  // WHEN a file lands while that run is running
  drop('day2/churn-day2.csv', day2);
  await waitFor('the late file landed', () => events.some((e) => e.type === 'landed' && e.key === 'incoming/day2/churn-day2.csv'), 60_000);
  expect(first.status).toBe('RUNNING'); // (it landed during the run)
  // THEN it waits for the run's end, then exactly one follow-up run takes it
  await waitFor('the follow-up run started', () => session.runs.length >= 2, 600_000);
  expect(first.status).not.toBe('RUNNING');
  expect(session.runs[1].keys).toEqual(['incoming/day2/churn-day2.csv']);
  await waitFor('the follow-up run ended', () => session.runs[1].status !== 'RUNNING', 600_000);
  // AND nothing else starts once arrivals stay quiet (the quiet period, the batching window and more)
  await new Promise((r) => setTimeout(r, (QUIET + 10) * 1000));
  expect(session.runs).toHaveLength(2);
  // Both were real executions of the pipeline, which succeeded.
  expect(session.runs.map((r) => ({ status: r.status, error: r.error }))).toEqual([
    { status: 'SUCCEEDED', error: undefined },
    { status: 'SUCCEEDED', error: undefined },
  ]);
  // The figure the issue asks for: time from the last object of the burst to the execution's start.
  const landed = events.filter((e): e is Extract<WatchEvent, { type: 'landed' }> => e.type === 'landed');
  const lastOfBurst = Math.max(...landed.filter((e) => e.key.startsWith('incoming/day1/')).map((e) => e.at));
  const sinceLast = first.startedAt - lastOfBurst;
  expect(first.sinceLastObjectMs).toBe(first.startedAt - Math.max(...landed.filter((e) => e.at <= first.startedAt).map((e) => e.at)));
  process.stderr.write(`relearn local watch: last object of the burst -> execution start: ${(sinceLast / 1000).toFixed(2)} s (quiet period ${QUIET} s)\n`);
});

test('relearn status --local then shows both runs with why they ran, nothing pending, the champion and the endpoint', async () => {
  await session.stop();
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) }, cwd: dir };
  expect(await main(['status', '--local', '--json'], io)).toBe(0);
  const report = JSON.parse(out.join('')) as StatusReport;
  const [second, first] = session.runs.slice(-2).reverse();
  expect(report.executions.map((e) => ({ name: e.name, status: e.status, reason: e.reason, objects: e.objects }))).toEqual([
    { name: second.executionName, status: 'SUCCEEDED', reason: 'data', objects: 1 },
    { name: first.executionName, status: 'SUCCEEDED', reason: 'data', objects: 4 },
  ]);
  for (const e of report.executions) {
    expect(e.durationSeconds).toBeGreaterThan(0);
    // Each run's cost at list prices, counted from its own history (kept by the local Step Functions) and its job
    expect(e.cost).toMatchObject({ currency: 'USD', pricesAsOf: '2026-12-01' });
    expect(e.cost!.stateTransitions).toBeGreaterThan(15);
    expect(e.cost!.lambdaGbSeconds).toBeGreaterThan(0);
    expect(e.cost!.trainingUsd).toBeGreaterThan(0);
    expect(e.cost!.orchestrationUsd).toBeLessThan(0.01);
    expect(e.cost!.totalUsd).toBeCloseTo(e.cost!.orchestrationUsd + e.cost!.trainingUsd!, 12);
  }
  expect(report.next).toEqual({ pending: { objects: 0, bytes: 0 }, queued: [] });
  expect(report.champion?.metric.name).toBeTruthy();
  expect(report.endpoint.status).toBe('InService');
  // The same in words
  out.length = 0;
  expect(await main(['status', '--local'], io)).toBe(0);
  expect(out.join('')).toMatch(/SUCCEEDED +data-\S+ .*\(data, 1 object\(s\)\)/);
  expect(out.join('')).toMatch(/Next run: nothing pending/);
  expect(out.join('')).toMatch(/cost \$0\.\d{4}: orchestration \$0\.\d{4} \(\d+ transitions, [\d.]+ Lambda GB-s\), training \$/);
  expect(out.join('')).toMatch(/Endpoint: \S+ InService/);
}, 300_000);
