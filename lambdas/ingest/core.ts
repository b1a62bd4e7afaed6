import { createHash, hash } from 'node:crypto';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DatasetConfig } from '../shared/config';
import { DatasetRef, Layout, Source } from '../shared/contracts';
import { IngestError, NoNewData } from '../shared/errors';
import { getJson, getStream, isNotFound, putJson, putText, s3Uri } from '../shared/s3';
import { openTable, ParseError, Table, TableFormat, Value, writeCsvRow } from '../shared/tabular';

/**
 * Ingest: copies the objects a trigger names into an immutable dataset snapshot in the artifacts bucket,
 * split deterministically into train and validation, always as CSV with a header, plus a manifest.
 * The source objects are only read, never moved or rewritten.
 */

/** Added when `dataset.idColumn` is not configured: a hash of the row's text, the join key for evaluation. */
export const ROW_ID_COLUMN = '_row_id';
/** Objects a producer writes to mark a batch complete: never data. */
const MARKERS = new Set(['_SUCCESS', 'manifest.json']);

export interface IngestDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly dataset: DatasetConfig;
  /** Longest accepted source line. @default 1 MiB */
  readonly maxLineBytes?: number;
  /** Keys per ListObjectsV2 page. @default - S3's own (1000) */
  readonly listPageSize?: number;
}

export interface SourceObject {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
}

export interface DatasetManifest {
  readonly datasetId: string;
  readonly createdAt: string;
  readonly source: { bucket: string; objects: (SourceObject & { rows: number; format: TableFormat })[] };
  readonly split: { validationFraction: number; splitSalt: string; idColumn: string; rowsPerPart: number; hash: string };
  readonly columns: string[];
  readonly rows: { train: number; validation: number };
  readonly parts: { key: string; split: 'train' | 'validation'; rows: number; bytes: number; sha256: string }[];
}

export async function ingest(source: Source, deps: IngestDeps): Promise<DatasetRef> {
  const objects = await resolveSource(deps.s3, source, deps.listPageSize);
  if (objects.length === 0) {
    throw new NoNewData(`nothing to ingest in s3://${source.bucket}/${source.prefix ?? ''} (only markers or empty objects)`);
  }
  const datasetId = datasetIdOf(objects, deps.dataset);
  const prefix = Layout.dataset(datasetId);
  const manifestKey = `${prefix}manifest.json`;
  const existing = await manifestIfListed(deps.s3, deps.artifactsBucket, manifestKey);
  if (existing) return refOf(existing, deps.artifactsBucket, true);
  const manifest = await writeSnapshot(source.bucket, objects, datasetId, deps);
  // The manifest is written last: its presence means the snapshot is complete.
  await putJson(deps.s3, deps.artifactsBucket, manifestKey, manifest, { kmsKeyArn: deps.kmsKeyArn });
  return refOf(manifest, deps.artifactsBucket, false);
}

/**
 * The manifest, if this snapshot was completed before. Decided by listing the exact key: the role's
 * s3:ListBucket is limited to `datasets/*`, and without list rights S3 answers a missing key with 403.
 */
async function manifestIfListed(s3: S3Client, bucket: string, key: string): Promise<DatasetManifest | undefined> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 10 }));
  if (!(listed.Contents ?? []).some((o) => o.Key === key)) return undefined;
  return getJson<DatasetManifest>(s3, bucket, key);
}

/** The objects to ingest, sorted by key, with ETag and size; markers and zero-byte objects are skipped. */
export async function resolveSource(s3: S3Client, source: Source, pageSize?: number): Promise<SourceObject[]> {
  const found: SourceObject[] = [];
  if (source.keys && source.keys.length > 0) {
    for (const key of [...new Set(source.keys)]) {
      if (isMarker(key)) continue;
      try {
        const head = await s3.send(new HeadObjectCommand({ Bucket: source.bucket, Key: key }));
        found.push({ key, etag: head.ETag ?? '', size: head.ContentLength ?? 0 });
      } catch (err) {
        if (isNotFound(err)) throw new IngestError(`s3://${source.bucket}/${key} does not exist`, { cause: err });
        throw err;
      }
    }
  } else {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: source.bucket, Prefix: source.prefix, ContinuationToken: token, MaxKeys: pageSize }));
      for (const o of page.Contents ?? []) {
        if (o.Key && !isMarker(o.Key)) found.push({ key: o.Key, etag: o.ETag ?? '', size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return found.filter((o) => o.size > 0).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function isMarker(key: string): boolean {
  return key.endsWith('/') || MARKERS.has(key.slice(key.lastIndexOf('/') + 1));
}

/** Content hash of what was read and how it is split: the same data gives the same snapshot. */
export function datasetIdOf(objects: readonly SourceObject[], d: DatasetConfig): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({
    objects: objects.map((o) => [o.key, o.etag]),
    split: [d.format, d.idColumn ?? null, d.validationFraction, d.splitSalt, d.rowsPerPart],
  }));
  return h.digest('hex').slice(0, 20);
}

/** Position of `id` in [0, 1): sha256(salt + id), first 48 bits. Deterministic across runs and machines. */
export function splitPosition(salt: string, id: string): number {
  // One-shot crypto.hash: no Hash object per row.
  return parseInt(hash('sha256', salt + id, 'hex').slice(0, 12), 16) / 2 ** 48;
}

/** The first 16 hex digits of sha256 of the row's CSV line (as writeCsvRow writes it, line end included). */
export function rowId(values: Value[]): string {
  return hash('sha256', writeCsvRow(values), 'hex').slice(0, 16);
}

export function formatOf(key: string, fallback: TableFormat): TableFormat {
  const k = key.toLowerCase().replace(/\.gz$/, '');
  if (k.endsWith('.jsonl') || k.endsWith('.ndjson')) return 'jsonl';
  if (k.endsWith('.csv')) return 'csv';
  return fallback;
}

/** Bytes appended into fixed blocks: the rows of a part stay out of the JS heap (no GC pressure). */
class ByteSink {
  private static readonly BLOCK = 8 << 20;
  private blocks: Buffer[] = [];
  private current = Buffer.allocUnsafe(ByteSink.BLOCK);
  private used = 0;
  length = 0;

  write(text: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    if (this.used + text.length * 3 > this.current.length) {
      this.blocks.push(this.current.subarray(0, this.used));
      this.current = Buffer.allocUnsafe(Math.max(ByteSink.BLOCK, text.length * 3));
      this.used = 0;
    }
    const n = this.current.write(text, this.used);
    this.used += n;
    this.length += n;
  }

  /** All bytes written, then empties the sink. */
  take(): Buffer {
    const all = Buffer.concat([...this.blocks, this.current.subarray(0, this.used)], this.length);
    this.blocks = [];
    this.current = Buffer.allocUnsafe(ByteSink.BLOCK);
    this.used = 0;
    this.length = 0;
    return all;
  }
}

/** Buffers one split's rows and writes a part file every `rowsPerPart` rows. */
class PartWriter {
  private sink = new ByteSink();
  private rows = 0;
  private index = 0;
  total = 0;
  readonly parts: DatasetManifest['parts'] = [];

  constructor(
    private readonly split: 'train' | 'validation',
    private readonly prefix: string,
    private readonly header: string,
    private readonly deps: IngestDeps,
  ) {
    this.sink.write(header);
  }

  async add(line: string): Promise<void> {
    this.sink.write(line);
    this.rows++;
    this.total++;
    if (this.rows >= this.deps.dataset.rowsPerPart) await this.flush();
  }

  async flush(force = false): Promise<void> {
    if (this.rows === 0 && !(force && this.index === 0)) return;
    const body = this.sink.take();
    this.sink.write(this.header);
    const key = `${this.prefix}${this.split}/part-${String(this.index).padStart(5, '0')}.csv`;
    await putText(this.deps.s3, this.deps.artifactsBucket, key, body, { kmsKeyArn: this.deps.kmsKeyArn, contentType: 'text/csv; charset=utf-8' });
    this.parts.push({ key, split: this.split, rows: this.rows, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    this.index++;
    this.rows = 0;
  }
}

async function writeSnapshot(bucket: string, objects: SourceObject[], datasetId: string, deps: IngestDeps): Promise<DatasetManifest> {
  const d = deps.dataset;
  const prefix = Layout.dataset(datasetId);
  let columns: string[] | undefined;
  let firstKey = '';
  let train: PartWriter | undefined;
  let validation: PartWriter | undefined;
  let idIndex = -1;
  const read: DatasetManifest['source']['objects'] = [];

  for (const obj of objects) {
    const format = formatOf(obj.key, d.format);
    let rows = 0;
    let table: Table | undefined;
    try {
      table = await openTable(await getStream(deps.s3, bucket, obj.key), { format, file: obj.key, maxLineBytes: deps.maxLineBytes });
      if (table.columns.length === 0) throw new IngestError(`${obj.key}: the file has no header (it is empty or blank)`);
      let order: number[];
      if (!columns) {
        columns = table.columns;
        firstKey = obj.key;
        if (d.idColumn !== undefined) {
          idIndex = columns.indexOf(d.idColumn);
          if (idIndex < 0) throw new IngestError(`${obj.key}: the id column "${d.idColumn}" (dataset.idColumn) is not in the header (${columns.join(', ')})`);
        } else if (columns.includes(ROW_ID_COLUMN)) {
          throw new IngestError(`${obj.key}: column "${ROW_ID_COLUMN}" is reserved for the row id Ingest adds; set dataset.idColumn to use it`);
        }
        const outColumns = d.idColumn === undefined ? [...columns, ROW_ID_COLUMN] : columns;
        const header = writeCsvRow(outColumns);
        train = new PartWriter('train', prefix, header, deps);
        validation = new PartWriter('validation', prefix, header, deps);
        order = columns.map((_, i) => i);
      } else {
        order = alignHeader(columns, table.columns, firstKey, obj.key);
      }
      const identity = order.every((o, i) => o === i);
      for await (const { line, values: raw } of table.rows) {
        const values = identity ? raw : order.map((o) => raw[o]);
        let id: string;
        let out: Value[];
        if (idIndex >= 0) {
          const v = values[idIndex];
          if (v === null || v === '') throw new IngestError(`${obj.key} line ${line}: the id column "${d.idColumn}" is empty`);
          id = v;
          out = values;
        } else {
          id = rowId(values);
          out = [...values, id];
        }
        const target = splitPosition(d.splitSalt, id) < d.validationFraction ? validation! : train!;
        await target.add(writeCsvRow(out));
        rows++;
      }
    } catch (err) {
      if (err instanceof ParseError) throw new IngestError(err.message, { cause: err });
      throw err;
    } finally {
      // A refused header (id column missing, another header than the first file's) drops the table unread: its
      // S3 body must still be closed, or the response stays open, unread, with its connection.
      await table?.close();
    }
    read.push({ ...obj, rows, format });
  }
  await train!.flush(true);
  await validation!.flush(true);
  return {
    datasetId,
    createdAt: new Date().toISOString(),
    source: { bucket, objects: read },
    split: {
      validationFraction: d.validationFraction,
      splitSalt: d.splitSalt,
      idColumn: d.idColumn ?? ROW_ID_COLUMN,
      rowsPerPart: d.rowsPerPart,
      hash: 'sha256(splitSalt + id), first 48 bits / 2^48 < validationFraction -> validation',
    },
    columns: d.idColumn === undefined ? [...columns!, ROW_ID_COLUMN] : columns!,
    rows: { train: train!.total, validation: validation!.total },
    parts: [...train!.parts, ...validation!.parts],
  };
}

/** Maps a later file's columns onto the first file's order; a different set of columns is an IngestError. */
function alignHeader(expected: string[], got: string[], firstKey: string, key: string): number[] {
  const missing = expected.filter((c) => !got.includes(c));
  const extra = got.filter((c) => !expected.includes(c));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `extra ${extra.join(', ')}` : ''].filter(Boolean);
    throw new IngestError(`${key} does not have the same header as ${firstKey} (${parts.join('; ')}): all files of a batch must share one header`);
  }
  return expected.map((c) => got.indexOf(c));
}

function refOf(m: DatasetManifest, artifactsBucket: string, reused: boolean): DatasetRef {
  const prefix = Layout.dataset(m.datasetId);
  return {
    datasetId: m.datasetId,
    uri: s3Uri(artifactsBucket, prefix),
    trainUri: s3Uri(artifactsBucket, `${prefix}train/`),
    validationUri: s3Uri(artifactsBucket, `${prefix}validation/`),
    manifestUri: s3Uri(artifactsBucket, `${prefix}manifest.json`),
    parts: m.parts.map((p) => p.key),
    rows: m.rows,
    columns: m.columns,
    reused,
  };
}
