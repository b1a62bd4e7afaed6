import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { parsePredictions, parsePredictionTable, PredictionsError, readPredictions } from '../lambdas/shared/predictions';
import { readFileFromTarGz } from '../lambdas/shared/tar-gz';
import { s3Client } from '../lambdas/shared/clients';
import { ARTIFACTS_BUCKET, startTestS3 } from './helpers/local-s3';

describe('predictions.jsonl', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  test('is read out of output.tar.gz in S3', async () => {
    // GIVEN an output.tar.gz as SageMaker writes it (entries relative to the output data dir)
    const dir = mkdtempSync(join(tmpdir(), 'relearn-pred-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'metrics.json'), '{}');
    writeFileSync(
      join(dir, 'data', 'predictions.jsonl'),
      '{"id":"a","label":1,"candidate":0.9,"champion":0.7}\n{"id":7,"label":0,"candidate":0.2,"champion":0.4}\n',
    );
    const tarball = join(dir, 'output.tar.gz');
    await create({ gzip: true, file: tarball, cwd: join(dir, 'data') }, ['metrics.json', 'predictions.jsonl']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'runs/r1/output.tar.gz', Body: readFileSync(tarball) }));
    // WHEN
    const rows = await readPredictions(s3Client(), `s3://${ARTIFACTS_BUCKET}/runs/r1/output.tar.gz`);
    // THEN
    expect(rows).toEqual([
      { id: 'a', label: 1, candidate: 0.9, champion: 0.7 },
      { id: '7', label: 0, candidate: 0.2, champion: 0.4 },
    ]);
  });

  test('a bad line names the file, the line and the field', () => {
    expect(() => parsePredictions('{"id":"a","label":1,"candidate":0.5}\n{"id":"b","label":"yes","candidate":0.5}\n', 'p.jsonl')).toThrow(
      /p\.jsonl line 2: field "label"/,
    );
    expect(() => parsePredictions('{oops\n', 'p.jsonl')).toThrow(/p\.jsonl line 1: not valid JSON/);
  });
});

describe('predictions.jsonl per problem type', () => {
  const CLASSES = ['setosa', 'versicolor', 'virginica'];
  const multi = { problemType: 'multiclass_classification' as const, classes: CLASSES };
  const line = (o: unknown) => JSON.stringify(o);
  const parse = (lines: unknown[], spec: Parameters<typeof parsePredictionTable>[1] = multi) => parsePredictionTable(lines.map(line).join('\n') + '\n', spec, 'p.jsonl');

  test('multiclass rows become K probabilities per row, in the order of the run\'s classes', () => {
    const t = parse([
      { id: 'a', label: 2, candidate: [0.1, 0.2, 0.7], champion: [0.3, 0.3, 0.4] },
      { id: 7, label: 0, candidate: [0.5, 0.25, 0.25], champion: [0.6, 0.2, 0.2] },
    ]);
    expect(t.k).toBe(3);
    expect(t.ids).toEqual(['a', '7']);
    expect(Array.from(t.labels)).toEqual([2, 0]);
    expect(Array.from(t.candidate)).toEqual([0.1, 0.2, 0.7, 0.5, 0.25, 0.25]);
    expect(Array.from(t.champion!)).toEqual([0.3, 0.3, 0.4, 0.6, 0.2, 0.2]);
    // rounding in the script's output is fine; a first run has no champion column
    expect(parse([{ id: 'a', label: 1, candidate: [0.333, 0.333, 0.333] }]).champion).toBeNull();
  });

  test.each([
    ['a wrong number of probabilities', { id: 'a', label: 0, candidate: [0.5, 0.5] }, 'p.jsonl line 2: field "candidate": expected 3 class probabilities ("setosa", "versicolor", "virginica"), but got 2'],
    ['a probability outside [0, 1]', { id: 'a', label: 0, candidate: [2.1, -0.5, 0.3] }, 'p.jsonl line 2: field "candidate", element 0 ("setosa"): expected a probability in [0, 1], but got 2.1'],
    ['scores that are not probabilities', { id: 'a', label: 0, candidate: [0.9, 0.8, 0.7] }, "p.jsonl line 2: field \"candidate\": the 3 class probabilities sum to 2.4, not 1 (within 0.01): write predict_proba's output, not scores or logits"],
    ['a label out of range', { id: 'a', label: 3, candidate: [0.2, 0.3, 0.5] }, 'p.jsonl line 2: field "label": expected a class index in [0, 2] into the run\'s 3 classes ("setosa", "versicolor", "virginica"), but got 3'],
    ['a class name as the label', { id: 'a', label: 'setosa', candidate: [0.2, 0.3, 0.5] }, 'p.jsonl line 2: field "label": expected a finite number, but got "setosa"'],
    ['a single score', { id: 'a', label: 1, candidate: 0.7 }, 'p.jsonl line 2: field "candidate": expected 3 class probabilities ("setosa", "versicolor", "virginica"), but got 0.7'],
    ['a champion on some rows only', { id: 'b', label: 1, candidate: [0.2, 0.3, 0.5], champion: [0.2, 0.3, 0.5] }, 'p.jsonl line 2: field "champion": a champion score, but line 1 has none: the champion\'s score must be on every row or on none'],
    ['a champion with a wrong number of probabilities', null, 'p.jsonl line 2: field "champion": expected 3 class probabilities'],
  ])('%s: refused with the file, the line and the field', (_what, bad, message) => {
    const first = bad === null ? { id: 'z', label: 0, candidate: [1, 0, 0], champion: [1, 0, 0] } : { id: 'z', label: 0, candidate: [1, 0, 0] };
    const second = bad ?? { id: 'b', label: 1, candidate: [0.2, 0.3, 0.5], champion: [0.5, 0.5] };
    expect(() => parse([first, second])).toThrow(PredictionsError);
    expect(() => parse([first, second])).toThrow(message);
  });

  test('binary and regression rows are checked for their own shape', () => {
    const binary = { problemType: 'binary_classification' as const, classes: ['no', 'yes'] };
    expect(() => parse([{ id: 'a', label: 2, candidate: 0.5 }], binary)).toThrow('p.jsonl line 1: field "label": binary_classification labels are 0 or 1 (0 = "no", 1 = "yes"), but got 2');
    expect(() => parse([{ id: 'a', label: 1, candidate: 1.5 }], binary)).toThrow('p.jsonl line 1: field "candidate": expected P("yes"), a number in [0, 1], but got 1.5');
    expect(() => parse([{ id: 'a', label: 1, candidate: [0.4, 0.6] }], binary)).toThrow('p.jsonl line 1: field "candidate": expected P(positive class), a number in [0, 1], but got [0.4,0.6]');
    const regression = { problemType: 'regression' as const };
    expect(parse([{ id: 'a', label: 1234.5, candidate: -3, champion: 7 }], regression).candidate[0]).toBe(-3);
    expect(() => parse([{ id: 'a', label: 1, candidate: 'NaN' }], regression)).toThrow('p.jsonl line 1: field "candidate": expected the predicted value (a finite number), but got "NaN"');
    expect(() => parse([{ label: 1, candidate: 2 }], regression)).toThrow('p.jsonl line 1: field "id": expected the row\'s id (a non-empty string or a number), but got nothing');
  });

  test('multiclass without the class list is refused up front', () => {
    expect(() => parse([], { problemType: 'multiclass_classification' })).toThrow('p.jsonl: multiclass_classification needs the run\'s class list (schema.json "classes"), but got none');
  });

  test('blank lines are skipped and line numbers count them', () => {
    expect(() => parsePredictionTable('\n{"id":"a","label":0,"candidate":[1,0,0]}\n\n{"id":"b","label":5,"candidate":[1,0,0]}\n', multi, 'p.jsonl')).toThrow(/^p\.jsonl line 4: field "label"/);
  });
});

/** A stream of `buf` in `size`-byte chunks, so that headers and files straddle chunk boundaries. */
const chunked = (buf: Buffer, size: number) => Readable.from(Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size)));
const PYTHON = process.env.RELEARN_PYTHON ?? '/usr/bin/python3';
/** 600 bytes of jsonl and a 70 KB file: neither a multiple of 512, the second spans many gunzip chunks. */
const SMALL = Buffer.from(Array.from({ length: 12 }, (_, i) => `{"id":"r${i}","label":${i % 2},"candidate":0.${i}}`).join('\n') + '\n');
const BIG = Buffer.from(Array.from({ length: 7000 }, (_, i) => `row ${i}\n`).join(''));
const LONG_DIR = `${'deep-directory-name/'.repeat(7)}x`; // 141 characters: past ustar's 100-byte name field
const LONG_BASE = `${'long-file-name-'.repeat(8)}.jsonl`; // 126 characters: no ustar prefix/name split can hold it

describe('readFileFromTarGz', () => {
  let dir: string;
  let nodeTarball: string;
  beforeAll(async () => {
    // GIVEN a tree like SM_OUTPUT_DATA_DIR: files at the top, one under a long path, a directory and a symlink
    dir = mkdtempSync(join(tmpdir(), 'relearn-targz-'));
    const data = join(dir, 'data');
    mkdirSync(join(data, LONG_DIR), { recursive: true });
    writeFileSync(join(data, 'metrics.json'), '{"auc":0.9}');
    writeFileSync(join(data, 'big.bin'), BIG);
    writeFileSync(join(data, LONG_DIR, 'predictions.jsonl'), SMALL);
    writeFileSync(join(data, 'ünïcode-ß.txt'), 'é');
    writeFileSync(join(data, LONG_BASE), 'long');
    symlinkSync('metrics.json', join(data, 'link.json'));
    // node-tar's archive of the same tree, as local SageMaker writes output.tar.gz
    nodeTarball = join(dir, 'node-tar.tar.gz');
    await create({ gzip: true, file: nodeTarball, cwd: data }, ['metrics.json', 'big.bin', LONG_DIR, LONG_BASE, 'link.json']);
  });

  /** Archives the data folder with Python's tarfile in the given format (as SageMaker's Python tooling does). */
  function pythonTarball(format: 'PAX_FORMAT' | 'GNU_FORMAT' | 'USTAR_FORMAT', arcname: string, members?: string[]): Buffer {
    const out = join(dir, `py-${format}-${arcname.replace(/\W/g, '')}.tar.gz`);
    const script = [
      'import sys, tarfile, os',
      'out, src, fmt, arc = sys.argv[1:5]',
      'members = sys.argv[5:]',
      'with tarfile.open(out, "w:gz", format=getattr(tarfile, fmt)) as t:',
      '    if members:',
      '        for m in members: t.add(os.path.join(src, m), arcname=os.path.join(arc, m) if arc else m)',
      '    else: t.add(src, arcname=arc)',
    ].join('\n');
    execFileSync(PYTHON, ['-c', script, out, join(dir, 'data'), format, arcname, ...(members ?? [])]);
    return readFileSync(out);
  }

  test.each(['PAX_FORMAT', 'GNU_FORMAT'] as const)("reads a file under a long path from Python tarfile's %s", async (format) => {
    // GIVEN the whole folder archived as "." (entries "./metrics.json", "./deep-.../predictions.jsonl", ...)
    const tgz = pythonTarball(format, '.');
    // WHEN / THEN: the long name (pax 'path' record or GNU 'L' entry) is found, through 7-byte chunks too
    expect(await readFileFromTarGz(chunked(tgz, 7), 'predictions.jsonl')).toEqual(SMALL);
    expect(await readFileFromTarGz(Readable.from([tgz]), `${LONG_DIR}/predictions.jsonl`)).toEqual(SMALL);
    expect(await readFileFromTarGz(Readable.from([tgz]), 'big.bin')).toEqual(BIG);
    expect(await readFileFromTarGz(Readable.from([tgz]), 'metrics.json')).toEqual(Buffer.from('{"auc":0.9}'));
    expect(await readFileFromTarGz(Readable.from([tgz]), 'ünïcode-ß.txt')).toEqual(Buffer.from('é'));
    expect(await readFileFromTarGz(Readable.from([tgz]), LONG_BASE)).toEqual(Buffer.from('long'));
  });

  test("reads a path split into ustar's prefix and name fields (Python USTAR_FORMAT)", async () => {
    // GIVEN ustar (no extensions): a 141-character directory fits only through the 155-byte prefix field
    const tgz = pythonTarball('USTAR_FORMAT', '', ['metrics.json', `${LONG_DIR}/predictions.jsonl`, 'big.bin']);
    // WHEN / THEN
    expect(await readFileFromTarGz(chunked(tgz, 100), 'predictions.jsonl')).toEqual(SMALL);
    expect(await readFileFromTarGz(Readable.from([tgz]), `${LONG_DIR}/predictions.jsonl`)).toEqual(SMALL);
    expect(await readFileFromTarGz(Readable.from([tgz]), 'big.bin')).toEqual(BIG);
  });

  test('reads archives written by the tar package (ustar prefix, pax long names), not chunk-aligned', async () => {
    // GIVEN node-tar's archive (made in beforeAll)
    const tgz = readFileSync(nodeTarball);
    // WHEN / THEN
    expect(await readFileFromTarGz(chunked(tgz, 13), 'predictions.jsonl')).toEqual(SMALL);
    expect(await readFileFromTarGz(chunked(tgz, 4096), 'big.bin')).toEqual(BIG);
    expect(await readFileFromTarGz(Readable.from([tgz]), `${LONG_DIR}/predictions.jsonl`)).toEqual(SMALL);
    expect(await readFileFromTarGz(chunked(tgz, 999), LONG_BASE)).toEqual(Buffer.from('long'));
    // a symlink is not a file: its name matches but it has no contents to give
    expect(await readFileFromTarGz(Readable.from([tgz]), 'link.json')).toBeUndefined();
    expect(await readFileFromTarGz(Readable.from([tgz]), 'absent.jsonl')).toBeUndefined();
    // a name that only ends like the file is not the file
    expect(await readFileFromTarGz(Readable.from([tgz]), 'ictions.jsonl')).toBeUndefined();
  });

  test('a later entry of the same name wins, as when tar extracts', async () => {
    // GIVEN Python adds the same file twice; the second copy's bytes are changed to tell them apart
    const tar = gunzipSync(pythonTarball('PAX_FORMAT', '', ['metrics.json', 'big.bin', 'metrics.json']));
    const second = tar.lastIndexOf('{"auc":0.9}');
    expect(second).toBeGreaterThan(tar.indexOf('{"auc":0.9}'));
    tar.write('{"auc":0.1}', second);
    // WHEN / THEN
    expect(await readFileFromTarGz(Readable.from([gzipSync(tar)]), 'metrics.json')).toEqual(Buffer.from('{"auc":0.1}'));
  });

  test('bad input names the archive and what is wrong with it', async () => {
    // GIVEN not gzip, gzip of something that is not tar, and a tarball cut short
    const full = readFileSync(nodeTarball);
    const tar = gunzipSync(full);
    // THEN
    await expect(readFileFromTarGz(Readable.from([Buffer.from('plain text, not gzip')]), 'x', 's3://b/out.tar.gz')).rejects.toThrow(
      /s3:\/\/b\/out\.tar\.gz: not a readable gzip stream/,
    );
    await expect(readFileFromTarGz(Readable.from([gzipSync(Buffer.alloc(1024, 'a'))]), 'x', 'out.tar.gz')).rejects.toThrow(
      /out\.tar\.gz: byte 0: .*(checksum|octal)/,
    );
    await expect(readFileFromTarGz(Readable.from([gzipSync(tar.subarray(0, 5000))]), 'big.bin', 'out.tar.gz')).rejects.toThrow(
      /out\.tar\.gz: byte \d+: archive ends inside big\.bin/,
    );
    await expect(readFileFromTarGz(Readable.from([full.subarray(0, full.length - 20)]), 'big.bin', 'out.tar.gz')).rejects.toThrow(
      /out\.tar\.gz: not a readable gzip stream \(unexpected end of file\)/,
    );
  });
});
