import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { bodyOf, E2eProject, firstVisits, RunJson } from './helpers/e2e';

/**
 * Issue 9's end-to-end tests: the three problem types through `relearn local run`, each with the built-in
 * training script and a config only (the bundled examples: churn, support-tickets, delivery-times), on the real
 * synthesized state machine with real local S3 and SageMaker servers and real training. For each type, in one
 * project folder (one synth, reused by the second run):
 *   1. the first run deploys (no champion: the absolute gates only);
 *   2. `relearn local invoke` with the printed body answers in the documented shape (docs/training-contract.md);
 *   3. the report renders in Chromium (multiclass: a K x K confusion matrix, checked as laid out);
 *   4. a second run on the next day's data compares the candidate with the first run's champion.
 */

jest.setTimeout(30 * 60 * 1000);

const ROOT = join(__dirname, '..');
const CHROMIUM = process.env.RELEARN_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const example = (dir: string, file: string) => join(ROOT, 'examples', dir, 'data', file);
const exampleConfig = (dir: string) => JSON.parse(readFileSync(join(ROOT, 'examples', dir, 'relearn.config.json'), 'utf8')) as Record<string, unknown>;
/** The binary example is the repository's own config, minus its sourceDir/entryPoint (the built-in script is the default). */
const churnConfig = () => {
  const c = JSON.parse(readFileSync(join(ROOT, 'relearn.config.json'), 'utf8')) as { training: Record<string, unknown> };
  const { sourceDir: _s, entryPoint: _e, ...training } = c.training;
  return { ...c, name: 'churn', training };
};

interface Case {
  readonly type: 'binary_classification' | 'multiclass_classification' | 'regression';
  readonly config: () => Record<string, unknown>;
  readonly day1: string;
  readonly day2: string;
  readonly primaryMetric: string;
  /** The documented answer to one row. */
  readonly answer: (parsed: Record<string, unknown>) => void;
  /** What the report must show, read in the browser. */
  readonly report: (page: ReportPage) => void;
}
interface ReportPage {
  readonly text: string;
  readonly errors: string[];
  readonly external: string[];
  readonly matrix: { head: string[]; rows: number; cols: number[] } | null;
  readonly screenshot: string;
}

const CASES: Case[] = [
  {
    type: 'binary_classification',
    config: churnConfig,
    day1: example('churn', 'churn-clean.csv'),
    day2: example('churn', 'churn-day2.csv'),
    primaryMetric: 'roc_auc',
    answer: (a) => {
      expect(Object.keys(a).sort()).toEqual(['classes', 'labels', 'predictions']);
      expect(a.classes).toHaveLength(2);
      expect(a.predictions).toEqual([expect.any(Number)]);
      const p = (a.predictions as number[])[0];
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
      expect((a.classes as string[]).includes((a.labels as string[])[0])).toBe(true);
    },
    report: (page) => {
      expect(page.text).toContain('ROC curve');
      expect(page.text).toContain('Calibration');
      expect(page.matrix).toBeNull();
    },
  },
  {
    type: 'multiclass_classification',
    config: () => exampleConfig('support-tickets'),
    day1: example('support-tickets', 'tickets-clean.csv'),
    day2: example('support-tickets', 'tickets-day2.csv'),
    primaryMetric: 'roc_auc_ovr',
    answer: (a) => {
      expect(Object.keys(a).sort()).toEqual(['classes', 'labels', 'predictions']);
      expect(a.classes).toEqual(['low', 'medium', 'high']);
      const [p] = a.predictions as number[][];
      expect(p).toHaveLength(3);
      expect(p.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
      expect((a.labels as string[])[0]).toBe(['low', 'medium', 'high'][p.indexOf(Math.max(...p))]);
    },
    report: (page) => {
      expect(page.text).toContain('One-vs-rest ROC curves and confusion matrices');
      expect(page.text).toContain('Per class (3 classes)');
      expect(page.text).not.toContain('Calibration');
      expect(page.matrix).toEqual({ head: ['actual \\ predicted', 'low', 'medium', 'high', 'rows'], rows: 3, cols: [3, 3, 3] });
    },
  },
  {
    type: 'regression',
    config: () => exampleConfig('delivery-times'),
    day1: example('delivery-times', 'deliveries-clean.csv'),
    day2: example('delivery-times', 'deliveries-day2.csv'),
    primaryMetric: 'rmse',
    answer: (a) => {
      expect(Object.keys(a)).toEqual(['predictions']);
      expect(a.predictions).toEqual([expect.any(Number)]);
      expect((a.predictions as number[])[0]).toBeGreaterThan(0);
    },
    report: (page) => {
      expect(page.text).toContain('Predicted vs actual');
      expect(page.text).not.toMatch(/ROC|Calibration|confusion/i);
      expect(page.matrix).toBeNull();
    },
  },
];

async function openReport(path: string, name: string): Promise<ReportPage> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set RELEARN_CHROMIUM)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const external: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (req) => {
      if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) external.push(req.url());
    });
    await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
    const screenshot = `${path.replace(/\.html$/, '')}-${name}.png`;
    await page.screenshot({ path: screenshot, fullPage: true });
    const tables = page.locator('table.cm.k');
    const matrix =
      (await tables.count()) === 0
        ? null
        : await tables.first().evaluate((t) => ({
            head: [...t.querySelectorAll('thead th')].map((th) => th.textContent ?? ''),
            rows: t.querySelectorAll('tbody tr').length,
            cols: [...t.querySelectorAll('tbody tr')].map((tr) => tr.querySelectorAll('td').length - 1),
          }));
    if (matrix) await tables.first().screenshot({ path: `${path.replace(/\.html$/, '')}-${name}-matrix.png` });
    return { text: await page.innerText('body'), errors, external, matrix, screenshot };
  } finally {
    await browser.close();
  }
}

const ok = (json: RunJson) => ({ status: json.status, error: json.error, failed: json.states.filter((s) => s.error).map((s) => `${s.name}: ${s.error}`) });

describe.each(CASES)('$type with the built-in script and a config only', (c) => {
  const project = new E2eProject(`relearn-e2e-${c.type.split('_')[0]}-`);
  let first: RunJson;
  beforeAll(() => {
    project.writeConfig('example', c.config());
  });
  afterAll(() => project.cleanup());

  test('the first run deploys; the printed invoke answers in the documented shape; the report renders in Chromium', async () => {
    // WHEN
    const { code, json } = await project.run({ config: 'example', data: c.day1 });
    first = json;
    // THEN
    expect(ok(json)).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    expect(firstVisits(json)).toEqual(expect.arrayContaining(['Evaluate', 'Register', 'Deploy', 'VerifyServing', 'PromoteBaseline']));
    expect(json.decision).toMatchObject({ deploy: true, promoted: true, primaryMetric: { name: c.primaryMetric, champion: null } });
    expect(json.decision!.reasons.join('\n')).toMatch(/First run: no champion to compare with/);
    expect(json.champion?.executionName).toBe(json.executionName);

    // AND the printed command's body answers in the shape docs/training-contract.md documents
    const answer = await project.invoke(bodyOf(json.invoke!));
    expect({ code: answer.code, err: answer.err }).toEqual({ code: 0, err: '' });
    c.answer(JSON.parse(answer.answer) as Record<string, unknown>);

    // AND the report is one self-contained page that renders without errors
    const page = await openReport(json.report!.path, c.type);
    expect(page.errors).toEqual([]);
    expect(page.external).toEqual([]);
    expect(page.text).toContain('DEPLOY');
    c.report(page);
    expect(statSync(page.screenshot).size).toBeGreaterThan(20000);
  });

  test('a second run on the next day compares the candidate with the first run’s champion', async () => {
    expect(first?.status).toBe('SUCCEEDED');
    // WHEN
    const { code, json } = await project.run({ config: 'example', data: c.day2 });
    // THEN it ran (the config's synth was reused) and judged the candidate against the champion
    expect(ok(json)).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    expect(json.timings.synthCached).toBe(true);
    const pm = json.decision!.primaryMetric!;
    expect(pm).toMatchObject({ name: c.primaryMetric, candidate: expect.any(Number), champion: expect.any(Number) });
    expect(json.decision!.reasons.join('\n')).not.toMatch(/First run/);
    // AND the report shows the no-regression check of the primary metric, judged (not skipped)
    const html = readFileSync(json.report!.path, 'utf8');
    expect(html).toContain(first.executionName);
    expect(html).toMatch(new RegExp(`no_regression:${c.primaryMetric}</td>`));
    expect(html).toMatch(new RegExp(`${c.primaryMetric}: candidate [-\\d.]+ vs champion [-\\d.]+ \\([-+]?[\\d.]+, 95% CI`));
    // deployed or not, the serving model is the champion's
    const servedBy = json.decision!.promoted ? json.executionName : first.executionName;
    expect(json.champion?.executionName).toBe(servedBy);
  });
});
