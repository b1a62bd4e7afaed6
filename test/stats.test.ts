import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  CsvStatsScanner,
  DatasetStats,
  DDSketch,
  FrequentItems,
  HyperLogLog,
  hashString,
  mergeStats,
  statsOfCsv,
  statsOfRows,
  StatsPlan,
  jensenShannon,
  ScanOptions,
  RowLocation,
} from '../lambdas/shared/stats';
import { openTable, ParseError } from '../lambdas/shared/tabular';

/** Deterministic random numbers for the test data (independent of the engine). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PLAN: StatsPlan = {
  columns: [
    { name: 'x', kind: 'numeric' },
    { name: 'cat', kind: 'categorical' },
    { name: 'note', kind: 'text' },
    { name: 'copy', kind: 'numeric' },
    { name: 'y', kind: 'numeric' },
  ],
  labelColumn: 'y',
};

interface Row {
  x: string;
  cat: string;
  note: string;
  copy: string;
  y: string;
}

function makeRows(n: number, seed: number): Row[] {
  const r = rng(seed);
  const cats = ['red', 'green', 'blue', 'Zoë', 'a,b'];
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    const x = u < 0.05 ? '' : u < 0.06 ? 'NaN' : u < 0.065 ? '-inf' : u < 0.07 ? 'oops' : ((r() - 0.3) * 1000).toFixed(r() < 0.5 ? 0 : 3);
    const y = r() < 0.3 ? '1' : '0';
    rows.push({
      x,
      cat: cats[Math.floor(r() * r() * cats.length)],
      note: r() < 0.1 ? '' : r() < 0.1 ? '   ' : `said "hi" ${Math.floor(r() * 50)}\nbye`,
      copy: y,
      y,
    });
  }
  return rows;
}

function toCsv(rows: Row[]): string {
  const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return 'x,cat,note,copy,y\r\n' + rows.map((r) => [r.x, r.cat, r.note, r.copy, r.y].map(q).join(',')).join('\r\n') + '\r\n';
}

function scan(csv: string | Buffer, chunk = 4096, plan = PLAN, file = 'part.csv', opts: Partial<ScanOptions> = {}): DatasetStats {
  const bytes = Buffer.isBuffer(csv) ? csv : Buffer.from(csv);
  const s = new CsvStatsScanner(plan, { file, ...opts });
  for (let i = 0; i < bytes.length; i += chunk) s.push(bytes.subarray(i, i + chunk));
  return s.end();
}

describe('statistics engine: exact counts and moments', () => {
  test('match a reference computed independently from the rows', () => {
    // GIVEN rows with missing values, NaN, -inf, a non-number, quotes, newlines and CRLF
    const rows = makeRows(5000, 1);
    // WHEN scanned 1 KB at a time
    const stats = scan(toCsv(rows), 1000);
    // THEN counts are exact
    const x = stats.column('x')!;
    const finite = rows.map((r) => r.x).filter((v) => v !== '' && v !== 'NaN' && v !== '-inf' && v !== 'oops').map(Number);
    expect(stats.rows).toBe(5000);
    expect(x.count).toBe(5000);
    expect(x.missing).toBe(rows.filter((r) => r.x === '').length);
    expect(x.nan).toBe(rows.filter((r) => r.x === 'NaN').length);
    expect(x.negInf).toBe(rows.filter((r) => r.x === '-inf').length);
    expect(x.typeErrors).toBe(rows.filter((r) => r.x === 'oops').length);
    expect(x.typeErrorExample).toMatchObject({ value: 'oops', file: 'part.csv' });
    // and moments agree with a two-pass reference
    const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
    const variance = finite.reduce((a, b) => a + (b - mean) ** 2, 0) / finite.length;
    expect(x.moments!.n).toBe(finite.length);
    expect(x.moments!.mean).toBeCloseTo(mean, 9);
    expect(x.moments!.std).toBeCloseTo(Math.sqrt(variance), 9);
    expect(x.moments!.min).toBe(Math.min(...finite));
    expect(x.moments!.max).toBe(Math.max(...finite));
    // text: blank vs missing, byte lengths
    const note = stats.column('note')!;
    expect(note.missing).toBe(rows.filter((r) => r.note === '').length);
    expect(note.blank).toBe(rows.filter((r) => r.note === '   ').length);
    const lengths = rows.filter((r) => r.note !== '').map((r) => Buffer.byteLength(r.note));
    expect(note.length!.n).toBe(lengths.length);
    expect(note.length!.mean).toBeCloseTo(lengths.reduce((a, b) => a + b, 0) / lengths.length, 9);
    // categorical frequencies are exact while few
    const cat = stats.column('cat')!;
    const ref = new Map<string, number>();
    rows.forEach((r) => ref.set(r.cat, (ref.get(r.cat) ?? 0) + 1));
    expect(Object.fromEntries(cat.freq!.top().map((e) => [e.value, e.count]))).toEqual(Object.fromEntries(ref));
    expect(cat.hll.estimate()).toBe(ref.size);
    // label balance and leakage
    expect(stats.column('y')!.freq!.top()).toEqual([
      { value: '0', count: rows.filter((r) => r.y === '0').length },
      { value: '1', count: rows.filter((r) => r.y === '1').length },
    ]);
    expect(stats.column('copy')!.equalToLabel).toBe(5000);
    // numeric columns compare values ("0.000" equals a label "0")
    expect(stats.column('x')!.equalToLabel).toBe(rows.filter((r) => r.x !== '' && Number(r.x) === Number(r.y)).length);
  });

  test('do not depend on how the bytes are chunked', () => {
    const csv = toCsv(makeRows(400, 2));
    const whole = JSON.stringify(scan(csv, 1 << 20).toJSON());
    for (const size of [1, 7, 64]) expect(JSON.stringify(scan(csv, size).toJSON())).toBe(whole);
  });

  test('rows parsed elsewhere (JSON Lines) give the same statistics as the CSV', async () => {
    const rows = makeRows(300, 3);
    const table = await openTable(Readable.from([toCsv(rows)]), { format: 'csv', file: 'a.csv' });
    const viaRows = await statsOfRows(table.columns, table.rows, PLAN, 'a.csv');
    expect(JSON.stringify(viaRows.toJSON())).toBe(JSON.stringify(scan(toCsv(rows), 4096, PLAN, 'a.csv').toJSON()));
  });

  test('a truncated gzip names the file and the line reached', async () => {
    const gz = gzipSync(toCsv(makeRows(3000, 11)));
    await expect(statsOfCsv(Readable.from([gz.subarray(0, gz.length >> 1)]), PLAN, { file: 'p.csv.gz' })).rejects.toThrow(
      /^p\.csv\.gz line \d+: gzip stream is corrupt or truncated/,
    );
  });

  test('gzip streams are read', async () => {
    const csv = toCsv(makeRows(200, 4));
    const stats = await statsOfCsv(Readable.from([gzipSync(csv)]), PLAN, { file: 'p.csv.gz' });
    expect(JSON.stringify(stats.toJSON())).toBe(JSON.stringify(scan(csv, 4096, PLAN, 'p.csv.gz').toJSON()));
  });
});

/** The line each row of `csv` starts on (records may span lines): what Ingest's line map records. */
async function rowLines(csv: string): Promise<number[]> {
  const lines: number[] = [];
  for await (const r of (await openTable(Readable.from([csv]), { format: 'csv', file: 'x' })).rows) lines.push(r.line);
  return lines;
}

describe('statistics engine: merge(a, b) equals stats(a + b)', () => {
  /** A plan with a range on x, so that out-of-range rows are located too. */
  const RANGED: StatsPlan = { ...PLAN, columns: PLAN.columns.map((c) => (c.name === 'x' ? { ...c, range: { min: -250, max: 600 } } : c)) };

  test('exactly for counts, sketches, frequencies and first offending rows; to rounding for moments', async () => {
    // GIVEN a dataset split into two shards whose rows interleave (as the train/validation split does), each
    // locating its rows in the whole file as Ingest's line map does
    const rows = makeRows(3000, 5);
    const source = await rowLines(toCsv(rows));
    const pick = rng(77);
    const inA = rows.map(() => pick() < 0.3);
    const shard = (mine: boolean) => {
      const index = rows.map((_, i) => i).filter((i) => inA[i] === mine);
      const locate = (row: number): RowLocation => ({ file: 'src.csv', line: source[index[row]] });
      return scan(toCsv(index.map((i) => rows[i])), 4096, RANGED, 'part.csv', { locate });
    };
    const a = shard(true);
    const b = shard(false);
    const all = scan(toCsv(rows), 4096, RANGED, 'part.csv', { locate: (row) => ({ file: 'src.csv', line: source[row] }) });
    // WHEN merged (in either order)
    const merged = mergeStats(a, b);
    expect(JSON.stringify(mergeStats(b, a).toJSON().columns.map((c) => [c.typeErrorExample, c.nonFiniteExample, c.missingExample, c.outOfRangeExample, c.firsts])))
      .toBe(JSON.stringify(merged.toJSON().columns.map((c) => [c.typeErrorExample, c.nonFiniteExample, c.missingExample, c.outOfRangeExample, c.firsts])));
    // THEN
    const m = merged.toJSON();
    const w = all.toJSON();
    const x = w.columns[0];
    expect([x.typeErrorExample, x.nonFiniteExample, x.missingExample, x.outOfRangeExample].every((e) => e !== undefined)).toBe(true);
    // the first offending row is the first in the source: its line is the smallest offending one
    const firstOops = rows.findIndex((r) => r.x === 'oops');
    expect(x.typeErrorExample).toEqual({ file: 'src.csv', line: source[firstOops], value: 'oops' });
    const firstOut = rows.findIndex((r) => r.x !== '' && Number.isFinite(Number(r.x)) && (Number(r.x) < -250 || Number(r.x) > 600));
    expect(x.outOfRangeExample).toEqual({ file: 'src.csv', line: source[firstOut], value: rows[firstOut].x });
    expect(m.rows).toBe(w.rows);
    expect(m.rowHll).toEqual(w.rowHll);
    m.columns.forEach((c, i) => {
      const { moments, length, ...rest } = c;
      const { moments: wm, length: wl, ...wrest } = w.columns[i];
      expect(rest).toEqual(wrest); // counts, HLL registers, DDSketch bins, frequent items
      for (const [got, want] of [[moments, wm], [length, wl]]) {
        if (!want) continue;
        expect(got!.n).toBe(want.n);
        expect(got!.min).toBe(want.min);
        expect(got!.max).toBe(want.max);
        expect(got!.mean).toBeCloseTo(want.mean, 9);
        expect(got!.m2 / want.m2).toBeCloseTo(1, 12);
      }
    });
    // and the inputs are unchanged
    expect(a.rows).toBe(inA.filter(Boolean).length);
  });

  test('survives a JSON round trip (shards are stored in S3)', () => {
    const a = scan(toCsv(makeRows(500, 6)));
    expect(DatasetStats.fromJSON(JSON.parse(JSON.stringify(a.toJSON()))).toJSON()).toEqual(a.toJSON());
  });
});

describe('sketches stay within their stated error bounds', () => {
  test('DDSketch quantiles are within relative error alpha of the exact quantiles', () => {
    const r = rng(7);
    const values: number[] = [];
    for (let i = 0; i < 20000; i++) values.push(r() < 0.2 ? -Math.exp(r() * 5) : r() < 0.05 ? 0 : Math.exp(r() * 12 - 3));
    const s = new DDSketch(0.01);
    values.forEach((v) => s.add(v));
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
      const exact = sorted[Math.floor(q * (sorted.length - 1))];
      const est = s.quantile(q)!;
      expect(Math.abs(est - exact)).toBeLessThanOrEqual(0.01 * Math.abs(exact) + 1e-12);
    }
  });

  test('DDSketch merge is exact: merged bins equal the bins of all values', () => {
    const r = rng(8);
    const a = new DDSketch();
    const b = new DDSketch();
    const all = new DDSketch();
    for (let i = 0; i < 5000; i++) {
      const v = (r() - 0.5) * 10 ** (r() * 8);
      (i % 3 ? a : b).add(v);
      all.add(v);
    }
    a.merge(b);
    expect(a.toJSON()).toEqual(all.toJSON());
  });

  test('HyperLogLog is within 4 standard errors, and near exact for small sets', () => {
    const h = new HyperLogLog(12);
    for (let i = 0; i < 100000; i++) h.add(hashString(`user-${i}`));
    expect(Math.abs(h.estimate() / 100000 - 1)).toBeLessThan(4 * h.standardError);
    const small = new HyperLogLog(12);
    for (let i = 0; i < 300; i++) small.add(hashString(`v${i % 100}`));
    expect(Math.abs(small.estimate() - 100)).toBeLessThanOrEqual(2);
  });

  test('frequent items: every true count lies in [count, count + maxError], heavy hitters are kept', () => {
    const r = rng(9);
    const f = new FrequentItems(64);
    const truth = new Map<string, number>();
    for (let i = 0; i < 50000; i++) {
      const v = r() < 0.5 ? `heavy${Math.floor(r() * 5)}` : `tail${Math.floor(r() * 5000)}`;
      f.add(v);
      truth.set(v, (truth.get(v) ?? 0) + 1);
    }
    expect(f.exact).toBe(false);
    const est = new Map(f.top().map((e) => [e.value, e.count]));
    for (const [v, n] of truth) {
      const e = est.get(v) ?? 0;
      expect(e).toBeLessThanOrEqual(n);
      expect(n).toBeLessThanOrEqual(e + f.maxError);
      if (n > f.maxError) expect(est.has(v)).toBe(true);
    }
  });

  test('Jensen-Shannon divergence is 0 for the same distribution and grows with a shift', () => {
    const r = rng(10);
    const base = new DDSketch();
    const same = new DDSketch();
    const shifted = new DDSketch();
    for (let i = 0; i < 20000; i++) {
      base.add(100 + r() * 50);
      same.add(100 + r() * 50);
      shifted.add(130 + r() * 50);
    }
    expect(jensenShannon(same, base)).toBeLessThan(0.01);
    expect(jensenShannon(shifted, base)).toBeGreaterThan(0.3);
  });
});

describe('statistics engine: bad bytes name the file and line', () => {
  const plan: StatsPlan = { columns: [{ name: 'a', kind: 'numeric' }, { name: 'b', kind: 'text' }] };
  const fail = (csv: string | Buffer, chunk = 5): ParseError => {
    try {
      scan(csv, chunk, plan);
    } catch (err) {
      expect(err).toBeInstanceOf(ParseError);
      return err as ParseError;
    }
    throw new Error('expected a ParseError');
  };
  test('ragged row', () => expect(fail('a,b\n1,x\n2\n').message).toBe('part.csv line 3: ragged row: 1 fields, but the header has 2'));
  test('too many fields', () => expect(fail('a,b\n1,x,y\n').message).toBe('part.csv line 2: ragged row: more than the 2 fields of the header'));
  test('unbalanced quote', () => expect(fail('a,b\n1,"x\n2,y\n').message).toBe('part.csv line 2: unbalanced quote: the quoted field never closes before the end of the file'));
  test('text or a bare CR after a closing quote (as readRows says it)', () => {
    expect(fail('a,b\n1,"x"y\n').message).toBe('part.csv line 2: unexpected character after the closing quote of field 2 ("y"; a quote inside a quoted field is written "")');
    expect(fail('a,b\n"1"\r,x\n').message).toBe('part.csv line 2: unexpected character after the closing quote of field 1 (a CR that is not part of a CRLF line end)');
  });
  test('non-UTF-8', () => expect(fail(Buffer.concat([Buffer.from('a,b\n1,x\n2,'), Buffer.from([0xff, 0x0a])]), 100).message).toBe('part.csv line 3: not valid UTF-8'));
  test('header that is not the plan', () => expect(fail('a,c\n1,x\n').message).toMatch(/line 1: header \(a, c\) does not match the columns the statistics were planned for \(a, b\)/));
});

describe('statistics engine: invalid UTF-8 in the last line (no line end) and across chunk boundaries', () => {
  const plan: StatsPlan = { columns: [{ name: 'a', kind: 'numeric' }, { name: 'b', kind: 'text' }] };
  test.each([1, 3, 1000])('chunks of %i bytes', (chunk) => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,x\n2,ok\n3,'), Buffer.from([0xc3]), Buffer.from('x')]);
    expect(() => scan(bytes, chunk, plan)).toThrow('part.csv line 4: not valid UTF-8');
    // and a valid 2-byte character split across chunks is fine
    const good = Buffer.from('a,b\n1,é\n2,日本\n');
    expect(scan(good, chunk, plan).column('b')!.hll.estimate()).toBe(2);
  });
});
