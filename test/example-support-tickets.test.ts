import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CLASSES, columnsOf, generateTickets, REGIONS, TicketVariant } from '../examples/support-tickets/generate';
import { readRows } from '../lambdas/shared/tabular';

type Row = Record<string, string | null>;

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

/** Parsed with the project's own CSV reader (the one Ingest uses), so the generator's quoting is checked too. */
async function rows(n: number, seed: number, variant: TicketVariant = 'clean'): Promise<Row[]> {
  const out: Row[] = [];
  for await (const { row } of readRows(generateTickets({ rows: n, seed, variant }), { format: 'csv', file: `${variant}.csv` })) out.push(row);
  return out;
}

const blank = (v: string | null | undefined) => v === null || v === undefined || v === '';
const share = (rs: Row[], f: (r: Row) => boolean) => rs.filter(f).length / rs.length;
const highRate = (rs: Row[]) => share(rs, (r) => r.priority === 'high');

describe('generateTickets', () => {
  test('is deterministic: the same seed gives the same bytes, another seed other data', async () => {
    const a = await text(generateTickets({ rows: 300, seed: 7 }));
    const b = await text(generateTickets({ rows: 300, seed: 7, chunkRows: 17 }));
    const c = await text(generateTickets({ rows: 300, seed: 8 }));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a.split('\n')).toHaveLength(302);
  });

  test('the bundled example is exactly what the generator writes, and small', async () => {
    const dir = join(__dirname, '..', 'examples', 'support-tickets', 'data');
    expect(readFileSync(join(dir, 'tickets-clean.csv'), 'utf8')).toBe(await text(generateTickets({ rows: 3000, seed: 1 })));
    expect(readFileSync(join(dir, 'tickets-day2.csv'), 'utf8')).toBe(await text(generateTickets({ rows: 1000, seed: 2 })));
    expect(statSync(join(dir, 'tickets-clean.csv')).size + statSync(join(dir, 'tickets-day2.csv')).size).toBeLessThan(500 * 1024);
  });

  test('the config next to the data names its label, id, classes and problem type', () => {
    const config = JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'support-tickets', 'relearn.config.json'), 'utf8'));
    expect(config.dataset).toMatchObject({ labelColumn: 'priority', idColumn: 'ticket_id', classes: [...CLASSES] });
    expect(config.evaluation.problemType).toBe('multiclass_classification');
    for (const c of config.dataset.sliceColumns) expect(columnsOf()).toContain(c);
  });

  test('clean rows: unique ids, three classes, and the messiness of a real export', async () => {
    const rs = await rows(3000, 3);
    expect(Object.keys(rs[0])).toEqual(columnsOf());
    expect(new Set(rs.map((r) => r.ticket_id)).size).toBe(3000);
    expect(new Set(rs.map((r) => r.priority))).toEqual(new Set(CLASSES));
    for (const c of CLASSES) expect(share(rs, (r) => r.priority === c)).toBeGreaterThan(0.15);
    // Hundreds of accounts, a few of them big; rare categories; money as text; missing values; outliers.
    const accounts = new Set(rs.map((r) => r.account_id));
    expect(accounts.size).toBeGreaterThan(150);
    expect(accounts.size / rs.length).toBeLessThan(0.2); // still a category by ValidateData's rule
    expect(share(rs, (r) => r.channel === 'social')).toBeLessThan(0.01);
    expect(share(rs, (r) => r.channel === 'social')).toBeGreaterThan(0);
    expect(share(rs, (r) => r.product_area === 'legacy_sso')).toBeGreaterThan(0);
    expect(rs.some((r) => /^\$\d{1,3}(,\d{3})+$/.test(r.account_mrr ?? ''))).toBe(true);
    expect(rs.every((r) => blank(r.account_mrr) || /^\$[\d,]+$/.test(r.account_mrr!))).toBe(true);
    for (const c of ['affected_users', 'account_mrr', 'subject']) {
      expect(share(rs, (r) => blank(r[c]))).toBeGreaterThan(0.005);
      expect(share(rs, (r) => blank(r[c]))).toBeLessThan(0.1); // below ValidateData's default missing-share limit
    }
    expect(Math.max(...rs.filter((r) => !blank(r.affected_users)).map((r) => Number(r.affected_users)))).toBeGreaterThan(10000);
    expect(rs.some((r) => r.subject?.includes(','))).toBe(true);
  });

  test('the planted signal differs by region: affected users drive urgency in NA, the channel in APAC, LATAM is weak', async () => {
    const rs = await rows(30000, 4);
    const region = (code: string) => rs.filter((r) => r.region === code);
    const users = (r: Row) => Number(r.affected_users);
    const usersGap = (g: Row[]) => highRate(g.filter((r) => !blank(r.affected_users) && users(r) >= 20)) - highRate(g.filter((r) => !blank(r.affected_users) && users(r) <= 2));
    const phoneGap = (g: Row[]) => highRate(g.filter((r) => r.channel === 'phone')) - highRate(g.filter((r) => r.channel === 'web'));
    expect(REGIONS.map((r) => r.code)).toEqual(['NA', 'EMEA', 'APAC', 'LATAM']);
    expect(usersGap(region('NA'))).toBeGreaterThan(0.4);
    expect(usersGap(region('APAC'))).toBeLessThan(usersGap(region('NA')) - 0.15);
    expect(phoneGap(region('APAC'))).toBeGreaterThan(0.4);
    expect(phoneGap(region('NA'))).toBeLessThan(phoneGap(region('APAC')) - 0.15);
    expect(Math.abs(usersGap(region('LATAM')))).toBeLessThan(usersGap(region('NA')) / 2);
    // The subject carries signal too.
    const outage = rs.filter((r) => r.subject === 'production is down for all our users');
    const darkMode = rs.filter((r) => r.subject === 'feature request: dark mode');
    expect(highRate(outage) - highRate(darkMode)).toBeGreaterThan(0.2);
  });

  test('bad days: a new class, unlabeled tickets, an incident day', async () => {
    const novel = await rows(3000, 5, 'new-class');
    expect(share(novel, (r) => r.priority === 'urgent')).toBeGreaterThan(0.05);
    expect(share(novel, (r) => r.priority === 'urgent')).toBeLessThan(0.12);
    const unlabeled = await rows(3000, 5, 'unlabeled');
    expect(share(unlabeled, (r) => blank(r.priority))).toBeGreaterThan(0.07);
    const clean = await rows(3000, 5);
    const incident = await rows(3000, 5, 'shift');
    expect(share(incident, (r) => r.product_area === 'login')).toBeGreaterThan(2 * share(clean, (r) => r.product_area === 'login'));
    expect(highRate(incident)).toBeGreaterThan(highRate(clean));
    expect(new Set(incident.map((r) => r.priority))).toEqual(new Set(CLASSES));
  });

  test('refuses bad options, and the CLI writes CSV or exits 2 with one line', () => {
    expect(() => generateTickets({ rows: 10, seed: 1, variant: 'sunny' as TicketVariant })).toThrow(/variant must be one of clean, new-class, unlabeled, shift, but got "sunny"/);
    expect(() => generateTickets({ rows: 1.5, seed: 1 })).toThrow(/rows must be a non-negative integer, but got 1.5/);
    const cli = (args: string[]) => spawnSync('npx', ['--no-install', 'tsx', 'examples/support-tickets/generate.ts', ...args], { cwd: join(__dirname, '..'), encoding: 'utf8' });
    const ok = cli(['--rows', '3', '--seed', '1', '--variant', 'new-class']);
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe(columnsOf().join(','));
    expect(ok.stdout.trim().split('\n')).toHaveLength(4);
    const bad = cli(['--rows', '3', '--colour', 'red']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('generate: unknown option --colour (known: --rows, --seed, --variant, --out)');
  });
});
