import { Readable } from 'node:stream';
import { CsvStatsScanner, StatsPlan } from '../lambdas/shared/stats';
import {
  CSV_AFTER_QUOTE,
  CSV_INCOMPLETE,
  CSV_INCOMPLETE_IN_QUOTES,
  CSV_TOO_MANY_FIELDS,
  CsvFields,
  F_ESCAPED,
  F_QUOTED,
  ParseError,
  readRows,
  splitRecord,
} from '../lambdas/shared/tabular';

/** The fields splitRecord found, as text (quotes unescaped), or its error code. */
function split(text: string, eof = true, capacity = 8): { next: number; fields?: string[]; flags?: number[]; extraLines?: number } {
  const buf = Buffer.from(text);
  const out = new CsvFields(capacity);
  const next = splitRecord(buf, 0, buf.length, eof, out);
  if (next < 0) return { next };
  const fields: string[] = [];
  const flags: number[] = [];
  for (let i = 0; i < out.count; i++) {
    const v = buf.toString('utf8', out.start[i], out.end[i]);
    fields.push(out.flags[i] & F_ESCAPED ? v.replace(/""/g, '"') : v);
    flags.push(out.flags[i]);
  }
  return { next, fields, flags, extraLines: out.extraLines };
}

describe('splitRecord: one RFC 4180 scanner for every CSV reader', () => {
  test('quoted fields, escaped quotes and embedded line ends', () => {
    // GIVEN a record with every quoting case and a CRLF inside quotes
    const rec = '1,"a,b","say ""hi""\r\nbye",,""\r\nnext';
    // WHEN
    const r = split(rec, false);
    // THEN the record ends after its CRLF, and the CRLF inside quotes is data and counted as a line
    expect(r).toEqual({
      next: rec.indexOf('next'),
      fields: ['1', 'a,b', 'say "hi"\r\nbye', '', ''],
      flags: [0, F_QUOTED, F_QUOTED | F_ESCAPED, 0, F_QUOTED],
      extraLines: 1,
    });
  });

  test.each([
    // [input, fields] — a CR is part of the line end only before LF or as the file's last byte
    ['a,b\r\n', ['a', 'b']],
    ['a,b\r', ['a', 'b']],
    ['"a","b"\r\n', ['a', 'b']],
    ['"a","b"\r', ['a', 'b']],
    ['1\r,2\n', ['1\r', '2']],
    ['a\rb,c\n', ['a\rb', 'c']],
    ['a,b\r\r\n', ['a', 'b\r']],
    ['"a\rb",c\n', ['a\rb', 'c']],
    // a quote inside an unquoted field, and spaces around fields, are data
    ['5\'10",x\n', ['5\'10"', 'x']],
    [' "a" ,b\n', [' "a" ', 'b']],
    // the end of the file ends the last record
    ['a,"b"', ['a', 'b']],
    ['a,', ['a', '']],
  ])('%j at the end of the file is %j', (input, fields) => {
    expect(split(input).fields).toEqual(fields);
  });

  test('a CR after a closing quote that is not part of CRLF is an error, like any other byte', () => {
    for (const input of ['"a"\r,b\n', '"a"\rb\n', '"a"\r"b"\n', '"a"x,b\n']) expect(split(input).next).toBe(CSV_AFTER_QUOTE);
  });

  test('a record that may go on past the buffer is incomplete, inside quotes or not', () => {
    expect(split('a,b', false).next).toBe(CSV_INCOMPLETE);
    expect(split('a,b\r', false).next).toBe(CSV_INCOMPLETE);
    expect(split('"a"\r', false).next).toBe(CSV_INCOMPLETE);
    expect(split('"a"', false).next).toBe(CSV_INCOMPLETE_IN_QUOTES); // `"a""...` may follow
    expect(split('"a\nb', false).next).toBe(CSV_INCOMPLETE_IN_QUOTES);
    expect(split('"a\nb', true).next).toBe(CSV_INCOMPLETE_IN_QUOTES); // at the end of the file: unbalanced
    expect(split('"a""', true).next).toBe(CSV_INCOMPLETE_IN_QUOTES);
  });

  test('more fields than the arrays hold is reported, and grow() keeps what was found', () => {
    const out = new CsvFields(2);
    const buf = Buffer.from('a,b,c\n');
    expect(splitRecord(buf, 0, buf.length, false, out)).toBe(CSV_TOO_MANY_FIELDS);
    expect(out.count).toBe(2);
    out.grow();
    expect(splitRecord(buf, 0, buf.length, false, out)).toBe(buf.length);
    expect(out.count).toBe(3);
  });

  test('looks no further than n', () => {
    const out = new CsvFields(4);
    const buf = Buffer.from('a,"b\n",c\nz');
    expect(splitRecord(buf, 0, 5, false, out)).toBe(CSV_INCOMPLETE_IN_QUOTES); // the closing quote is at 5
    expect(splitRecord(buf, 0, 8, false, out)).toBe(CSV_INCOMPLETE); // the line end is at 8
    expect(splitRecord(buf, 0, 8, true, out)).toBe(8);
    expect(out.count).toBe(3);
    expect(splitRecord(buf, 0, 9, false, out)).toBe(9);
  });
});

/**
 * The same input through readRows and through the statistics scanner (every column categorical, so that its
 * frequent values are the exact values it saw): the same fields, or the same error.
 */
describe('readRows and the statistics scanner agree on every edge case', () => {
  const chunked = (bytes: Buffer, size: number) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
    return parts;
  };

  /** Per column: its values sorted, `<null>` for an empty unquoted field; or the error message. */
  async function viaReadRows(csv: string, size: number): Promise<string[][] | string> {
    try {
      const cols: string[][] = [];
      for await (const { row } of readRows(Readable.from(chunked(Buffer.from(csv), size)), { format: 'csv', file: 'x.csv' })) {
        Object.values(row).forEach((v, i) => (cols[i] ??= []).push(v ?? '<null>'));
      }
      return cols.map((c) => c.sort());
    } catch (err) {
      expect(err).toBeInstanceOf(ParseError);
      return (err as Error).message;
    }
  }

  function viaStats(csv: string, size: number, names: string[]): string[][] | string {
    const plan: StatsPlan = { columns: names.map((name) => ({ name, kind: 'categorical' as const })) };
    try {
      const s = new CsvStatsScanner(plan, { file: 'x.csv' });
      for (const part of chunked(Buffer.from(csv), size)) s.push(part);
      const stats = s.end();
      return stats.columns.map((c) => {
        const values = c.freq!.top().flatMap((e) => Array<string>(e.count).fill(e.value));
        // A categorical's quoted "" is blank (not a frequent value); an empty unquoted field is missing.
        return [...values, ...Array<string>(c.blank).fill(''), ...Array<string>(c.missing).fill('<null>')].sort();
      });
    } catch (err) {
      expect(err).toBeInstanceOf(ParseError);
      return (err as Error).message;
    }
  }

  test.each([
    // where the two copies used to disagree: a CR after a closing quote that is not part of CRLF
    ['CR then comma after a closing quote', 'a,b\n"x"\r,y\n', 'x.csv line 2: unexpected character after the closing quote of field 1 (a CR that is not part of a CRLF line end)'],
    ['CR then text after a closing quote', 'a,b\n1,"x"\ry\n', 'x.csv line 2: unexpected character after the closing quote of field 2 (a CR that is not part of a CRLF line end)'],
    // a quoted field over a line end that "closes" on a quote followed by text: reported where it opens
    ['text after a closing quote, after a quoted line end', 'a,b\n"two\nlines"z,y\n', 'x.csv line 2: unbalanced quote: the quoted field 1 that opens on this line runs on to line 3, where a quote is followed by "z"; close it, or write a quote inside a quoted field as ""'],
    ['an unbalanced quote that runs into a later quoted field', 'a,b\n1,"oops\n2,x\n3,"y"\n', 'x.csv line 2: unbalanced quote: the quoted field 2 that opens on this line runs on to line 4, where a quote is followed by "y"; close it, or write a quote inside a quoted field as ""'],
    ['an unbalanced quote in a record that starts a line earlier', 'a,b\n"x\ny","open\n4\n', 'x.csv line 3: unbalanced quote: the quoted field never closes before the end of the file'],
    ['unbalanced quote', 'a,b\n1,2\n3,"open\n4,5\n', 'x.csv line 3: unbalanced quote: the quoted field never closes before the end of the file'],
    // what both read the same way, pinned
    ['CRLF after a closing quote', 'a,b\r\n"x",y\r\n"p","q"\r\n', [['p', 'x'], ['q', 'y']]],
    ['a last line ending in a bare CR after a quote', 'a,b\n1,"x"\r', [['1'], ['x']]],
    ['a last line ending in a bare CR', 'a,b\n1,x\r', [['1'], ['x']]],
    ['a bare CR inside an unquoted field is data', 'a,b\n1\r,x\r\r\n', [['1\r'], ['x\r']]],
    ['CRLF and escaped quotes inside quotes', 'a,b\r\n"say ""hi""\r\nbye","a,b"\r\n', [['say "hi"\r\nbye'], ['a,b']]],
    ['empty quoted vs empty unquoted, blank and CRLF-only lines', 'a,b\n"",\n\n\r\n,""\n', [['', '<null>'], ['', '<null>']]],
    ['a quote inside an unquoted field', 'a,b\n5\'10",x\n', [['5\'10"'], ['x']]],
  ])('%s', async (_name, csv, expected) => {
    for (const size of [1, 2, 3, 1000]) {
      // WHEN both readers see the same bytes in chunks of `size`
      const rows = await viaReadRows(csv, size);
      const stats = viaStats(csv, size, ['a', 'b']);
      // THEN they find the same fields (or the same error)
      expect(rows).toEqual(expected);
      expect(stats).toEqual(expected);
    }
  });
});
