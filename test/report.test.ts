import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { computeEvaluation, EvaluationDocument } from '../lambdas/evaluate/core';
import { renderReport } from '../lambdas/evaluate/report';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { encodeColumn } from '../lambdas/shared/metrics';
import { PredictionRow, predictionTable, ScoredRow } from '../lambdas/shared/predictions';
import { mulberry32 as rng } from '../lambdas/shared/random';

const CHROMIUM = process.env.RELEARN_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Screenshots land here (kept after the test, to look at). */
const OUT = process.env.RELEARN_REPORT_DIR ?? join(tmpdir(), 'relearn-report-test');

/** An evaluation of a candidate that is better overall, worse on country=FR, with a gender bias gap. */
function document(config: RelearnConfigInput, opts: { champion: boolean; regression?: boolean }): EvaluationDocument {
  const r = rng(7);
  const preds: PredictionRow[] = [];
  const country: string[] = [];
  const gender: string[] = [];
  for (let i = 0; i < 2400; i++) {
    const c = ['DE', 'FR', 'US', 'NL'][i % 4];
    const g = r() < 0.5 ? 'f' : 'm';
    const y = r() < 0.35 ? 1 : 0;
    const clamp = (x: number) => Math.min(1, Math.max(0, x));
    const cand = c === 'FR' ? r() : clamp(0.5 + (y ? 0.25 : -0.25) + (g === 'f' ? -0.08 : 0) + (r() - 0.5) * 0.6);
    const champ = clamp(0.5 + (y ? 0.1 : -0.1) + (r() - 0.5) * 0.6);
    if (opts.regression) {
      const label = 10 + 5 * r();
      preds.push({ id: `r${i}`, label, candidate: label + (r() - 0.5) * 2, champion: opts.champion ? label + (r() - 0.5) * 3 : null });
    } else {
      preds.push({ id: `r${i}`, label: y, candidate: Number(cand.toFixed(3)), champion: opts.champion ? Number(champ.toFixed(3)) : null });
    }
    country.push(c);
    gender.push(g);
  }
  return computeEvaluation({
    executionName: 'report-test-exec',
    datasetId: 'ds-0123abcd',
    config: parseConfig(config),
    joined: { predictions: predictionTable(preds), columns: [encodeColumn('country', country), encodeColumn('gender', gender)], validationRows: preds.length, unscored: 0 },
    validation: {
      summary: '2400 rows, 6 columns checked: 0 blocking, 2 warnings',
      blocking: 0,
      warnings: 2,
      anomaliesUri: 's3://artifacts/runs/report-test-exec/validation/anomalies.json',
      anomalies: [
        { id: 'drift.tenure', severity: 'warning', message: 'tenure: mean moved 0.31 standard deviations from the baseline', column: 'tenure' },
        { id: 'missing.plan', severity: 'warning', message: 'plan: 2.1% empty (baseline 0.4%) <script>alert(1)</script>', column: 'plan' },
      ],
    },
    champion: opts.champion ? { executionName: 'previous-exec', modelPackageArn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/3' } : null,
    now: new Date('2026-01-01T00:00:00Z'),
  });
}

/** A multiclass evaluation: 4 classes, the candidate sharper than the champion, worse on one region. */
function multiclassDocument(): EvaluationDocument {
  const classes = ['setosa', 'versicolor', 'virginica', 'other <x>'];
  const r = rng(8);
  const rows: ScoredRow[] = [];
  const region: string[] = [];
  const probs = (y: number, signal: number) => {
    const w = classes.map((_, k) => Math.exp((k === y ? signal : 0) + (r() - 0.5) * 2));
    const t = w.reduce((a, b) => a + b, 0);
    return w.map((v) => Number((v / t).toFixed(4)));
  };
  for (let i = 0; i < 2000; i++) {
    const y = Math.min(3, Math.floor(r() * 4.4));
    const reg = ['north', 'south', 'east'][i % 3];
    rows.push({ id: `r${i}`, label: y, candidate: probs(y, reg === 'east' ? 0.3 : 2), champion: probs(y, 1) });
    region.push(reg);
  }
  return computeEvaluation({
    executionName: 'report-test-multiclass',
    datasetId: 'ds-mc',
    config: parseConfig({ dataset: { sliceColumns: ['region'] }, evaluation: { problemType: 'multiclass_classification', gates: { min: { f1_macro: 0.5 }, slices: { minRows: 100, noRegression: { metrics: ['roc_auc_ovr'], relativeTolerance: 0.02 } } } } }),
    joined: { predictions: predictionTable(rows, { problemType: 'multiclass_classification', classes }), columns: [encodeColumn('region', region)], validationRows: rows.length, unscored: 0 },
    validation: null,
    champion: { executionName: 'previous-exec' },
    classes,
    now: new Date('2026-01-01T00:00:00Z'),
  });
}

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof chromium.launch>>['newPage']>>;

async function openInChromium<T = undefined>(html: string, name: string, inspect?: (page: Page) => Promise<T>): Promise<{ errors: string[]; external: string[]; text: string; screenshot: string; inspected?: T }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set RELEARN_CHROMIUM to its path)`);
  }
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${name}.html`);
  writeFileSync(file, html);
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
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const screenshot = join(OUT, `${name}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    const text = await page.innerText('body');
    const inspected = inspect ? await inspect(page) : undefined;
    return { errors, external, text, screenshot, inspected };
  } finally {
    await browser.close();
  }
}

describe('report.html in headless Chromium', () => {
  test('a rejected classification run: verdict, reasons, curves, slices, bias and data validation, no errors', async () => {
    // GIVEN a candidate better overall, worse in France, with a gender gap over the limit
    const doc = document(
      {
        dataset: { sliceColumns: ['country', 'gender'] },
        evaluation: {
          gates: {
            min: { roc_auc: 0.7 },
            noRegression: { metrics: ['roc_auc'], tolerance: 0.01 },
            slices: { minRows: 200, noRegression: { metrics: ['roc_auc'], tolerance: 0.02 } },
            bias: { columns: ['gender'], metrics: ['recall', 'positive_rate'], maxGap: 0.05 },
          },
        },
      },
      { champion: true },
    );
    expect(doc.decision.deploy).toBe(false);
    // WHEN
    const page = await openInChromium(renderReport(doc), 'rejected');
    // THEN
    expect(page.errors).toEqual([]);
    expect(page.external).toEqual([]);
    expect(page.text).toContain('DO NOT DEPLOY');
    expect(page.text).toMatch(/roc_auc on slice country=FR/);
    expect(page.text).toContain('ROC curve');
    expect(page.text).toContain('Calibration');
    expect(page.text).toMatch(/recall by gender: gap/);
    expect(page.text).toContain('tenure: mean moved 0.31 standard deviations');
    // text from the anomalies is escaped, not run
    expect(page.text).toContain('<script>alert(1)</script>');
    expect(statSync(page.screenshot).size).toBeGreaterThan(20000);
    // eslint-disable-next-line no-console
    console.log(`report screenshot: ${page.screenshot}`);
  });

  test('a first-run regression report renders too, without ROC or calibration', async () => {
    // GIVEN
    const doc = document({ dataset: { sliceColumns: ['country'] }, evaluation: { problemType: 'regression' } }, { champion: false, regression: true });
    // WHEN
    const page = await openInChromium(renderReport(doc), 'first-run-regression');
    // THEN
    expect(page.errors).toEqual([]);
    expect(page.text).toContain('first run (no champion)');
    expect(page.text).toContain('Predicted vs actual');
    expect(page.text).not.toMatch(/ROC|Calibration|Precision-recall|confusion/i);
    expect(statSync(page.screenshot).size).toBeGreaterThan(10000);
  });

  test('a multiclass report: the K x K confusion matrices, the per-class table and one-vs-rest ROC curves, no calibration', async () => {
    // GIVEN 4 classes (one name with markup in it)
    const doc = multiclassDocument();
    const K = doc.classes!.length;
    // WHEN the page is opened, and the candidate's matrix is measured as laid out and photographed on its own
    const page = await openInChromium(renderReport(doc), 'multiclass', async (p) => {
      const matrix = p.locator('table.cm.k').first();
      const shot = join(OUT, 'multiclass-matrix.png');
      await matrix.screenshot({ path: shot });
      const layout = await matrix.evaluate((table) => {
        const body = [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].slice(0, -1));
        return {
          head: [...table.querySelectorAll('thead th')].map((th) => th.textContent),
          rows: body.map((cells) => cells.map((td) => {
            const box = td.getBoundingClientRect();
            return { text: td.textContent, x: Math.round(box.x), y: Math.round(box.y), w: box.width, h: box.height, bg: (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(td).backgroundColor };
          })),
        };
      });
      const svgLines = await p.locator('figure svg').first().evaluate((svg) => svg.querySelectorAll('path').length);
      return { shot, layout, svgLines };
    });
    // THEN no error, nothing fetched
    expect(page.errors).toEqual([]);
    expect(page.external).toEqual([]);
    expect(page.text).toContain('One-vs-rest ROC curves and confusion matrices');
    expect(page.text).toContain(`Per class (${K} classes)`);
    expect(page.text).toContain('other <x>');
    expect(page.text).not.toMatch(/Calibration|Precision-recall curve/);
    // AND the matrix is K x K, laid out as a grid: K rows at K distinct heights, K columns at K distinct x positions
    const { layout, shot, svgLines } = page.inspected!;
    expect(layout.head).toEqual(['actual \\ predicted', ...doc.classes!, 'rows']);
    expect(layout.rows).toHaveLength(K);
    expect(layout.rows.every((row) => row.length === K)).toBe(true);
    expect(new Set(layout.rows.map((row) => row[0].y)).size).toBe(K);
    expect(new Set(layout.rows[0].map((c) => c.x)).size).toBe(K);
    expect(layout.rows.flat().every((c) => c.w > 20 && c.h > 15)).toBe(true);
    // the counts are the candidate's matrix, the diagonal shaded green and the rest red
    layout.rows.forEach((row, a) => row.forEach((cell, p) => {
      expect(cell.text).toMatch(new RegExp(`^${doc.overall.matrix!.candidate[a][p].toLocaleString('en-US')}\\d`));
      if (doc.overall.matrix!.candidate[a][p] > 0) expect(cell.bg).toMatch(a === p ? /^rgba\(26, 127, 55/ : /^rgba\(207, 34, 46/);
    }));
    // one ROC line per class
    expect(svgLines).toBe(K);
    expect(statSync(shot).size).toBeGreaterThan(5000);
    expect(statSync(page.screenshot).size).toBeGreaterThan(20000);
    // eslint-disable-next-line no-console
    console.log(`multiclass report screenshot: ${page.screenshot}; its matrix: ${shot}`);
  });
});
