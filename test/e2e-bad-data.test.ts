import { readFileSync } from 'node:fs';
import { trainingJobName } from '../lambdas/shared/names';
import { bodyOf, E2eProject, firstVisits, RunJson } from './helpers/e2e';

/**
 * Issue 5 through local mode: the example generator's "bad days" (examples/churn/generate.ts) land after a
 * clean day has put a champion on the endpoint. Each one stops at ValidateData with DataValidationFailed
 * and the anomaly that names what broke; no training job is created for it; the endpoint keeps serving
 * the clean day's model, which still answers exactly as before.
 *
 * One project (one synthesized assembly) for every run: the clean day, then the bad days in turn, each
 * judged against the clean day's champion schema and baseline statistics.
 */

jest.setTimeout(600000);

const NAME = 'relearn';
const CONFIG = {
  name: NAME,
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'], validationFraction: 0.2, rowsPerPart: 1000 },
  // Drift only warns by default (it may be the change a retrain is for); this project blocks numeric drift,
  // as docs/validation.md suggests where it should not happen, so the "shift" day stops too.
  validation: { rules: { drift_numeric: 'block' } },
  training: { hyperparameters: { estimator: 'logistic', 'max-text-features': 500 } },
};

const project = new E2eProject('relearn-e2e-bad-data-');
let clean: RunJson;
let servingBefore: string | undefined;
let jobsBefore: string[];
let sampleBody: string;
let answerBefore: string;

beforeAll(() => project.writeConfig('config', CONFIG));
afterAll(() => project.cleanup());

describe('bad days through relearn local run', () => {
  test('GIVEN a clean day: it trains, deploys and becomes the champion', async () => {
    const data = await project.writeData('clean', { rows: 3000, seed: 1 });
    const { code, json } = await project.run({ config: 'config', data });
    clean = json;
    expect({ status: json.status, error: json.error }).toEqual({ status: 'SUCCEEDED', error: undefined });
    expect(code).toBe(0);
    expect(json.decision).toMatchObject({ deploy: true, promoted: true });
    expect(json.champion?.executionName).toBe(json.executionName);

    [servingBefore, jobsBefore] = await project.inspect(async (look) => [await look.servingConfig(json.endpointName), await look.trainingJobs()]);
    expect(servingBefore).toBe(json.champion!.endpointConfigName);
    expect(jobsBefore).toEqual([trainingJobName(NAME, json.executionName)]);
    sampleBody = bodyOf(json.invoke!);
    const answer = await project.invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(JSON.parse(answer.answer)).toEqual({ predictions: [expect.any(Number)], classes: ['0', '1'], labels: [expect.stringMatching(/^[01]$/)] });
    answerBefore = answer.answer;
  });

  test.each([
    // the variant, its seed, the blocking rule, its column, words of the failed state's message
    { variant: 'nulls', seed: 2, rule: 'missing_share', column: 'monthly_usage_hours', words: 'column "monthly_usage_hours": 100.0% of values are missing' },
    { variant: 'missing-column', seed: 3, rule: 'missing_column', column: 'support_tickets', words: 'column "support_tickets" is missing (required by the champion schema)' },
    { variant: 'new-category', seed: 4, rule: 'unexpected_category', column: 'plan', words: '[unexpected_category] column "plan"' },
    { variant: 'shift', seed: 5, rule: 'drift_numeric', column: 'monthly_usage_hours', words: 'column "monthly_usage_hours": Jensen-Shannon divergence' },
    { variant: 'empty-text', seed: 6, rule: 'empty_text', column: 'last_message', words: 'column "last_message": 100.0% of texts are empty or blank' },
  ] as const)('WHEN a "$variant" day lands THEN it stops at ValidateData with $rule on $column, nothing trains, the champion keeps serving', async ({ variant, seed, rule, column, words }) => {
    expect(clean?.status).toBe('SUCCEEDED'); // the champion of the first test
    // WHEN
    const data = await project.writeData(variant, { rows: 2000, seed, variant });
    const { code, json } = await project.run({ config: 'config', data });

    // THEN the execution fails at ValidateData with DataValidationFailed naming the anomaly and its column
    expect(code).toBe(1);
    expect(json.status).toBe('FAILED');
    const failed = json.states.filter((s) => s.error && s.type !== 'Fail');
    expect(failed.map((s) => [s.name, s.error])).toEqual([['ValidateData', 'DataValidationFailed']]);
    expect(json.error?.Error).toBe('DataValidationFailed');
    expect(json.error?.Cause).toContain(`[${rule}]`);
    expect(json.error?.Cause).toContain(words);
    expect(firstVisits(json)).toEqual(['Ingest', 'ComputeStatistics', 'ValidateData', 'NotifyFailure', 'Failed']);

    const look = await project.inspect(async (look) => ({
      anomalies: await look.artifact(`runs/${json.executionName}/validation/anomalies.json`),
      landed: await look.object(json.source.bucket, json.source.keys[0]),
      jobs: await look.trainingJobs(),
      serving: await look.servingConfig(clean.endpointName),
    }));

    // AND anomalies.json records it as blocking
    const anomalies = JSON.parse(look.anomalies!) as { anomalies: { rule: string; severity: string; column?: string; message: string }[] };
    expect(anomalies.anomalies.filter((a) => a.severity === 'block').map((a) => ({ rule: a.rule, column: a.column }))).toContainEqual({ rule, column });

    // AND the landed data stays where it is
    expect(json.source.keys).toHaveLength(1);
    expect(look.landed).toBe(readFileSync(data, 'utf8'));

    // AND no training job was created for this execution
    expect(look.jobs).toEqual(jobsBefore);
    expect(look.jobs).not.toContain(trainingJobName(NAME, json.executionName));

    // AND the endpoint still serves the clean day's model, which answers as before
    expect(json.champion?.executionName).toBe(clean.executionName);
    expect(look.serving).toBe(servingBefore);
    const answer = await project.invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(answer.answer).toBe(answerBefore);
  });
});
