import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { memberName, repackModel } from '../lambdas/package-model/repack';
import { packageSourceDir } from '../lib/training-code';
import { ARTIFACTS_BUCKET, startTestS3 } from './helpers/local-s3';

/**
 * The self-contained model archive (issue 11, finding 1): the training job's model.tar.gz with the serving code
 * under code/, built by streaming from and to the real local S3.
 */

let s3: Awaited<ReturnType<typeof startTestS3>>;
let work: string;
const KMS = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';
const CHURN = join(__dirname, '..', 'training-scripts', 'tabular');

beforeAll(async () => {
  s3 = await startTestS3();
  work = mkdtempSync(join(tmpdir(), 'relearn-repack-'));
});
afterAll(async () => {
  await s3.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const put = (key: string, body: Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key, Body: body }));
const get = async (key: string) => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray());
const keysUnder = async (prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket: ARTIFACTS_BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key);

/** A model folder as a training script leaves SM_MODEL_DIR: files, a sub-folder, a long name, a code/ of its own. */
function modelFolder(name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(dir, 'code'), { recursive: true });
  writeFileSync(join(dir, 'model.joblib'), Buffer.from('pretend joblib bytes'));
  writeFileSync(join(dir, 'sub', 'deeper', 'vocab.txt'), 'a\nb\n');
  writeFileSync(join(dir, `${'long-name-'.repeat(12)}.bin`), Buffer.alloc(3000, 7));
  writeFileSync(join(dir, 'code', 'stale.py'), 'print("the script saved a code folder of its own")');
  symlinkSync('model.joblib', join(dir, 'latest'));
  return dir;
}

async function tarGz(dir: string, file: string): Promise<Buffer> {
  await tar.c({ gzip: true, file, cwd: dir, portable: true }, ['.']);
  return readFileSync(file);
}

function listing(archive: Buffer): Map<string, string> {
  const file = join(work, `list-${createHash('sha256').update(archive).digest('hex').slice(0, 8)}.tar.gz`);
  writeFileSync(file, archive);
  const out = new Map<string, string>();
  tar.t({ file, sync: true, onReadEntry: (e) => out.set(memberName(e.path), e.type) });
  return out;
}

describe('repackModel', () => {
  test('keeps every file of the model, replaces its code/ with the source directory, and SageMaker-style extractors read it', async () => {
    // GIVEN a training job's model.tar.gz and the packaged churn source directory
    const model = await tarGz(modelFolder('m1'), join(work, 'm1.tar.gz'));
    await put('runs/r1/training/job/output/model.tar.gz', model);
    await put('code/sourcedir.tar.gz', readFileSync(packageSourceDir(CHURN)));
    // WHEN it is repacked
    const result = await repackModel({
      s3: s3.client,
      model: { bucket: ARTIFACTS_BUCKET, key: 'runs/r1/training/job/output/model.tar.gz' },
      code: { bucket: ARTIFACTS_BUCKET, key: 'code/sourcedir.tar.gz' },
      out: { bucket: ARTIFACTS_BUCKET, key: 'runs/r1/model/model.tar.gz' },
      kmsKeyArn: KMS,
      entryPoint: 'train.py',
    });
    // THEN the new archive holds the model's files and code/train.py, and not the model's own code/
    const archive = await get('runs/r1/model/model.tar.gz');
    expect(result.bytes).toBe(archive.length);
    expect(result.sha256).toBe(createHash('sha256').update(archive).digest('hex'));
    expect(result.replaced).toEqual(['code', 'code/stale.py']);
    const entries = listing(archive);
    expect(entries.get('model.joblib')).toBe('File');
    expect(entries.get('sub/deeper/vocab.txt')).toBe('File');
    expect(entries.get(`${'long-name-'.repeat(12)}.bin`)).toBe('File');
    expect(entries.get('latest')).toBe('SymbolicLink');
    expect(entries.get('code/train.py')).toBe('File');
    expect(entries.has('code/stale.py')).toBe(false);

    // AND GNU tar and Python's tarfile (what SageMaker and the SKLearn container use) extract it byte for byte
    const gnu = join(work, 'gnu');
    mkdirSync(gnu);
    writeFileSync(join(work, 'r1.tar.gz'), archive);
    expect(spawnSync('tar', ['-xzf', join(work, 'r1.tar.gz'), '-C', gnu]).status).toBe(0);
    expect(readFileSync(join(gnu, 'model.joblib'), 'utf8')).toBe('pretend joblib bytes');
    expect(readFileSync(join(gnu, 'code', 'train.py'))).toEqual(readFileSync(join(CHURN, 'train.py')));
    const py = spawnSync('/usr/bin/python3', ['-c', 'import sys, tarfile; t = tarfile.open(sys.argv[1]); print(sorted(m.name for m in t.getmembers() if m.isfile())[:3])', join(work, 'r1.tar.gz')], { encoding: 'utf8' });
    expect(py.status).toBe(0);
    expect(py.stdout).toContain('code/train.py');
  });

  test('a model archive that is not a tar.gz fails naming the object, and leaves nothing behind', async () => {
    await put('runs/r2/training/job/output/model.tar.gz', Buffer.from('this is not gzip'));
    await expect(
      repackModel({
        s3: s3.client,
        model: { bucket: ARTIFACTS_BUCKET, key: 'runs/r2/training/job/output/model.tar.gz' },
        code: { bucket: ARTIFACTS_BUCKET, key: 'code/sourcedir.tar.gz' },
        out: { bucket: ARTIFACTS_BUCKET, key: 'runs/r2/model/model.tar.gz' },
        kmsKeyArn: KMS,
        entryPoint: 'train.py',
      }),
    ).rejects.toMatchObject({ name: 'ModelArchiveError', message: expect.stringMatching(/runs\/r2\/training\/job\/output\/model\.tar\.gz \(the training job's model\) is not a readable tar\.gz/) });
    expect(await keysUnder('runs/r2/model/')).toEqual([]);
  });

  test('code without the entry point fails naming what the code holds, and leaves nothing behind', async () => {
    await put('runs/r3/training/job/output/model.tar.gz', await tarGz(modelFolder('m3'), join(work, 'm3.tar.gz')));
    await expect(
      repackModel({
        s3: s3.client,
        model: { bucket: ARTIFACTS_BUCKET, key: 'runs/r3/training/job/output/model.tar.gz' },
        code: { bucket: ARTIFACTS_BUCKET, key: 'code/sourcedir.tar.gz' },
        out: { bucket: ARTIFACTS_BUCKET, key: 'runs/r3/model/model.tar.gz' },
        kmsKeyArn: KMS,
        entryPoint: 'serve.py',
      }),
    ).rejects.toMatchObject({ name: 'ModelArchiveError', message: expect.stringMatching(/sourcedir\.tar\.gz has no serve\.py \(training\.entryPoint\): it holds train\.py/) });
    expect(await keysUnder('runs/r3/model/')).toEqual([]);
  });
});
