import { Readable } from 'node:stream';
import { ChurnVariant, generateChurn } from '../examples/churn/generate';
import { Baselines, compareWindow, CompareInput } from '../lambdas/monitor/compare';
import { buildPlan } from '../lambdas/monitor/core';
import { monitoringStatusLine } from '../lambdas/monitor/status';
import { captureRecord, parseCaptureLine, payloadBody, payloadText, requestRows, responsePredictions, UnreadableBody } from '../lambdas/monitor/capture';
import { MonitorWindow, parseWindow, scheduledWindow, windowOf } from '../lambdas/monitor/window';
import { mergeShards, MonitorPlan, predictionPlan, predictionValues, WindowStatsBuilder } from '../lambdas/monitor/window-stats';
import { parseConfig, RelearnConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { CsvStatsScanner, DatasetSchema, DatasetStatsJson, inferSchema, planFor, statsOfCsv } from '../lambdas/shared/stats';
import { openTable, Value, writeCsvRow } from '../lambdas/shared/tabular';
import { mulberry32 } from '../lambdas/shared/random';

/**
 * The monitor's pure core on captured traffic drawn from the churn example generator (examples/churn/generate.ts),
 * against baselines computed by the validation engine from the generator's clean data: what ValidateData writes for
 * a champion. The features the generator's `shift` variant moves are usage, tenure, support tickets and the plan.
 */

const SHIFTED = ['monthly_usage_hours', 'plan', 'support_tickets', 'tenure_months'];
const WINDOW: MonitorWindow = windowOf(new Date('2026-11-29T00:00Z'), new Date('2026-11-30T00:00Z'));
const IN_WINDOW = new Date('2026-11-29T09:30:00Z');
/** The support tickets' shift (Poisson 1.5 -> 2.2) measures ~0.05 Jensen-Shannon: under validation's default 0.1. */
const SENSITIVE: RelearnConfigInput = {
  dataset: { labelColumn: 'churned', idColumn: 'customer_id' },
  monitoring: { minRows: 200, drift: { numericJs: 0.03 } },
};

async function csvOf(rows: number, seed: number, variant: ChurnVariant = 'clean'): Promise<string> {
  const parts: string[] = [];
  for await (const c of generateChurn({ rows, seed, variant })) parts.push(c as string);
  return parts.join('');
}

async function table(csv: string): Promise<{ columns: string[]; rows: Value[][] }> {
  const t = await openTable(Readable.from([Buffer.from(csv)]), { format: 'csv', file: 'generated.csv' });
  const rows: Value[][] = [];
  for await (const r of t.rows) rows.push(r.values);
  return { columns: t.columns, rows };
}

/** What a champion carries: its dataset's statistics and schema (ValidateData's), and its validation predictions. */
async function championBaselines(config: RelearnConfig, predictions: (number | number[])[], plan?: MonitorPlan): Promise<Baselines> {
  const csv = await csvOf(5000, 1);
  const { columns, rows } = await table(csv);
  const statsPlan = planFor(columns, rows.slice(0, 2000), { labelColumn: 'churned' });
  const stats = await statsOfCsv(Readable.from([Buffer.from(csv)]), statsPlan, { file: 'champion.csv' });
  const schema: DatasetSchema = { ...inferSchema(stats, 'churned'), source: 'champion' };
  const p = plan ?? buildPlan(config, schema, { columns: [], rows: [] }, WINDOW);
  return {
    ref: { executionName: 'champion-run', promotedAt: '2026-11-28T00:00:00Z', modelPackageArn: 'arn:pkg/1', statsUri: 's3://a/stats.json', schemaUri: 's3://a/schema.json' },
    schema,
    features: stats.toJSON(),
    predictions: predictions.length ? predictionStats(p, predictions) : null,
  };
}

function predictionStats(plan: MonitorPlan, scores: (number | number[])[]): DatasetStatsJson {
  const scanner = new CsvStatsScanner(plan.predictions, { file: 'predictions.jsonl' });
  scanner.push(Buffer.from(writeCsvRow(plan.predictions.columns.map((c) => c.name))));
  scanner.push(Buffer.from(scores.map((s) => writeCsvRow(predictionValues(s, plan))).join('')));
  return scanner.end().toJSON();
}

/** Captured JSON requests of `perRequest` rows each (the label left out, numbers as JSON numbers) and their responses. */
async function traffic(opts: { rows: number; seed: number; variant?: ChurnVariant; perRequest?: number; drop?: string[]; score: (i: number) => number | number[]; csv?: boolean; edit?: (row: Value[], columns: string[], i: number) => void }) {
  const { columns, rows } = await table(await csvOf(opts.rows, opts.seed, opts.variant));
  if (opts.edit) rows.forEach((r, i) => opts.edit!(r, columns, i));
  const keep = columns.map((c, i) => ({ c, i })).filter(({ c }) => c !== 'churned' && !(opts.drop ?? []).includes(c));
  const lines: string[] = [];
  const per = opts.perRequest ?? 10;
  for (let r = 0; r < rows.length; r += per) {
    const batch = rows.slice(r, r + per);
    const body = opts.csv
      ? writeCsvRow(keep.map((k) => k.c)) + batch.map((row) => writeCsvRow(keep.map((k) => row[k.i]))).join('')
      : JSON.stringify({ instances: batch.map((row) => Object.fromEntries(keep.map(({ c, i }) => [c, row[i] !== null && /^-?\d+(\.\d+)?$/.test(row[i]!) ? Number(row[i]) : row[i]]))) });
    const predictions = batch.map((_, j) => opts.score(r + j));
    const rec = captureRecord({
      input: { body: Buffer.from(body), contentType: opts.csv ? 'text/csv' : 'application/json' },
      output: { body: Buffer.from(JSON.stringify({ predictions })), contentType: 'application/json' },
      time: new Date(IN_WINDOW.getTime() + r * 1000),
    });
    lines.push(JSON.stringify(rec));
  }
  return lines;
}

function monitor(config: RelearnConfig, baselines: Baselines, lines: string[], extra: Partial<CompareInput> = {}) {
  const plan = buildPlan(config, baselines.schema, { columns: [], rows: [] }, WINDOW);
  const builder = new WindowStatsBuilder(plan);
  lines.forEach((l, i) => builder.addLine(l, 'capture.jsonl', i + 1));
  return compareWindow({ window: WINDOW, plan, merged: mergeShards([builder.finish()], plan), baselines, config, failures: { invocations: lines.length, errors4xx: 0, errors5xx: 0 }, ...extra });
}

/** Scores like a churn model's: mostly low probabilities (seeded). */
const lowScores = (seed: number) => {
  const r = mulberry32(seed);
  return (i: number) => Number((0.05 + 0.5 * r() * r() + (i % 7) * 0.01).toFixed(4));
};

describe('the monitor on captured traffic', () => {
  const config = parseConfig(SENSITIVE);
  let baselines: Baselines;
  beforeAll(async () => {
    const r = lowScores(3);
    baselines = await championBaselines(config, Array.from({ length: 1000 }, (_, i) => r(i)));
  });

  test('traffic drawn from the training distribution raises nothing', async () => {
    // GIVEN 3,000 rows from the clean generator (another seed), scored like the champion's validation rows
    const lines = await traffic({ rows: 3000, seed: 21, score: lowScores(4) });
    // WHEN
    const report = monitor(config, baselines, lines);
    // THEN
    expect({ verdict: report.verdict, findings: report.findings, drifted: report.driftedFeatures }).toEqual({ verdict: 'ok', findings: [], drifted: [] });
    expect(report.predictions.drifted).toBe(false);
    expect(report.counts).toMatchObject({ requests: 300, rows: 3000, predictions: 3000, unreadableRequests: 0, outsideWindow: 0 });
    expect(report.features.map((f) => f.name).sort()).toEqual(['company_size', 'country', 'last_message', 'monthly_usage_hours', 'plan', 'seats', 'support_tickets', 'tenure_months']);
  });

  test("the generator's shifted variant drifts on exactly the shifted features", async () => {
    // GIVEN the shift variant (less usage, shorter tenure, more tickets, more free plans), as CSV requests
    const lines = await traffic({ rows: 3000, seed: 22, variant: 'shift', score: lowScores(5), csv: true });
    // WHEN
    const report = monitor(config, baselines, lines);
    // THEN
    expect(report.verdict).toBe('drift');
    expect([...report.driftedFeatures].sort()).toEqual(SHIFTED);
    expect(report.features.filter((f) => !SHIFTED.includes(f.name)).every((f) => !f.drifted && (f.driftScore ?? 0) < 1)).toBe(true);
    for (const name of SHIFTED) expect(report.features.find((f) => f.name === name)!.driftScore).toBeGreaterThan(1);
    expect(report.summary).toMatch(/drift on 4 features \(monthly_usage_hours, tenure_months, support_tickets, plan\)/);
    // The drifted features carry their histograms, baseline vs live.
    const plan = report.features.find((f) => f.name === 'plan')!;
    expect(plan.histogram.find((b) => b.label === 'free')).toMatchObject({ baseline: expect.closeTo(0.3, 1), live: expect.closeTo(0.55, 1) });
  });

  test("with validation's default thresholds the tickets' small shift stays under 0.1 (the docs say so)", async () => {
    const defaults = parseConfig({ ...SENSITIVE, monitoring: { minRows: 200 } });
    const lines = await traffic({ rows: 3000, seed: 22, variant: 'shift', score: lowScores(5) });
    const report = monitor(defaults, baselines, lines);
    expect(report.driftedFeatures).toContain('monthly_usage_hours');
    expect(report.driftedFeatures).not.toContain('support_tickets');
    expect(report.features.find((f) => f.name === 'support_tickets')!.measures[0]).toMatchObject({ name: 'Jensen-Shannon divergence', threshold: 0.1 });
  });

  test('one drifted feature is enough for a drift verdict, and only that feature drifts', async () => {
    // GIVEN clean traffic in which every other customer's country became "IN"
    const lines = await traffic({ rows: 2000, seed: 31, score: lowScores(12), edit: (row, columns, i) => i % 2 === 0 && (row[columns.indexOf('country')] = 'IN') });
    const report = monitor(config, baselines, lines);
    expect({ verdict: report.verdict, drifted: report.driftedFeatures }).toEqual({ verdict: 'drift', drifted: ['country'] });
    expect(report.findings[0]).toMatch(/^column "country": category "IN" moved from [\d.]+% to 5\d\.\d% of values/);
  });

  test('a feature missing from every request is reported as missing', async () => {
    // GIVEN requests without support_tickets
    const lines = await traffic({ rows: 1000, seed: 23, drop: ['support_tickets'], score: lowScores(6) });
    // WHEN
    const report = monitor(config, baselines, lines);
    // THEN
    expect(report.missingFeatures).toEqual(['support_tickets']);
    expect(report.verdict).toBe('issues');
    expect(report.findings).toContain('column "support_tickets" is missing (required by the champion schema)');
    expect(report.summary).toMatch(/missing from requests: support_tickets/);
    expect(report.driftedFeatures).toEqual([]);
  });

  test('a feature missing from some requests is a null-share change, and an unknown one a new feature', async () => {
    const lines = [
      ...(await traffic({ rows: 600, seed: 24, drop: ['seats'], score: lowScores(7) })),
      ...(await traffic({ rows: 600, seed: 25, score: lowScores(8) })),
    ];
    lines.push(JSON.stringify(captureRecord({ input: { body: Buffer.from('{"discount_code":"X1","seats":3}'), contentType: 'application/json' }, time: IN_WINDOW })));
    const report = monitor(config, baselines, lines);
    expect(report.missingFeatures).toEqual([]);
    expect(report.findings.find((f) => f.startsWith('column "seats"'))).toMatch(/50\.0% of values are missing, expected at most 20\.0%/);
    expect(report.newFeatures).toEqual(['discount_code']);
  });

  test('a shift of the prediction distribution is reported, on its own', async () => {
    // GIVEN clean features, but scores pushed up (as a broken model or a changed upstream would)
    const lines = await traffic({ rows: 2000, seed: 26, score: (i) => 0.6 + (i % 40) / 100 });
    // WHEN
    const report = monitor(config, baselines, lines);
    // THEN
    expect(report.driftedFeatures).toEqual([]);
    expect(report.predictions.drifted).toBe(true);
    expect(report.verdict).toBe('drift');
    expect(report.findings.some((f) => /^predictions: column "prediction": Jensen-Shannon/.test(f))).toBe(true);
    expect(report.findings.some((f) => /^predictions: column "predicted_label": category "1" moved/.test(f))).toBe(true);
    expect(report.summary).toMatch(/the prediction distribution shifted/);
  });

  test('too few records: the window says so and compares nothing', async () => {
    const lines = await traffic({ rows: 150, seed: 27, variant: 'shift', score: lowScores(9) });
    const report = monitor(config, baselines, lines);
    expect(report.verdict).toBe('insufficient_data');
    expect(report.summary).toBe('too few captured rows to judge: 150 in the window, at least 200 needed (monitoring.minRows); nothing was compared');
    expect(report.driftedFeatures).toEqual([]);
    expect(report.features).toEqual([]);
  });

  test('no champion: nothing to compare with', async () => {
    const lines = await traffic({ rows: 300, seed: 28, score: lowScores(9) });
    const plan = buildPlan(config, undefined, { columns: [], rows: [] }, WINDOW);
    const builder = new WindowStatsBuilder(plan);
    lines.forEach((l, i) => builder.addLine(l, 'f', i + 1));
    const report = compareWindow({ window: WINDOW, plan, merged: mergeShards([builder.finish()], plan), config, failures: { unavailable: 'no metrics' } });
    expect(report.verdict).toBe('no_baseline');
  });

  test('failed requests over monitoring.maxFailedShare are a finding', async () => {
    const lines = await traffic({ rows: 1000, seed: 29, score: lowScores(10) });
    const report = monitor(config, baselines, lines, { failures: { invocations: 200, errors4xx: 6, errors5xx: 2 } });
    expect(report.verdict).toBe('issues');
    expect(report.findings).toContain("4.0% of the endpoint's 200 invocations failed (6 4xx, 2 5xx), more than monitoring.maxFailedShare 1.0%");
  });

  test('sharded statistics merge to the statistics of the whole window', async () => {
    const lines = await traffic({ rows: 2000, seed: 30, variant: 'shift', score: lowScores(11) });
    const plan = buildPlan(config, baselines.schema, { columns: [], rows: [] }, WINDOW);
    const whole = new WindowStatsBuilder(plan);
    lines.forEach((l, i) => whole.addLine(l, 'f', i + 1));
    const shards = [0, 1, 2].map((k) => {
      const b = new WindowStatsBuilder(plan);
      lines.forEach((l, i) => i % 3 === k && b.addLine(l, 'f', i + 1));
      return b.finish();
    });
    const a = compareWindow({ window: WINDOW, plan, merged: mergeShards([whole.finish()], plan), baselines, config, failures: { unavailable: 'x' }, now: new Date(0) });
    const b = compareWindow({ window: WINDOW, plan, merged: mergeShards(shards, plan), baselines, config, failures: { unavailable: 'x' }, now: new Date(0) });
    expect(b.driftedFeatures).toEqual(a.driftedFeatures);
    expect(b.counts).toEqual(a.counts);
    const scores = (r: typeof a) => r.features.map((f) => [f.name, f.driftScore === null ? null : Number(f.driftScore.toFixed(5))]);
    expect(scores(b)).toEqual(scores(a));
  });

  test('records outside the window, unreadable bodies and bad lines are counted, with an example naming file and line', async () => {
    const plan = buildPlan(config, baselines.schema, { columns: [], rows: [] }, WINDOW);
    const b = new WindowStatsBuilder(plan);
    b.addLine(JSON.stringify(captureRecord({ input: { body: Buffer.from('{"seats":1}'), contentType: 'application/json' }, time: new Date('2026-11-30T00:00:00Z') })), 'f.jsonl', 1);
    b.addLine(JSON.stringify(captureRecord({ input: { body: Buffer.from('not json'), contentType: 'application/json' }, time: IN_WINDOW })), 'f.jsonl', 2);
    b.addLine('{"truncated', 'f.jsonl', 3);
    b.addLine(JSON.stringify(captureRecord({ input: { body: Buffer.from('{"seats":2}'), contentType: 'application/json' }, output: { body: Buffer.from('{"predictions":[0.1,0.2]}'), contentType: 'application/json' }, time: IN_WINDOW })), 'f.jsonl', 4);
    const c = b.finish().counts;
    expect(c).toMatchObject({ records: 4, outsideWindow: 1, unreadableRequests: 1, badLines: 1, mismatched: 1, rows: 1, predictions: 2 });
    expect(c.examples[0]).toMatch(/^f\.jsonl line 2: request: the request is not JSON/);
    expect(c.examples[1]).toMatch(/^f\.jsonl line 3: not a capture record: not JSON/);
    expect(c.examples[2]).toBe('f.jsonl line 4: the response has 2 predictions for 1 request rows');
  });
});

describe('the plan', () => {
  test("Contract A's schema: roles, classes and the problem type come from the champion's schema; new columns get inferred kinds", () => {
    const config = parseConfig(SENSITIVE);
    const schema = {
      version: 1,
      source: 'champion',
      labelColumn: 'topic',
      problemType: 'multiclass_classification',
      classes: ['billing', 'bug', 'other'],
      columns: [
        { name: 'ticket_id', type: 'categorical', required: true, role: 'id' },
        { name: 'words', type: 'numeric', required: true },
        { name: 'channel', type: 'categorical', required: true },
        { name: 'internal_note', type: 'text', required: true, role: 'ignore' },
        { name: 'topic', type: 'categorical', required: true, role: 'label' },
      ],
    } as unknown as DatasetSchema;
    const plan = buildPlan(config, schema, { columns: ['words', 'region'], rows: [['3', 'eu'], ['4', 'us'], ['5', 'eu']] }, WINDOW);
    expect(plan.features.columns).toEqual([
      { name: 'ticket_id', kind: 'categorical' },
      { name: 'words', kind: 'numeric' },
      { name: 'channel', kind: 'categorical' },
      { name: 'region', kind: 'categorical' },
    ]);
    expect(plan).toMatchObject({ problemType: 'multiclass_classification', classes: ['billing', 'bug', 'other'], ignore: ['topic', 'internal_note'] });
    // each class's probability is a column of its own, in the schema's class order
    expect(plan.predictions.columns.map((c) => c.name)).toEqual(['prediction', 'predicted_label', 'P(billing)', 'P(bug)', 'P(other)']);
  });

  test('a window that starts before the champion was promoted says so', async () => {
    const config = parseConfig(SENSITIVE);
    const base = await championBaselines(config, []);
    const lines = await traffic({ rows: 300, seed: 40, score: lowScores(1) });
    const report = monitor(config, { ...base, ref: { ...base.ref, promotedAt: '2026-11-29T06:00:00.000Z' } }, lines);
    expect(report.findings).toContain("the champion was promoted at 2026-11-29T06:00:00.000Z, after the window's start: traffic before that was served by the previous model");
  });
});

describe('predictions of every problem type', () => {
  test('multiclass: K probabilities per row, the predicted class named from the response; a moved class mix is reported', async () => {
    const config = parseConfig({ ...SENSITIVE, evaluation: { problemType: 'binary_classification' } });
    const plan: MonitorPlan = { ...buildPlan(config, undefined, { columns: [], rows: [] }, WINDOW), problemType: 'multiclass_classification', predictions: predictionPlan('multiclass_classification', ['billing', 'bug', 'other']), classes: ['billing', 'bug', 'other'] };
    const r = mulberry32(5);
    const probs = (hot: number) => () => {
      const p = [r() * 0.2, r() * 0.2, r() * 0.2];
      p[hot] += 0.8;
      const s = p[0] + p[1] + p[2];
      return p.map((x) => x / s);
    };
    const baselineScores = Array.from({ length: 900 }, (_, i) => probs(i % 3)());
    const base = await championBaselines(config, baselineScores, plan);
    const live = (hotOf: (i: number) => number) => {
      const b = new WindowStatsBuilder(plan);
      for (let i = 0; i < 600; i++) {
        const out = { predictions: [probs(hotOf(i))()], classes: ['billing', 'bug', 'other'], labels: ['x'] };
        b.addRecord(captureRecord({ output: { body: Buffer.from(JSON.stringify(out)), contentType: 'application/json' }, time: IN_WINDOW }));
      }
      return compareWindow({ window: WINDOW, plan, merged: mergeShards([b.finish()], plan), baselines: base, config, failures: { unavailable: 'x' } });
    };
    // WHEN the classes come as often as in the champion's validation predictions, and when "bug" takes over
    const same = live((i) => i % 3);
    const moved = live((i) => (i % 5 === 0 ? 0 : 1));
    // THEN
    expect(same.predictions).toMatchObject({ drifted: false });
    expect(moved.predictions.drifted).toBe(true);
    expect(moved.findings.find((f) => f.includes('"predicted_label"'))).toMatch(/category "bug" moved from 33\.\d% to 8\d\.\d% of values/);
  });

  test('multiclass: probability moved between the losing classes, the winner and its probability unchanged, is a shift of those classes', async () => {
    const config = parseConfig({ ...SENSITIVE, evaluation: { problemType: 'binary_classification' } });
    const classes = ['billing', 'bug', 'other'];
    const plan: MonitorPlan = { ...buildPlan(config, undefined, { columns: [], rows: [] }, WINDOW), problemType: 'multiclass_classification', predictions: predictionPlan('multiclass_classification', classes), classes };
    const r = mulberry32(6);
    // the hot class always holds ~0.7; the other 0.3 is split evenly (baseline) or almost all to one class (live)
    const probs = (hot: number, split: number) => {
      const top = 0.65 + r() * 0.1;
      const [a, b] = [0, 1, 2].filter((k) => k !== hot);
      const p = [0, 0, 0];
      p[hot] = top;
      p[a] = (1 - top) * split;
      p[b] = (1 - top) * (1 - split);
      return p;
    };
    const base = await championBaselines(config, Array.from({ length: 900 }, (_, i) => probs(i % 3, 0.4 + r() * 0.2)), plan);
    const b = new WindowStatsBuilder(plan);
    for (let i = 0; i < 600; i++) {
      const out = { predictions: [probs(i % 3, 0.9 + r() * 0.1)], classes };
      b.addRecord(captureRecord({ output: { body: Buffer.from(JSON.stringify(out)), contentType: 'application/json' }, time: IN_WINDOW }));
    }
    // WHEN
    const report = compareWindow({ window: WINDOW, plan, merged: mergeShards([b.finish()], plan), baselines: base, config, failures: { unavailable: 'x' } });
    // THEN the winner's probability and the predicted class did not move; the classes' own probabilities did
    const byName = Object.fromEntries(report.predictions.columns.map((c) => [c.name, c.drifted]));
    expect(byName).toMatchObject({ prediction: false, predicted_label: false });
    expect(report.predictions.drifted).toBe(true);
    expect(Object.entries(byName).filter(([n, d]) => n.startsWith('P(') && d).length).toBeGreaterThan(0);
  });

  test('regression: the predicted values are compared as a numeric distribution', async () => {
    const config = parseConfig({ ...SENSITIVE, evaluation: { problemType: 'regression' } });
    const r = mulberry32(9);
    const plan = buildPlan(config, undefined, { columns: [], rows: [] }, WINDOW);
    expect(plan.predictions.columns.map((c) => c.name)).toEqual(['prediction']);
    const base = await championBaselines(config, Array.from({ length: 1000 }, () => 30 + 10 * r()), plan);
    const b = new WindowStatsBuilder(plan);
    for (let i = 0; i < 400; i++) b.addRecord(captureRecord({ output: { body: Buffer.from(`${45 + 10 * r()}\n`), contentType: 'text/csv' }, time: IN_WINDOW }));
    const report = compareWindow({ window: WINDOW, plan, merged: mergeShards([b.finish()], plan), baselines: base, config, failures: { unavailable: 'x' } });
    expect(report.predictions.drifted).toBe(true);
    expect(report.anomalies.filter((a) => a.target === 'prediction').map((a) => a.rule).sort()).toEqual(['distribution_shift', 'drift_numeric']);
  });
});

describe("SageMaker's capture format", () => {
  test('text/csv and application/json are captured as text (CSV, JSON); anything else BASE64; all decode to the body', () => {
    const t = new Date('2026-11-29T09:32:24.517Z');
    const csv = captureRecord({ input: { body: Buffer.from('a,b\n1,"x, y"\n'), contentType: 'text/csv' }, output: { body: Buffer.from('0.25\n'), contentType: 'text/csv; charset=utf-8' }, time: t, eventId: 'e1' });
    expect(csv).toEqual({
      captureData: {
        endpointInput: { observedContentType: 'text/csv', mode: 'INPUT', data: 'a,b\n1,"x, y"\n', encoding: 'CSV' },
        endpointOutput: { observedContentType: 'text/csv; charset=utf-8', mode: 'OUTPUT', data: '0.25\n', encoding: 'CSV' },
      },
      eventMetadata: { eventId: 'e1', inferenceTime: '2026-11-29T09:32:24Z' },
      eventVersion: '0',
    });
    const npy = captureRecord({ input: { body: Buffer.from([0x93, 0x4e, 0x55]), contentType: 'application/x-npy' }, time: t });
    expect(npy.captureData.endpointInput).toMatchObject({ encoding: 'BASE64', data: 'k05V' });
    expect(payloadBody(npy.captureData.endpointInput!)).toEqual(Buffer.from([0x93, 0x4e, 0x55]));
    // Without CaptureContentTypeHeader, SageMaker base64-encodes everything; the monitor reads it all the same.
    const b64 = captureRecord({ input: { body: Buffer.from('{"a":1}'), contentType: 'application/json' }, time: t, textTypes: null });
    expect(b64.captureData.endpointInput!.encoding).toBe('BASE64');
    expect(payloadText(parseCaptureLine(JSON.stringify(b64)).captureData.endpointInput!)).toBe('{"a":1}');
  });

  test('requests: CSV with a header (RFC 4180), JSON instances, a list or one object; values stay text, absent keys absent', () => {
    expect(requestRows('a,b\n1,"x, ""y"""\n2,\n', 'text/csv')).toEqual({ columns: ['a', 'b'], rows: [{ a: '1', b: 'x, "y"' }, { a: '2', b: null }] });
    expect(requestRows('{"instances":[{"a":1,"b":true},{"a":null}]}', 'application/json')).toEqual({ columns: ['a', 'b'], rows: [{ a: '1', b: 'true' }, { a: null }] });
    expect(requestRows('[{"a":"x"}]', 'application/json; charset=utf-8').rows).toEqual([{ a: 'x' }]);
    expect(requestRows('{"a":2.5}', 'application/json').rows).toEqual([{ a: '2.5' }]);
    expect(() => requestRows('[1,2]', 'application/json')).toThrow(UnreadableBody);
    expect(() => requestRows('a,b\n1\n', 'text/csv')).toThrow("the CSV request's row 1 has 1 fields, but its header has 2");
  });

  test('responses (Contract A): predictions with classes, a bare list, CSV lines of numbers or K probabilities', () => {
    expect(responsePredictions('{"predictions":[[0.2,0.8]],"classes":["no","yes"],"labels":["yes"]}', 'application/json')).toEqual({ scores: [[0.2, 0.8]], classes: ['no', 'yes'] });
    expect(responsePredictions('[0.1, 0.9]', 'application/json')).toEqual({ scores: [0.1, 0.9] });
    expect(responsePredictions('0.1,0.9\n0.5,0.5\n', 'text/csv')).toEqual({ scores: [[0.1, 0.9], [0.5, 0.5]] });
    expect(() => responsePredictions('{"predictions":["a"]}', 'application/json')).toThrow(UnreadableBody);
  });

  test('binary predictions are classed by the threshold, multiclass by the most probable class with every class\'s probability', () => {
    const binary = { problemType: 'binary_classification', threshold: 0.5 };
    const multi = { problemType: 'multiclass_classification', threshold: 0.5, classes: ['a', 'b', 'c'] };
    expect(predictionValues(0.7, binary)).toEqual(['0.7', '1']);
    expect(predictionValues(0.3, { ...binary, classes: ['no', 'yes'] })).toEqual(['0.3', 'no']);
    expect(predictionValues([0.1, 0.7, 0.2], multi)).toEqual(['0.7', 'b', '0.1', '0.7', '0.2']);
    expect(predictionValues(12.5, { problemType: 'regression', threshold: 0.5 })).toEqual(['12.5']);
    // GIVEN a response that names its classes in another order, one the champion does not know, and lacks "a"
    expect(predictionValues([0.2, 0.5, 0.3], multi, ['c', 'new', 'b'])).toEqual(['0.5', 'new', '0', '0.3', '0.2']);
    // a score of the wrong shape for the problem type is unreadable, not guessed at
    expect(() => predictionValues([0.1, 0.9], binary)).toThrow(UnreadableBody);
    expect(() => predictionValues(0.4, multi)).toThrow(UnreadableBody);
    expect(() => predictionValues([0.5, 0.5], multi)).toThrow(/2 probabilities per row, but the champion has 3 classes/);
    expect(() => predictionValues([1, 2], { problemType: 'regression', threshold: 0.5 })).toThrow(UnreadableBody);
  });
});

describe('relearn status', () => {
  test("the newest window's verdict in one line, with its age and report; or that there is none yet", () => {
    const latest = {
      windowId: '20261129T0900Z-20261129T1000Z', start: '2026-11-29T09:00:00.000Z', end: '2026-11-29T10:00:00.000Z', verdict: 'drift' as const,
      summary: 's', driftedFeatures: ['plan', 'tenure_months'], reportUri: 's3://a/monitoring/w/report.json', htmlUri: 's3://a/monitoring/w/report.html',
      createdAt: '2026-11-29T10:05:00.000Z', executionName: 'monitor-1', champion: 'run-1', retrainRequested: true,
    };
    expect(monitoringStatusLine(latest, new Date('2026-11-29T12:05:00Z'))).toBe(
      'Monitoring: DRIFT on 2 features (plan, tenure_months) in 2026-11-29 09:00 to 10:00 UTC, 2 h ago; a retrain was asked of the trigger; report s3://a/monitoring/w/report.html',
    );
    expect(monitoringStatusLine({ ...latest, verdict: 'ok', driftedFeatures: [], retrainRequested: false }, new Date('2026-11-29T10:25:00Z'))).toBe(
      'Monitoring: no drift in 2026-11-29 09:00 to 10:00 UTC, 20 min ago; report s3://a/monitoring/w/report.html',
    );
    expect(monitoringStatusLine(undefined)).toMatch(/^Monitoring: no verdict yet/);
  });
});

describe('windows', () => {
  test('a duration ends at the next minute; start/end in ISO 8601; the id names both ends', () => {
    const now = new Date('2026-11-29T09:32:24Z');
    expect(parseWindow('6h', now)).toMatchObject({ id: '20261129T0333Z-20261129T0933Z' });
    expect(parseWindow('2026-11-29T09:00Z/2026-11-29T12:00Z').id).toBe('20261129T0900Z-20261129T1200Z');
    expect(parseWindow('2026-11-28/2026-11-29').id).toBe('20261128T0000Z-20261129T0000Z');
    expect(scheduledWindow(now, 60).id).toBe('20261129T0832Z-20261129T0932Z');
  });

  test('bad windows are refused with what was expected', () => {
    expect(() => parseWindow('soon')).toThrow(/--window must be a duration \(90m, 6h, 7d\) or <start>\/<end> in ISO 8601 .*but got "soon"/);
    expect(() => parseWindow('40d')).toThrow('--window must be at most 31 days, but got "40d"');
    expect(() => parseWindow('2026-11-29T12:00Z/2026-11-29T09:00Z')).toThrow('a window must end after it starts');
  });
});
