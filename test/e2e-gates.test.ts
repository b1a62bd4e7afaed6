import { readFileSync } from 'node:fs';
import { bodyOf, E2eProject, firstVisits, RunJson } from './helpers/e2e';

/**
 * Issue 6 through local mode: champion vs challenger on the real synthesized pipeline, with the default gate
 * (no `evaluation.gates` configured: ROC AUC floor 0.6, no significant regression of the primary metric beyond
 * 1% of the champion's value, 2.5% per slice).
 *
 *  1. a deliberately weak model (the example script's `"feature-columns": "plan"`: the plan alone, ROC AUC
 *     ~0.69) on a first run: no champion, judged on the absolute floor alone, deployed;
 *  2. the normal model (all features) on a new day: clearly better than the weak champion, deployed;
 *  3. the weak model again on another new day: worse than the champion, NotPromoted (the execution still
 *     succeeds), registered as Rejected, and the endpoint keeps the normal model.
 *
 * Each run writes report.html. The runs build on each other in order, in one project; each config's
 * synthesized assembly is kept and reused (test/helpers/e2e.ts), so the suite synthesizes twice, not three times.
 */

jest.setTimeout(600000);

const NAME = 'relearn';
const GROUP = `${NAME}-models`;
const base = {
  name: NAME,
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'], validationFraction: 0.2 },
  evaluation: { problemType: 'binary_classification', primaryMetric: 'roc_auc', approval: 'auto' },
};
const WEAK = { ...base, training: { hyperparameters: { 'feature-columns': 'plan' } } };
const NORMAL = { ...base, training: { hyperparameters: { estimator: 'logistic', 'max-text-features': 500 } } };
const ROWS = 4000;

const project = new E2eProject('relearn-e2e-gates-');
let weak: RunJson;
let strong: RunJson;
let sampleBody: string;

beforeAll(() => {
  project.writeConfig('weak', WEAK);
  project.writeConfig('normal', NORMAL);
});
afterAll(() => project.cleanup());

const failedStates = (json: RunJson) => json.states.filter((s) => s.error);
const reportHtml = (json: RunJson) => readFileSync(json.report!.path, 'utf8');

describe('the deployment gate through relearn local run', () => {
  test('GIVEN no champion WHEN a weak model passes the absolute floor THEN it is deployed, judged on absolute gates alone', async () => {
    const data = await project.writeData('day1', { rows: ROWS, seed: 11 });
    const { code, json } = await project.run({ config: 'weak', data });
    weak = json;
    expect({ status: json.status, error: json.error, failed: failedStates(json) }).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    expect(json.decision).toMatchObject({ deploy: true, promoted: true });
    const auc = json.decision!.primaryMetric!;
    expect(auc).toMatchObject({ name: 'roc_auc', champion: null });
    // weak, yet above the default floor of 0.6
    expect(auc.candidate).toBeGreaterThan(0.6);
    expect(auc.candidate).toBeLessThan(0.75);
    expect(json.decision!.reasons[0]).toMatch(/^Deploy: all \d+ gate checks passed/);
    expect(json.decision!.reasons.join('\n')).toMatch(/First run: no champion to compare with, so only the absolute gates were applied/);
    expect(json.decision!.reasons.join('\n')).toMatch(/No gates configured: the safe default gate applied/);
    expect(json.champion?.executionName).toBe(json.executionName);
    expect(await project.servingConfig(json.endpointName)).toBe(json.champion!.endpointConfigName);
    expect(reportHtml(json)).toContain('<span class="badge ok">DEPLOY</span>');
  });

  test('WHEN the normal model trains on a new day THEN it is clearly better than the weak champion and replaces it', async () => {
    expect(weak?.status).toBe('SUCCEEDED');
    const data = await project.writeData('day2', { rows: ROWS, seed: 12 });
    const { code, json } = await project.run({ config: 'normal', data });
    strong = json;
    expect({ status: json.status, error: json.error, failed: failedStates(json) }).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    expect(firstVisits(json)).toEqual(expect.arrayContaining(['Deploy', 'VerifyServing', 'PromoteBaseline', 'Notify', 'Done']));
    expect(firstVisits(json)).not.toContain('NotPromoted');
    expect(json.decision).toMatchObject({ deploy: true, promoted: true });
    const auc = json.decision!.primaryMetric!;
    // compared with the weak champion on the same validation rows
    expect(auc.champion).toEqual(expect.any(Number));
    expect(auc.candidate! - auc.champion!).toBeGreaterThan(0.05);
    const reasons = json.decision!.reasons.join('\n');
    expect(reasons).not.toMatch(/First run/);
    expect(json.decision!.reasons[0]).toMatch(/^Deploy: all \d+ gate checks passed/);
    expect(json.decision!.reasons).toContainEqual(expect.stringMatching(/^roc_auc: candidate 0\.\d+ vs champion 0\.\d+ \(\+0\.\d+\)$/));

    // AND the endpoint now serves the new model, which answers
    expect(json.champion?.executionName).toBe(json.executionName);
    expect(json.champion!.endpointConfigName).not.toBe(weak.champion!.endpointConfigName);
    expect(await project.servingConfig(json.endpointName)).toBe(json.champion!.endpointConfigName);
    sampleBody = bodyOf(json.invoke!);
    const answer = await project.invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(JSON.parse(answer.answer)).toEqual({ predictions: [expect.any(Number)], classes: ['0', '1'], labels: [expect.stringMatching(/^[01]$/)] });
    expect(reportHtml(json)).toContain('<span class="badge ok">DEPLOY</span>');
  });

  test('WHEN the weak model trains again THEN it is worse than the champion: NotPromoted, Rejected, the endpoint unchanged', async () => {
    expect(strong?.status).toBe('SUCCEEDED');
    const servingBefore = await project.servingConfig(strong.endpointName);
    const answerBefore = (await project.invoke(sampleBody)).answer;
    const data = await project.writeData('day3', { rows: ROWS, seed: 13 });
    // WHEN
    const { code, json } = await project.run({ config: 'weak', data });

    // THEN the execution succeeds, through NotPromoted, without deploying
    expect({ status: json.status, error: json.error, failed: failedStates(json) }).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    const visits = firstVisits(json);
    expect(visits.slice(visits.indexOf('Evaluate'))).toEqual(['Evaluate', 'PackageModel', 'Register', 'Blessed?', 'NotPromoted', 'Done']);
    expect(json.decision).toMatchObject({ deploy: false, promoted: false });

    // AND the reasons name the regression of the primary metric against the champion
    const auc = json.decision!.primaryMetric!;
    expect(auc.candidate! - auc.champion!).toBeLessThan(-0.05);
    expect(json.decision!.reasons[0]).toMatch(/^Do not deploy: \d+ of \d+ gate checks failed/);
    expect(json.decision!.reasons).toContainEqual(expect.stringMatching(/^roc_auc: candidate 0\.\d+ vs champion 0\.\d+ \(-0\.\d+, 95% CI -0\.\d+\.\.-0\.\d+\): worse beyond the tolerance of 0\.00\d+ \(1% of the champion's 0\.\d+\)$/));
    // the weak model scores every customer of a plan alike: no better than chance inside each plan
    expect(json.decision!.reasons).toContainEqual(
      expect.stringMatching(/^roc_auc on slice plan=\w+ \(\d+ rows\): candidate 0\.5 vs champion 0\.\d+ \(-0\.\d+, 95% CI -0\.\d+\.\.-0\.\d+\): worse beyond the tolerance of 0\.0\d+ \(2\.5% of the champion's 0\.\d+\)$/),
    );

    // AND the endpoint still serves the champion's model, answering as before
    expect(json.champion?.executionName).toBe(strong.executionName);
    expect(await project.servingConfig(json.endpointName)).toBe(servingBefore);
    expect(servingBefore).toBe(strong.champion!.endpointConfigName);
    const answer = await project.invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(answer.answer).toBe(answerBefore);

    // AND the report says so
    expect(json.report!.path).not.toBe(strong.report!.path);
    const html = reportHtml(json);
    expect(html).toContain('DO NOT DEPLOY');
    expect(html).toContain('worse beyond the tolerance');

    // AND the "not promoted" notification carries the reasons and where the report is
    const outcome = JSON.parse((await project.inspect((look) => look.artifact(`runs/${json.executionName}/outcome.json`)))!) as {
      outcome: string;
      published: boolean;
      message: string;
    };
    expect(outcome).toMatchObject({ outcome: 'not promoted', published: true });
    expect(outcome.message).toMatch(/worse beyond the tolerance of 0\.00\d+ \(1% of the champion's 0\.\d+\)/);
    expect(outcome.message).toContain(json.report!.uri);

    // AND the registry holds every candidate: the two deployed ones Approved, this one Rejected
    const packages = await project.modelPackages(GROUP);
    expect(packages.map((p) => p.ModelApprovalStatus)).toEqual(['Approved', 'Approved', 'Rejected']);
  });
});
