import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ChurnVariant, COUNTRIES, columnsOf, generateChurn } from '../examples/churn/generate';
import { readRows } from '../lambdas/shared/tabular';

type Row = Record<string, string | null>;

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

/** Parsed with the project's own CSV reader (the one Ingest uses), so the generator's quoting is checked too. */
async function rows(n: number, seed: number, variant: ChurnVariant = 'clean'): Promise<Row[]> {
  const out: Row[] = [];
  for await (const { row } of readRows(generateChurn({ rows: n, seed, variant }), { format: 'csv', file: `${variant}.csv` })) out.push(row);
  return out;
}

const blank = (v: string | null | undefined) => v === null || v === undefined || v === '';
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const churnRate = (rs: Row[]) => mean(rs.map((r) => Number(r.churned)));

describe('generateChurn', () => {
  test('is deterministic: the same seed gives the same bytes, another seed other data', async () => {
    const a = await text(generateChurn({ rows: 300, seed: 7 }));
    const b = await text(generateChurn({ rows: 300, seed: 7, chunkRows: 17 }));
    const c = await text(generateChurn({ rows: 300, seed: 8 }));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a.split('\n')).toHaveLength(302); // header + 300 rows + trailing newline
  });

  test('the bundled example is exactly what the generator writes, and small', async () => {
    const dir = join(__dirname, '..', 'examples', 'churn', 'data');
    expect(readFileSync(join(dir, 'churn-clean.csv'), 'utf8')).toBe(await text(generateChurn({ rows: 5000, seed: 1 })));
    expect(readFileSync(join(dir, 'churn-day2.csv'), 'utf8')).toBe(await text(generateChurn({ rows: 2000, seed: 2 })));
    expect(statSync(join(dir, 'churn-clean.csv')).size).toBeLessThan(1024 * 1024);
  });

  test('clean rows: unique ids, the documented columns, ~20 countries, some missing numbers, binary label', async () => {
    const rs = await rows(4000, 3);
    expect(Object.keys(rs[0])).toEqual(columnsOf('clean'));
    expect(new Set(rs.map((r) => r.customer_id)).size).toBe(4000);
    expect(new Set(rs.map((r) => r.country)).size).toBe(20);
    expect(new Set(rs.map((r) => r.plan))).toEqual(new Set(['free', 'basic', 'pro', 'enterprise']));
    expect(new Set(rs.map((r) => r.churned))).toEqual(new Set(['0', '1']));
    const missingSize = rs.filter((r) => blank(r.company_size)).length / rs.length;
    expect(missingSize).toBeGreaterThan(0.01);
    expect(missingSize).toBeLessThan(0.1);
    expect(rs.every((r) => !blank(r.last_message))).toBe(true);
    expect(rs.some((r) => r.last_message?.includes(','))).toBe(true); // quoted fields survive the reader
    const rate = churnRate(rs);
    expect(rate).toBeGreaterThan(0.2);
    expect(rate).toBeLessThan(0.6);
  });

  test('the planted signal differs by country: usage drives churn in the usage countries (US, GB, ...), tickets in the support ones (DE, FR, ...)', async () => {
    const rs = await rows(30000, 4);
    const usage = (r: Row) => Number(r.monthly_usage_hours);
    const tickets = (r: Row) => Number(r.support_tickets);
    const inGroup = (codes: string[]) => rs.filter((r) => codes.includes(r.country!) && !blank(r.monthly_usage_hours));
    const usageGroup = inGroup(COUNTRIES.filter((c) => c.group === 'usage').map((c) => c.code));
    const supportGroup = inGroup(COUNTRIES.filter((c) => c.group === 'support').map((c) => c.code));
    const usageGap = (g: Row[]) => churnRate(g.filter((r) => usage(r) < 25)) - churnRate(g.filter((r) => usage(r) > 55));
    const ticketGap = (g: Row[]) => churnRate(g.filter((r) => tickets(r) >= 3)) - churnRate(g.filter((r) => tickets(r) === 0));
    // Low usage matters far more in the usage countries; tickets far more in the support countries.
    expect(usageGap(usageGroup)).toBeGreaterThan(0.4);
    expect(usageGap(supportGroup)).toBeLessThan(usageGap(usageGroup) - 0.2);
    expect(ticketGap(supportGroup)).toBeGreaterThan(0.3);
    expect(ticketGap(usageGroup)).toBeLessThan(ticketGap(supportGroup) - 0.15);
    // The last message carries signal too.
    const cancel = rs.filter((r) => r.last_message === 'I want to cancel my subscription');
    const thanks = rs.filter((r) => r.last_message === 'the support team was really helpful');
    expect(churnRate(cancel) - churnRate(thanks)).toBeGreaterThan(0.3);
  });

  test('bad days: nulls, shift, empty text, new categories, a missing column', async () => {
    const nulls = await rows(500, 5, 'nulls');
    expect(nulls.every((r) => blank(r.monthly_usage_hours))).toBe(true);

    const clean = await rows(3000, 5);
    const shift = await rows(3000, 5, 'shift');
    const usageMean = (rs: Row[]) => mean(rs.filter((r) => !blank(r.monthly_usage_hours)).map((r) => Number(r.monthly_usage_hours)));
    expect(usageMean(shift)).toBeLessThan(usageMean(clean) * 0.75);
    expect(shift.filter((r) => r.plan === 'free').length).toBeGreaterThan(clean.filter((r) => r.plan === 'free').length * 1.4);

    const empty = await rows(500, 5, 'empty-text');
    expect(empty.every((r) => blank(r.last_message))).toBe(true);

    const novel = await rows(3000, 5, 'new-category');
    const share = novel.filter((r) => r.plan === 'team' && r.country === 'KE').length / novel.length;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.2);

    const missing = await rows(50, 5, 'missing-column');
    expect(Object.keys(missing[0])).not.toContain('support_tickets');
    expect(Object.keys(missing[0])).toHaveLength(columnsOf('clean').length - 1);
  });

  test('streams many rows without building them up front', async () => {
    let lines = 0;
    let chunks = 0;
    for await (const chunk of generateChurn({ rows: 100000, seed: 9, chunkRows: 5000 })) {
      chunks++;
      for (const ch of chunk as string) if (ch === '\n') lines++;
    }
    expect(lines).toBe(100001);
    expect(chunks).toBeGreaterThanOrEqual(20);
  });

  test('refuses bad options with a message that says what was expected', () => {
    expect(() => generateChurn({ rows: 10, seed: 1, variant: 'sunny' as ChurnVariant })).toThrow(/variant must be one of clean, nulls, shift/);
    expect(() => generateChurn({ rows: -1, seed: 1 })).toThrow(/rows must be a non-negative integer, but got -1/);
  });

  test('the CLI writes CSV to stdout and rejects an unknown option', () => {
    const cli = (args: string[]) =>
      spawnSync('npx', ['--no-install', 'tsx', 'examples/churn/generate.ts', ...args], { cwd: join(__dirname, '..'), encoding: 'utf8' });
    const ok = cli(['--rows', '3', '--seed', '1', '--variant', 'missing-column']);
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe(columnsOf('missing-column').join(','));
    expect(ok.stdout.trim().split('\n')).toHaveLength(4);
    const bad = cli(['--rows', '3', '--colour', 'red']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown option --colour/);
  });
});
