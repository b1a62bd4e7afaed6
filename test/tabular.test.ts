import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { openTable, ParseError, readRows, writeCsvRow } from '../lambdas/shared/tabular';

/** A stream that delivers `bytes` in chunks of `size`, to exercise values split across chunks. */
function chunked(bytes: Buffer | string, size = 3): Readable {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

async function collect(input: Readable, format: 'csv' | 'jsonl', file = 'incoming/a.csv', extra: object = {}) {
  const out: { line: number; row: Record<string, string | null> }[] = [];
  for await (const r of readRows(input, { format, file, ...extra })) out.push(r);
  return out;
}

async function parseError(p: Promise<unknown>): Promise<ParseError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ParseError);
    return err as ParseError;
  }
  throw new Error('expected a ParseError');
}

describe('readRows (CSV)', () => {
  test('reads RFC 4180: quotes, escaped quotes, embedded newlines, CRLF, BOM, empty -> null', async () => {
    // GIVEN a CSV with a BOM, CRLF endings and every quoting case, delivered 3 bytes at a time
    const csv = '\uFEFFid,name,note\r\n1,"Smith, J","said ""hi""\r\nthen left"\r\n2,,""\r\n3,Zoë 日本,plain\r\n';
    // WHEN
    const rows = await collect(chunked(csv), 'csv');
    // THEN
    expect(rows).toEqual([
      { line: 2, row: { id: '1', name: 'Smith, J', note: 'said "hi"\r\nthen left' } },
      { line: 4, row: { id: '2', name: null, note: '' } },
      { line: 5, row: { id: '3', name: 'Zoë 日本', note: 'plain' } },
    ]);
  });

  test('a last line without newline and blank lines are handled', async () => {
    const rows = await collect(chunked('a,b\n1,2\n\n3,4'), 'csv');
    expect(rows.map((r) => r.row)).toEqual([{ a: '1', b: '2' }, { a: '3', b: '4' }]);
    expect(rows[1].line).toBe(4);
  });

  test('CRLF split across chunks, and a last line ending in a bare CR', async () => {
    for (const size of [1, 2, 5]) {
      const rows = await collect(chunked('a,b\r\n1,"x"\r\n2,y\r', size), 'csv');
      expect(rows.map((r) => r.row)).toEqual([{ a: '1', b: 'x' }, { a: '2', b: 'y' }]);
    }
  });

  test('gzip is detected by the .gz suffix', async () => {
    const rows = await collect(chunked(gzipSync('a,b\n1,2\n'), 7), 'csv', 'incoming/x.csv.gz');
    expect(rows.map((r) => r.row)).toEqual([{ a: '1', b: '2' }]);
  });

  test('an unbalanced quote names file and line', async () => {
    const err = await parseError(collect(chunked('a,b\n1,2\n3,"oops\n4,5\n'), 'csv'));
    expect(err.message).toBe('incoming/a.csv line 3: unbalanced quote: the quoted field never closes before the end of the file');
    expect(err).toMatchObject({ file: 'incoming/a.csv', line: 3 });
  });

  test('an unbalanced quote in a big file stops at the line cap instead of reading the rest', async () => {
    const body = 'a,b\n1,"never closed\n' + 'x,y\n'.repeat(1000);
    const err = await parseError(collect(chunked(body, 64), 'csv', 'incoming/a.csv', { maxLineBytes: 200 }));
    expect(err.message).toMatch(/line 2: record is longer than 200 bytes: unbalanced quote/);
  });

  test('a ragged row names file, line and field counts', async () => {
    const err = await parseError(collect(chunked('a,b,c\n1,2,3\n4,5\n'), 'csv'));
    expect(err.message).toBe('incoming/a.csv line 3: ragged row: 2 fields, but the header (line 1) has 3');
  });

  test('non-UTF-8 bytes name the line', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,2\n3,caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const err = await parseError(collect(chunked(bytes), 'csv'));
    expect(err.message).toBe('incoming/a.csv line 3: field 2 is not valid UTF-8');
  });

  test('an over-long line is refused', async () => {
    const err = await parseError(collect(chunked(`a\n${'x'.repeat(500)}\n`, 50), 'csv', 'f.csv', { maxLineBytes: 100 }));
    expect(err.message).toBe('f.csv line 2: line is longer than 100 bytes');
  });

  test('a truncated gzip names the file', async () => {
    const gz = gzipSync('a,b\n' + '1,2\n'.repeat(5000));
    const err = await parseError(collect(chunked(gz.subarray(0, gz.length - 20), 100), 'csv', 'incoming/t.csv.gz'));
    expect(err.message).toMatch(/^incoming\/t\.csv\.gz line \d+: gzip stream is corrupt or truncated/);
  });

  test('a duplicate or empty header is refused', async () => {
    expect((await parseError(collect(chunked('a,a\n1,2\n'), 'csv'))).message).toMatch(/line 1: header names column "a" twice/);
    expect((await parseError(collect(chunked('a,,c\n1,2,3\n'), 'csv'))).message).toMatch(/line 1: header field 2 is empty/);
  });

  test('text after a closing quote is refused', async () => {
    const err = await parseError(collect(chunked('a,b\n"x"y,2\n'), 'csv'));
    expect(err.message).toMatch(/line 2: unexpected character after the closing quote of field 1/);
  });

  test('a CR is part of the line end only before LF or as the last byte: elsewhere it is data, and after a closing quote an error', async () => {
    // GIVEN bare CRs inside unquoted fields (the statistics scanner reads them the same way: test/csv-scanner.test.ts)
    for (const size of [1, 2, 1000]) {
      // WHEN
      const rows = await collect(chunked('a,b\r\n1\r,x\r\r\n"q",y\r', size), 'csv');
      // THEN the CR is kept where it is not a line end, never dropped silently
      expect(rows.map((r) => r.row)).toEqual([{ a: '1\r', b: 'x\r' }, { a: 'q', b: 'y' }]);
      // and a CR between a closing quote and a comma is not a separator
      const err = await parseError(collect(chunked('a,b\r\n1,2\r\n"x"\r,y\r\n', size), 'csv'));
      expect(err.message).toBe('incoming/a.csv line 3: unexpected character after the closing quote of field 1 (a CR that is not part of a CRLF line end)');
    }
  });

  test('an empty file has no columns and no rows', async () => {
    const t = await openTable(chunked(''), { format: 'csv', file: 'e.csv' });
    expect(t.columns).toEqual([]);
    expect((await t.rows.next()).done).toBe(true);
  });
});

describe('readRows (JSON Lines)', () => {
  test('reads objects; numbers and booleans as text, null and missing keys as null', async () => {
    const text = '{"id":1,"name":"Zoë","ok":true,"x":null}\n\n{"id":2,"name":"b","ok":false}\n';
    const rows = await collect(chunked(text, 5), 'jsonl', 'in.jsonl');
    expect(rows).toEqual([
      { line: 1, row: { id: '1', name: 'Zoë', ok: 'true', x: null } },
      { line: 3, row: { id: '2', name: 'b', ok: 'false', x: null } },
    ]);
  });

  test('a line that is not an object names the line', async () => {
    const err = await parseError(collect(chunked('{"a":1}\n[1,2]\n'), 'jsonl', 'in.jsonl'));
    expect(err.message).toBe('in.jsonl line 2: a JSON line must be an object, but got an array');
  });

  test('invalid JSON and unknown keys name the line', async () => {
    expect((await parseError(collect(chunked('{"a":1}\n{"a":\n'), 'jsonl', 'in.jsonl'))).message).toMatch(/^in\.jsonl line 2: not valid JSON/);
    expect((await parseError(collect(chunked('{"a":1}\n{"a":2,"b":3}\n'), 'jsonl', 'in.jsonl'))).message).toBe(
      'in.jsonl line 2: key "b" is not among the keys of the first line (line 1)',
    );
  });
});

describe('writeCsvRow', () => {
  test('quotes only what needs quoting and round-trips through readRows', async () => {
    const values = ['plain', 'a,b', 'say "x"', 'two\nlines', null, ''];
    const line = writeCsvRow(values);
    expect(line).toBe('plain,"a,b","say ""x""","two\nlines",,""\n');
    const rows = await collect(chunked(writeCsvRow(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']) + line), 'csv');
    expect(Object.values(rows[0].row)).toEqual(values);
  });
});

describe('what the first bytes say (issue 13: encodings and line ends are named, not misread)', () => {
  const churn = 'id,age,plan\n1,31,pro\n2,45,basic\n';

  test.each([
    ['gzip bytes in a .csv', gzipSync(churn), 'incoming/a.csv line 1: the file is gzip-compressed (it starts with the gzip bytes 1f 8b), but its name does not end with .gz'],
    ['UTF-16 LE with its byte order mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(churn, 'utf16le')]), 'incoming/a.csv line 1: the file is UTF-16 LE text (it starts with the byte order mark FF FE); relearn reads UTF-8: convert it, e.g. iconv -f UTF-16LE -t UTF-8'],
    ['UTF-16 BE with its byte order mark', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(churn, 'utf16le').swap16()]), 'incoming/a.csv line 1: the file is UTF-16 BE text (it starts with the byte order mark FE FF)'],
    ['UTF-32 LE with its byte order mark', Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from([...churn].flatMap((c) => [c.charCodeAt(0), 0, 0, 0]))]), 'incoming/a.csv line 1: the file is UTF-32 LE text (it starts with the byte order mark FF FE 00 00)'],
    ['UTF-32 BE with its byte order mark', Buffer.concat([Buffer.from([0, 0, 0xfe, 0xff]), Buffer.from([...churn].flatMap((c) => [0, 0, 0, c.charCodeAt(0)]))]), 'incoming/a.csv line 1: the file is UTF-32 BE text'],
    ['UTF-16 LE without a byte order mark', Buffer.from(churn, 'utf16le'), 'incoming/a.csv line 1: the file is UTF-16 LE text (every other byte is zero; it has no byte order mark)'],
    ['CR-only line ends', churn.replace(/\n/g, '\r'), "incoming/a.csv line 1: lines end with a CR alone (classic Mac OS line ends); relearn reads LF or CRLF line ends: convert them, e.g. tr '\\r' '\\n' < in.csv > out.csv"],
  ])('%s is named on line 1', async (_what, bytes, message) => {
    for (const size of [1, 7, 100000]) {
      const err = await parseError(collect(chunked(bytes, size), 'csv'));
      expect(err.message.startsWith(message)).toBe(true);
      expect(err.line).toBe(1);
    }
  });

  test('the same checks apply to JSON Lines', async () => {
    const jsonl = '{"id":1}\n{"id":2}\n';
    expect((await parseError(collect(chunked(Buffer.from(jsonl, 'utf16le')), 'jsonl', 'in.jsonl'))).message).toMatch(/^in\.jsonl line 1: the file is UTF-16 LE text/);
    expect((await parseError(collect(chunked(gzipSync(jsonl)), 'jsonl', 'in.jsonl'))).message).toMatch(/^in\.jsonl line 1: the file is gzip-compressed/);
    expect((await parseError(collect(chunked(jsonl.replace(/\n/g, '\r')), 'jsonl', 'in.jsonl'))).message).toMatch(/^in\.jsonl line 1: lines end with a CR alone/);
  });

  test('a .gz that is not gzip says so', async () => {
    const err = await parseError(collect(chunked(churn), 'csv', 'incoming/a.csv.gz'));
    expect(err.message).toMatch(/^incoming\/a\.csv\.gz line 1: the file's name ends with \.gz, but it is not gzip-compressed/);
  });

  test('what is fine stays fine: a UTF-8 BOM, CRLF, a lone CR as the very last byte, a gzip under .gz, a header with no line end', async () => {
    const expected = [{ id: '1', age: '31', plan: 'pro' }, { id: '2', age: '45', plan: 'basic' }];
    for (const bytes of [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(churn)]), Buffer.from(churn.replace(/\n/g, '\r\n')), Buffer.from(churn.trimEnd() + '\r')]) {
      expect((await collect(chunked(bytes, 5), 'csv')).map((r) => r.row)).toEqual(expected);
    }
    expect((await collect(chunked(gzipSync(churn), 5), 'csv', 'incoming/a.csv.gz')).map((r) => r.row)).toEqual(expected);
    expect(await collect(chunked('id,age'), 'csv')).toEqual([]);
  });

  test('a duplicated header column names both fields', async () => {
    const err = await parseError(collect(chunked('a,b,a\n1,2,3\n'), 'csv'));
    expect(err.message).toBe('incoming/a.csv line 1: header names column "a" twice (fields 1 and 3)');
  });
});

describe('streams are closed on every path (issue 13: a refused header left an S3 body open and the run hung)', () => {
  /** A stream that never ends by itself (like an S3 body of a big file, read a chunk at a time). */
  function endless(header: string): Readable & { wasDestroyed: () => boolean } {
    let sent = false;
    const r = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(Buffer.from(header + '\n'));
        } else {
          this.push(Buffer.from('1,2,3\n'.repeat(1000)));
        }
      },
    });
    return Object.assign(r, { wasDestroyed: () => r.destroyed });
  }

  test('a header refused by openTable destroys the input', async () => {
    const input = endless('a,b,a');
    await expect(openTable(input, { format: 'csv', file: 'big.csv' })).rejects.toThrow(/header names column "a" twice/);
    expect(input.wasDestroyed()).toBe(true);
  });

  test('a table dropped by its caller is closed by close(), without its rows being read', async () => {
    const input = endless('a,b,c');
    const table = await openTable(input, { format: 'csv', file: 'big.csv' });
    expect(table.columns).toEqual(['a', 'b', 'c']);
    expect(input.wasDestroyed()).toBe(false);
    await table.close();
    expect(input.wasDestroyed()).toBe(true);
  });

  test('leaving the rows loop early (break, or an error in the loop) destroys the input', async () => {
    const a = endless('a,b,c');
    const ta = await openTable(a, { format: 'csv', file: 'big.csv' });
    for await (const _row of ta.rows) break;
    expect(a.wasDestroyed()).toBe(true);
    const b = endless('a,b,c');
    const tb = await openTable(b, { format: 'csv', file: 'big.csv' });
    await expect(
      (async () => {
        for await (const row of tb.rows) if (row.line > 10) throw new Error('refused by the caller');
      })(),
    ).rejects.toThrow('refused by the caller');
    expect(b.wasDestroyed()).toBe(true);
  });

  test('a gzip input is destroyed too when its header is refused', async () => {
    const input = chunked(gzipSync('a,a\n' + '1,2\n'.repeat(100000)), 1000);
    await expect(openTable(input, { format: 'csv', file: 'big.csv.gz' })).rejects.toThrow(/twice/);
    expect(input.destroyed).toBe(true);
  });
});
