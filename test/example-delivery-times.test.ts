import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CITIES, columnsOf, DeliveryVariant, generateDeliveries } from '../examples/delivery-times/generate';
import { readRows } from '../lambdas/shared/tabular';

type Row = Record<string, string | null>;

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

/** Parsed with the project's own CSV reader (the one Ingest uses), so the generator's quoting is checked too. */
async function rows(n: number, seed: number, variant: DeliveryVariant = 'clean'): Promise<Row[]> {
  const out: Row[] = [];
  for await (const { row } of readRows(generateDeliveries({ rows: n, seed, variant }), { format: 'csv', file: `${variant}.csv` })) out.push(row);
  return out;
}

const blank = (v: string | null | undefined) => v === null || v === undefined || v === '';
const share = (rs: Row[], f: (r: Row) => boolean) => rs.filter(f).length / rs.length;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const minutes = (rs: Row[]) => mean(rs.map((r) => Number(r.delivery_minutes)));
const km = (r: Row) => Number(/^([\d.]+) km$/.exec(r.distance!)![1]);

describe('generateDeliveries', () => {
  test('is deterministic: the same seed gives the same bytes, another seed other data', async () => {
    const a = await text(generateDeliveries({ rows: 300, seed: 7 }));
    const b = await text(generateDeliveries({ rows: 300, seed: 7, chunkRows: 17 }));
    const c = await text(generateDeliveries({ rows: 300, seed: 8 }));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a.split('\n')).toHaveLength(302);
  });

  test('the bundled example is exactly what the generator writes, and small', async () => {
    const dir = join(__dirname, '..', 'examples', 'delivery-times', 'data');
    expect(readFileSync(join(dir, 'deliveries-clean.csv'), 'utf8')).toBe(await text(generateDeliveries({ rows: 3000, seed: 1 })));
    expect(readFileSync(join(dir, 'deliveries-day2.csv'), 'utf8')).toBe(await text(generateDeliveries({ rows: 1000, seed: 2 })));
    expect(statSync(join(dir, 'deliveries-clean.csv')).size + statSync(join(dir, 'deliveries-day2.csv')).size).toBeLessThan(500 * 1024);
  });

  test('the config next to the data names its label, id and problem type', () => {
    const config = JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'delivery-times', 'relearn.config.json'), 'utf8'));
    expect(config.dataset).toMatchObject({ labelColumn: 'delivery_minutes', idColumn: 'order_id' });
    expect(config.evaluation.problemType).toBe('regression');
    for (const c of config.dataset.sliceColumns) expect(columnsOf()).toContain(c);
  });

  test('clean rows: unique ids, a numeric label, and the messiness of a real export', async () => {
    const rs = await rows(3000, 3);
    expect(Object.keys(rs[0])).toEqual(columnsOf());
    expect(new Set(rs.map((r) => r.order_id)).size).toBe(3000);
    expect(rs.every((r) => Number.isFinite(Number(r.delivery_minutes)))).toBe(true);
    // Every distance is a number with its unit; a few are typed wrong (ten times too far).
    expect(rs.every((r) => /^\d+\.\d km$/.test(r.distance!))).toBe(true);
    expect(Math.max(...rs.map(km))).toBeGreaterThan(40);
    // Hundreds of restaurants (still a category by ValidateData's rule), a rare weather, missing values, free text.
    const restaurants = new Set(rs.map((r) => r.restaurant_id));
    expect(restaurants.size).toBeGreaterThan(200);
    expect(restaurants.size / rs.length).toBeLessThan(0.2);
    expect(share(rs, (r) => r.weather === 'hail')).toBeGreaterThan(0);
    expect(share(rs, (r) => r.weather === 'hail')).toBeLessThan(0.01);
    for (const c of ['weather', 'courier_rating', 'prep_estimate_min', 'notes']) {
      expect(share(rs, (r) => blank(r[c]))).toBeGreaterThan(0.01);
      expect(share(rs, (r) => blank(r[c]))).toBeLessThan(0.2); // below ValidateData's default missing-share limit
    }
    expect(rs.some((r) => r.notes?.includes(','))).toBe(true);
    // Outliers in the label: a courier who got lost.
    const typical = minutes(rs);
    expect(rs.some((r) => Number(r.delivery_minutes) > typical + 40)).toBe(true);
  });

  test('the planted signal differs by city: rain slows bikes in Berlin, rush hour slows cars in London, Lisbon is noisy', async () => {
    const rs = await rows(40000, 4);
    const city = (name: string) => rs.filter((r) => r.city === name);
    const pace = (g: Row[]) => mean(g.map((r) => (Number(r.delivery_minutes) - Number(r.prep_estimate_min || 15)) / km(r)));
    const bikes = (g: Row[]) => g.filter((r) => r.vehicle === 'bike' && km(r) > 2 && km(r) < 15);
    const cars = (g: Row[]) => g.filter((r) => r.vehicle === 'car' && km(r) > 2 && km(r) < 15);
    const rainGap = (g: Row[]) => pace(bikes(g).filter((r) => r.weather === 'rain')) - pace(bikes(g).filter((r) => r.weather === 'clear'));
    const rush = (r: Row) => ['12', '13', '17', '18', '19'].includes(r.hour!);
    const rushGap = (g: Row[]) => pace(cars(g).filter(rush)) - pace(cars(g).filter((r) => !rush(r)));
    expect(CITIES.map((c) => c.name)).toContain('Lisbon');
    expect(rainGap(city('Berlin'))).toBeGreaterThan(1.5);
    expect(rainGap(city('London'))).toBeLessThan(rainGap(city('Berlin')) - 1);
    expect(rushGap(city('London'))).toBeGreaterThan(1.2);
    expect(rushGap(city('Berlin'))).toBeLessThan(rushGap(city('London')) - 0.8);
    const spread = (g: Row[]) => {
      const m = minutes(g);
      return Math.sqrt(mean(g.map((r) => (Number(r.delivery_minutes) - m) ** 2)));
    };
    expect(spread(city('Lisbon'))).toBeGreaterThan(spread(city('Paris')));
    // The notes carry signal too.
    const stairs = rs.filter((r) => r.notes === '6th floor no lift sorry');
    const door = rs.filter((r) => r.notes === 'leave at the door');
    expect(minutes(stairs) - minutes(door)).toBeGreaterThan(4);
  });

  test('bad days: a label exported as text, a rainy week', async () => {
    const text = await rows(3000, 5, 'label-text');
    const asText = text.filter((r) => !Number.isFinite(Number(r.delivery_minutes)));
    expect(asText.length / text.length).toBeGreaterThan(0.01);
    expect(asText.every((r) => /^\d+ min$/.test(r.delivery_minutes!))).toBe(true);
    const clean = await rows(3000, 5);
    const rainy = await rows(3000, 5, 'shift');
    expect(share(rainy, (r) => r.weather === 'rain')).toBeGreaterThan(2 * share(clean, (r) => r.weather === 'rain'));
    expect(minutes(rainy)).toBeGreaterThan(minutes(clean));
  });

  test('refuses bad options, and the CLI writes CSV or exits 2 with one line', () => {
    expect(() => generateDeliveries({ rows: 10, seed: 1, variant: 'sunny' as DeliveryVariant })).toThrow(/variant must be one of clean, label-text, shift, but got "sunny"/);
    expect(() => generateDeliveries({ rows: 10, seed: 0.5 })).toThrow(/seed must be an integer, but got 0.5/);
    const cli = (args: string[]) => spawnSync('npx', ['--no-install', 'tsx', 'examples/delivery-times/generate.ts', ...args], { cwd: join(__dirname, '..'), encoding: 'utf8' });
    const ok = cli(['--rows', '3', '--seed', '1', '--variant', 'label-text']);
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe(columnsOf().join(','));
    expect(ok.stdout.trim().split('\n')).toHaveLength(4);
    const bad = cli(['--rows']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('generate: --rows needs a value');
  });
});
