import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listDataFiles, partSizeFor } from '../local/local-env';
import { startLocalS3 } from '../local/services/s3-server';

/**
 * Issue 13: the upload of `--data` streams each file (multipart for anything over one part) and never holds the
 * file in memory. It used to read the whole file (peak RSS 950 MB for a 256 MB file) and died on files over 2 GiB
 * (ERR_FS_FILE_TOO_LARGE). Here a 2.1 GiB sparse file is uploaded to the real local S3 by a separate node process
 * (uploadData, as `relearn local run` calls it), whose peak RSS is measured; the object's size and its bytes at
 * three places (start, middle, end) are checked through S3.
 */

jest.setTimeout(1800000);

const SIZE = 2 * 1024 ** 3 + 100 * 1024 ** 2; // 2.1 GiB: past the old 2 GiB limit
const MARKS: [number, string][] = [
  [0, 'customer_id,plan\n'],
  [1024 ** 3 + 12345, 'middle-of-the-file'],
  [SIZE - 16, 'the-very-end-XYZ'],
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-upload-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('part sizes: 16 MiB (over S3\'s 5 MiB minimum), and never more than 10,000 parts', () => {
  expect(partSizeFor(1)).toBe(16 * 1024 * 1024);
  expect(partSizeFor(SIZE)).toBe(16 * 1024 * 1024);
  const huge = 500 * 1024 ** 3;
  expect(Math.ceil(huge / partSizeFor(huge))).toBeLessThanOrEqual(10000);
  expect(partSizeFor(huge) % (16 * 1024 * 1024)).toBe(0);
});

test('a file over 2 GiB is uploaded whole with bounded memory', async () => {
  // The upload writes the parts and then the object: about twice the file on disk.
  const free = statfsSync(dir).bavail * statfsSync(dir).bsize;
  expect(free).toBeGreaterThan(3 * SIZE);
  // GIVEN a sparse 2.1 GiB file with marks at three places
  mkdirSync(join(dir, 'data'));
  const file = join(dir, 'data', 'huge.csv');
  const fd = openSync(file, 'w');
  for (const [at, text] of MARKS) writeSync(fd, text, at);
  closeSync(fd);
  expect(listDataFiles(file)[0].size).toBe(SIZE);
  // AND a local S3 with the data bucket
  const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['data'] });
  try {
    // WHEN another node process uploads it with uploadData (as relearn local run does) and reports its peak RSS
    const local = (f: string) => JSON.stringify(join(__dirname, '..', 'local', f));
    const script = `
      const { uploadData, listDataFiles } = require(${local('local-env.ts')});
      const { localS3Client } = require(${local('services/s3-server.ts')});
      const { localTls, trustLocalCa } = require(${local('services/tls.ts')});
      trustLocalCa(localTls().ca); // the local S3 speaks HTTPS with local mode's CA
      const s3 = localS3Client(${JSON.stringify(s3.endpoint)});
      let reports = 0;
      uploadData(s3, 'data', listDataFiles(${JSON.stringify(file)}), 'incoming/x/', { onProgress: () => reports++ }).then(
        (keys) => { console.log(JSON.stringify({ keys, reports, maxRssKb: process.resourceUsage().maxRSS })); process.exit(0); },
        (err) => { console.error(err); process.exit(1); });`;
    const child = spawn(process.execPath, ['-r', require.resolve('tsx/cjs'), '-e', script], {
      env: { ...process.env, AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED', AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    const result = JSON.parse(out.trim().split('\n').pop()!) as { keys: { key: string }[]; reports: number; maxRssKb: number };
    // THEN the process never held the file: its peak RSS stays far below the file's size (at most 4 parts of 16 MiB in flight)
    expect(result.keys.map((k) => k.key)).toEqual(['incoming/x/huge.csv']);
    expect(result.maxRssKb * 1024).toBeLessThan(400 * 1024 * 1024);
    // AND progress was reported as it went
    expect(result.reports).toBeGreaterThan(100);
    // AND the object is the file: its size and its bytes at the marks
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: 'incoming/x/huge.csv' }));
    expect(head.ContentLength).toBe(SIZE);
    for (const [at, text] of MARKS) {
      const res = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'incoming/x/huge.csv', Range: `bytes=${at}-${at + text.length - 1}` }));
      expect(Buffer.from(await res.Body!.transformToByteArray()).toString('utf8')).toBe(text);
    }
  } finally {
    await s3.stop();
  }
});
