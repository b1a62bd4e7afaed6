import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlib, createGunzip, createGzip } from 'node:zlib';
import * as tar from 'tar-stream';

/**
 * The serving code goes into the model archive, as the SageMaker Python SDK's repack does (`sagemaker.utils.
 * repack_model`): every entry of the training job's model.tar.gz, except a `code/` folder of its own, then the
 * source directory's files under `code/`. A model built from it sets SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code
 * and needs nothing else from S3, for as long as the archive exists.
 *
 * Streaming: S3 GetObject -> gunzip -> tar-stream extract -> tar-stream pack -> gzip -> multipart upload. Memory
 * stays bounded by the upload's parts in flight (queueSize x partSize) and the streams' buffers, whatever the
 * model's size; nothing touches a disk.
 */

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

export interface RepackInput {
  readonly s3: S3Client;
  /** The training job's model.tar.gz. */
  readonly model: S3Location;
  /** The packaged source directory (a tar.gz, e.g. the CDK asset of sourcedir.tar.gz). */
  readonly code: S3Location;
  /** Where the self-contained archive goes. */
  readonly out: S3Location;
  /** SSE-KMS key of the new object. */
  readonly kmsKeyArn: string;
  /** The entry point that must be in the code (`SAGEMAKER_PROGRAM`). */
  readonly entryPoint: string;
  /**
   * gzip level of the new archive (SageMaker's own model.tar.gz uses 6; the SDK's repack 9, much slower).
   * @default 6
   */
  readonly gzipLevel?: number;
  /**
   * Parts uploaded in parallel.
   * @default 4
   */
  readonly queueSize?: number;
}

export interface RepackResult {
  readonly bytes: number;
  /** sha256 of the new archive, hex. */
  readonly sha256: string;
  /** Entries taken from the model archive. */
  readonly modelEntries: number;
  /** Files and folders added under code/. */
  readonly codeEntries: number;
  /** `code/` entries of the model archive that the pipeline's code replaced. */
  readonly replaced: readonly string[];
}

/** Where the serving code lives in a self-contained archive (and, extracted, under /opt/ml/model). */
export const CODE_DIR = 'code';

/** S3 allows at most 10,000 parts; the part size is chosen so that the archive fits with room to spare. */
const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 9000;

export class ModelArchiveError extends Error {
  override readonly name = 'ModelArchiveError';
}

/** `./a/b` and `a/b` are the same member; a folder entry's trailing slash is not part of its name. */
export const memberName = (name: string): string => name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

const isUnderCode = (name: string) => name === CODE_DIR || name.startsWith(`${CODE_DIR}/`);

/** Copies the header fields a tar writer needs; owners are dropped (the container runs as its own user). */
function copyHeader(h: tar.Header, name: string): tar.Header {
  return {
    name,
    size: h.size,
    mode: h.mode,
    mtime: h.mtime,
    type: h.type,
    linkname: h.linkname,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    devmajor: h.devmajor,
    devminor: h.devminor,
  };
}

/** Writes one entry's data into the pack, respecting both streams' backpressure. */
function copyEntry(pack: tar.Pack, header: tar.Header, source: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    source.on('error', reject);
    source.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

/** Reads a gzip'd tar from S3 entry by entry; `onEntry` must consume or drain each entry's stream. */
async function eachEntry(
  s3: S3Client,
  from: S3Location,
  what: string,
  onEntry: (header: tar.Header, stream: NodeJS.ReadableStream) => Promise<void>,
): Promise<number> {
  const res = await s3.send(new GetObjectCommand({ Bucket: from.bucket, Key: from.key }));
  const extract = tar.extract();
  let count = 0;
  let unreadable: Error | undefined;
  const reading = pipeline(res.Body as Readable, createGunzip(), extract as unknown as NodeJS.WritableStream).catch((err: Error) => {
    unreadable ??= err;
  });
  const consuming = (async () => {
    for await (const entry of extract) {
      await onEntry(entry.header, entry as unknown as NodeJS.ReadableStream);
      count++;
    }
  })().catch((err: Error) => {
    // An error of the archive's bytes surfaces here too (the extractor is destroyed); the pipeline's names the cause.
    if (err instanceof ModelArchiveError) throw err;
    unreadable ??= err;
  });
  await Promise.all([reading, consuming]);
  if (unreadable) throw new ModelArchiveError(`s3://${from.bucket}/${from.key} (${what}) is not a readable tar.gz: ${unreadable.message}`, { cause: unreadable });
  return count;
}

/** Drains an entry the archive keeps out. */
function drain(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('end', resolve).on('error', reject);
    stream.resume();
  });
}

/**
 * Builds the self-contained archive at `out` and returns its size and sha256. A model archive that is not a
 * tar.gz, or code without the entry point, fails with ModelArchiveError and leaves no object behind (the
 * multipart upload is aborted).
 */
export async function repackModel(input: RepackInput): Promise<RepackResult> {
  const { s3 } = input;
  const pack = tar.pack();
  const hash = createHash('sha256');
  let bytes = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const body = new PassThrough();
  const packed = pipeline(pack as unknown as NodeJS.ReadableStream, createGzip({ level: input.gzipLevel ?? zlib.Z_DEFAULT_COMPRESSION }), measure, body);

  // The part size follows the model's size, so that even a very large archive stays within S3's part count.
  const total = (await s3.send(new HeadObjectCommand({ Bucket: input.model.bucket, Key: input.model.key }))).ContentLength ?? 0;
  const partSize = Math.max(MIN_PART, Math.ceil((total * 1.2) / MAX_PARTS));
  const upload = new Upload({
    client: s3,
    queueSize: input.queueSize ?? 4,
    partSize,
    leavePartsOnError: false,
    params: {
      Bucket: input.out.bucket,
      Key: input.out.key,
      Body: body,
      ContentType: 'application/gzip',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: input.kmsKeyArn,
    },
  });
  const uploaded = upload.done();

  const replaced: string[] = [];
  const codeNames = new Set<string>();
  const write = async () => {
    // 1. The model's own files, as they are (a code/ folder of its own is replaced, as the SDK's repack does).
    const modelEntries = await eachEntry(s3, input.model, 'the training job\'s model', async (header, stream) => {
      const name = memberName(header.name);
      if (name === '' || isUnderCode(name)) {
        if (name !== '') replaced.push(name);
        return drain(stream);
      }
      return copyEntry(pack, copyHeader(header, header.type === 'directory' ? `${name}/` : name), stream);
    });
    // 2. The source directory under code/.
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: `${CODE_DIR}/`, type: 'directory', size: 0, mode: 0o755, mtime: new Date(0) }, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
    const codeEntries = await eachEntry(s3, input.code, 'the training code', async (header, stream) => {
      const name = memberName(header.name);
      if (name === '') return drain(stream);
      codeNames.add(name);
      return copyEntry(pack, copyHeader(header, `${CODE_DIR}/${name}${header.type === 'directory' ? '/' : ''}`), stream);
    });
    if (!codeNames.has(memberName(input.entryPoint))) {
      throw new ModelArchiveError(
        `s3://${input.code.bucket}/${input.code.key} has no ${input.entryPoint} (training.entryPoint): it holds ${[...codeNames].slice(0, 10).join(', ') || 'nothing'}`,
      );
    }
    pack.finalize();
    return { modelEntries, codeEntries: codeEntries + 1 };
  };

  let counts: { modelEntries: number; codeEntries: number };
  try {
    counts = await write();
    await packed;
    await uploaded;
  } catch (err) {
    // Stop everything: the upload aborts its multipart upload, so no partial object is left.
    const failure = err instanceof ModelArchiveError ? err : new ModelArchiveError(`repacking s3://${input.model.bucket}/${input.model.key} failed: ${(err as Error).message}`, { cause: err });
    (pack as unknown as Readable).destroy(failure);
    body.destroy(failure);
    await upload.abort().catch(() => undefined);
    await Promise.allSettled([packed, uploaded]);
    throw failure;
  }
  return { bytes, sha256: hash.digest('hex'), ...counts, replaced };
}
