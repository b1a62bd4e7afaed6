import { createHash, hash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import * as z from 'zod';
import { DatasetConfig } from '../shared/config';
import { DatasetRef, Layout, RunManifestSchema, Source } from '../shared/contracts';
import { IngestError, NoNewData } from '../shared/errors';
import { getBuffer, getJson, isNotFound, parseS3Uri, putJson, putText, s3Uri } from '../shared/s3';
import { openTable, ParseError, Table, TableFormat, Value, writeCsvRow } from '../shared/tabular';
import { LineMap, LineMapJson, lineMapKey } from './line-map';
import { ClassSplit, Move, Placement, SplitReport, Stratifier, TooRare } from './split';

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
  /** `evaluation.problemType`: classification splits stratified by the label. @default - not stratified */
  readonly problemType?: string;
  /** Longest accepted source line. @default 1 MiB */
  readonly maxLineBytes?: number;
  /** Keys per ListObjectsV2 page. @default - S3's own (1000) */
  readonly listPageSize?: number;
  /** Write a line map per part (bench/ingest.ts turns it off for its baseline). @default true */
  readonly lineMaps?: boolean;
}

export interface SourceObject {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  /** The version a run manifest pinned (read exactly that one). */
  readonly versionId?: string;
}

export interface DatasetManifest {
  readonly datasetId: string;
  readonly createdAt: string;
  readonly source: { bucket: string; objects: (SourceObject & { rows: number; format: TableFormat })[] };
  readonly split: {
    validationFraction: number;
    splitSalt: string;
    idColumn: string;
    rowsPerPart: number;
    hash: string;
    /** Classification: the label column the split is stratified by (see `rule`). */
    stratifiedBy?: string;
    rule?: string;
    /** Rows per class and split, after the moves (at most 1,024 classes). */
    classes?: ClassSplit[];
    /** The rows moved to the other split so that their class is in both. */
    moved?: { class: string; id: string; from: 'train' | 'validation'; to: 'train' | 'validation'; file: string; line: number }[];
    /** Classes too rare to be in both splits (a single row). */
    tooRare?: TooRare[];
  };
  readonly columns: string[];
  readonly rows: { train: number; validation: number };
  readonly parts: { key: string; split: 'train' | 'validation'; rows: number; bytes: number; sha256: string }[];
  /** Each part has a line map (`lineMapKey(part)`): where its rows came from. Absent in snapshots made before. */
  readonly lineMaps?: boolean;
  /** What a person should know about the snapshot (a class too rare for both splits); carried by `$.dataset`. */
  readonly warnings?: string[];
}

/** Bumped when the snapshot's layout or split rule changes, so that a re-ingest makes a new snapshot. */
const SNAPSHOT_LAYOUT = 2;

export async function ingest(source: Source, deps: IngestDeps): Promise<DatasetRef> {
  const objects = await resolveSource(deps.s3, source, deps.listPageSize);
  if (objects.length === 0) {
    throw new NoNewData(`nothing to ingest in s3://${source.bucket}/${source.prefix ?? ''} (only markers or empty objects)`);
  }
  const datasetId = datasetIdOf(objects, deps.dataset, deps.problemType);
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

/**
 * The objects to ingest, sorted by key, with ETag and size; markers and zero-byte objects are skipped. A run
 * manifest names them (and pins their versions); otherwise keys are looked up, or a prefix is listed.
 */
export async function resolveSource(s3: S3Client, source: Source, pageSize?: number): Promise<SourceObject[]> {
  const found: SourceObject[] = [];
  if (source.manifest !== undefined) {
    found.push(...(await readRunManifest(s3, source)));
  } else if (source.keys && source.keys.length > 0) {
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

/** The objects of the run manifest `source.manifest` (written by the trigger), checked against its schema and bucket. */
async function readRunManifest(s3: S3Client, source: Source): Promise<SourceObject[]> {
  const uri = source.manifest!;
  const { bucket, key } = parseS3Uri(uri);
  let raw: unknown;
  try {
    raw = await getJson(s3, bucket, key);
  } catch (err) {
    const e = err as Error;
    if (isNotFound(err) || e.name === 'AccessDenied' || e instanceof SyntaxError) {
      throw new IngestError(`the run manifest ${uri} could not be read (${e.name}: ${e.message})`, { cause: err });
    }
    throw err;
  }
  const parsed = RunManifestSchema.safeParse(raw);
  if (!parsed.success) throw new IngestError(`the run manifest ${uri} is not a relearn run manifest: ${z.prettifyError(parsed.error)}`);
  if (parsed.data.bucket !== source.bucket) {
    throw new IngestError(`the run manifest ${uri} lists objects of bucket ${parsed.data.bucket}, but the execution's source bucket is ${source.bucket}`);
  }
  return parsed.data.objects.map((o) => ({ key: o.key, etag: o.etag, size: o.size, ...(o.versionId ? { versionId: o.versionId } : {}) }));
}

/**
 * The object's bytes as the source named it: the pinned version when there is one, and only while its ETag is the one
 * listed (S3 answers 412 otherwise): a file overwritten after the trigger listed it is an IngestError, never a
 * silent mix of old manifest and new content.
 */
async function openSourceObject(s3: S3Client, bucket: string, obj: SourceObject): Promise<Readable> {
  try {
    const res = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: obj.key, ...(obj.versionId ? { VersionId: obj.versionId } : {}), ...(obj.etag ? { IfMatch: obj.etag } : {}) }),
    );
    return res.Body as Readable;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) {
      throw new IngestError(`s3://${bucket}/${obj.key} changed after it was listed for this run (its ETag is no longer ${obj.etag}): land a new file instead of overwriting one`, { cause: err });
    }
    if (isNotFound(err)) throw new IngestError(`s3://${bucket}/${obj.key}${obj.versionId ? ` (version ${obj.versionId})` : ''} does not exist any more`, { cause: err });
    throw err;
  }
}

function isMarker(key: string): boolean {
  return key.endsWith('/') || MARKERS.has(key.slice(key.lastIndexOf('/') + 1));
}

/** Content hash of what was read and how it is split: the same data gives the same snapshot. */
export function datasetIdOf(objects: readonly SourceObject[], d: DatasetConfig, problemType?: string): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({
    objects: objects.map((o) => [o.key, o.etag]),
    split: [d.format, d.idColumn ?? null, d.validationFraction, d.splitSalt, d.rowsPerPart],
    layout: SNAPSHOT_LAYOUT,
    stratifiedBy: stratifiedBy(d, problemType) ?? null,
  }));
  return h.digest('hex').slice(0, 20);
}

/** The label column a classification split is stratified by; undefined for regression (plain hash split). */
function stratifiedBy(d: DatasetConfig, problemType: string | undefined): string | undefined {
  return problemType !== undefined && problemType !== 'regression' ? d.labelColumn : undefined;
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

  /** Appends `text` as UTF-8; returns the bytes written. */
  write(text: string): number {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    if (this.used + text.length * 3 > this.current.length) {
      this.blocks.push(this.current.subarray(0, this.used));
      this.current = Buffer.allocUnsafe(Math.max(ByteSink.BLOCK, text.length * 3));
      this.used = 0;
    }
    const n = this.current.write(text, this.used);
    this.used += n;
    this.length += n;
    return n;
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

/** Buffers one split's rows and writes a part file (and its line map) every `rowsPerPart` rows. */
class PartWriter {
  private sink = new ByteSink();
  private lines = new LineMap();
  private rows = 0;
  private index = 0;
  total = 0;
  readonly parts: DatasetManifest['parts'] = [];
  /** Where the last row went (read by the stratifier, only for the rows it keeps as candidates). */
  private last = { part: 0, row: 0, offset: 0, length: 0 };

  constructor(
    readonly split: 'train' | 'validation',
    private readonly prefix: string,
    private readonly header: string,
    private readonly deps: IngestDeps,
  ) {
    this.sink.write(header);
  }

  async add(line: string, object: string, sourceLine: number): Promise<void> {
    const offset = this.sink.length;
    const length = this.sink.write(line);
    if (this.deps.lineMaps !== false) this.lines.add(object, sourceLine);
    this.last.part = this.index;
    this.last.row = this.rows;
    this.last.offset = offset;
    this.last.length = length;
    this.rows++;
    this.total++;
    if (this.rows >= this.deps.dataset.rowsPerPart) await this.flush();
  }

  lastPlacement(): Placement {
    return { split: this.split, ...this.last };
  }

  partKey(index: number): string {
    return `${this.prefix}${this.split}/part-${String(index).padStart(5, '0')}.csv`;
  }

  async flush(force = false): Promise<void> {
    if (this.rows === 0 && !(force && this.index === 0)) return;
    const body = this.sink.take();
    this.sink.write(this.header);
    const key = this.partKey(this.index);
    const lines = this.deps.lineMaps === false ? undefined : this.lines.toJSON(key);
    this.lines = new LineMap();
    await putText(this.deps.s3, this.deps.artifactsBucket, key, body, { kmsKeyArn: this.deps.kmsKeyArn, contentType: 'text/csv; charset=utf-8' });
    if (lines) await putJson(this.deps.s3, this.deps.artifactsBucket, lineMapKey(key), lines, { kmsKeyArn: this.deps.kmsKeyArn });
    this.parts.push({ key, split: this.split, rows: this.rows, bytes: body.length, sha256: sha256(body) });
    this.index++;
    this.rows = 0;
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function writeSnapshot(bucket: string, objects: SourceObject[], datasetId: string, deps: IngestDeps): Promise<DatasetManifest> {
  const d = deps.dataset;
  const prefix = Layout.dataset(datasetId);
  const labelColumn = stratifiedBy(d, deps.problemType);
  const stratifier = labelColumn !== undefined ? new Stratifier() : undefined;
  let columns: string[] | undefined;
  let firstKey = '';
  let train: PartWriter | undefined;
  let validation: PartWriter | undefined;
  let idIndex = -1;
  let labelIndex = -1;
  const read: DatasetManifest['source']['objects'] = [];

  for (const obj of objects) {
    const format = formatOf(obj.key, d.format);
    let rows = 0;
    let table: Table | undefined;
    try {
      table = await openTable(await openSourceObject(deps.s3, bucket, obj), { format, file: obj.key, maxLineBytes: deps.maxLineBytes });
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
        // A missing label column is ValidateData's to report (label_missing); the split is then the plain hash.
        labelIndex = labelColumn !== undefined ? columns.indexOf(labelColumn) : -1;
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
        const position = splitPosition(d.splitSalt, id);
        const target = position < d.validationFraction ? validation! : train!;
        await target.add(writeCsvRow(out), obj.key, line);
        if (labelIndex >= 0) stratifier!.observe(values[labelIndex], position, id, target, obj.key, line);
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
  const report = stratifier?.finish();
  if (report && report.moves.length) await moveRows(report.moves, { train: train!, validation: validation! }, deps);
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
      ...(report
        ? {
            stratifiedBy: labelColumn,
            rule: SPLIT_RULE,
            classes: report.classes,
            moved: report.moves.map((m) => ({ class: m.className, id: m.id, from: m.from.split, to: m.to, file: m.at.file, line: m.at.line })),
            tooRare: report.tooRare,
          }
        : {}),
    },
    columns: d.idColumn === undefined ? [...columns!, ROW_ID_COLUMN] : columns!,
    rows: { train: train!.total, validation: validation!.total },
    parts: [...train!.parts, ...validation!.parts],
    ...(deps.lineMaps === false ? {} : { lineMaps: true }),
    ...(report ? { warnings: splitWarnings(labelColumn!, report) } : {}),
  };
}

/** The split rule in words, as the manifest records it (docs/architecture.md, "Stratified split"). */
export const SPLIT_RULE =
  'stratified by the label: each row goes where its hash puts it, except that a class whose rows all fall in one split ' +
  'gives the other split its row nearest the boundary (smallest position of a train-only class, largest of a validation-only one)';

/** The words a person (and the decision record, through `$.dataset.warnings`) gets about the split. */
function splitWarnings(label: string, r: SplitReport): string[] {
  const out = r.tooRare.map(
    (t) => `class "${t.name}" of the label "${label}" has a single row (${t.at.file} line ${t.at.line}): it cannot be in both splits and is in the ${t.split} split only`,
  );
  if (r.untrackedRows > 0) {
    out.push(`the label "${label}" has more than ${r.maxClasses} distinct values: ${r.untrackedRows} row(s) of the classes beyond were split by hash alone (is it a class label?)`);
  }
  return out;
}

/**
 * Moves the stratifier's rows to the other split, after every part is written: cuts each row out of its part
 * (by the byte range it was written at) and appends it to the last part of the other split, rewriting those few
 * parts, their line maps and their manifest entries. Only classes whose rows all fell on one side have a moved
 * row, so this touches a few parts at most (none for a dataset whose classes are all common).
 */
async function moveRows(moves: Move[], writers: Record<'train' | 'validation', PartWriter>, deps: IngestDeps): Promise<void> {
  const { s3, artifactsBucket: bucket, kmsKeyArn } = deps;
  const maps = deps.lineMaps !== false;
  const put = async (w: PartWriter, index: number, body: Buffer, lines: LineMap, rows: number) => {
    const key = w.partKey(index);
    await putText(s3, bucket, key, body, { kmsKeyArn, contentType: 'text/csv; charset=utf-8' });
    if (maps) await putJson(s3, bucket, lineMapKey(key), lines.toJSON(key), { kmsKeyArn });
    w.parts[index] = { ...w.parts[index], rows, bytes: body.length, sha256: sha256(body) };
  };
  const load = async (key: string) => ({
    body: await getBuffer(s3, bucket, key),
    lines: maps ? LineMap.fromJSON(await getJson<LineMapJson>(s3, bucket, lineMapKey(key))) : new LineMap(),
  });

  // 1. Cut the rows out of their parts, one part at a time.
  const bySource = new Map<string, Move[]>();
  for (const m of moves) {
    const k = `${m.from.split}/${m.from.part}`;
    bySource.set(k, [...(bySource.get(k) ?? []), m]);
  }
  const moved: { move: Move; bytes: Buffer }[] = [];
  for (const group of bySource.values()) {
    const w = writers[group[0].from.split];
    const { body, lines } = await load(w.partKey(group[0].from.part));
    const sorted = [...group].sort((a, b) => a.from.offset - b.from.offset);
    const pieces: Buffer[] = [];
    let pos = 0;
    for (const m of sorted) {
      pieces.push(body.subarray(pos, m.from.offset));
      moved.push({ move: m, bytes: Buffer.from(body.subarray(m.from.offset, m.from.offset + m.from.length)) });
      pos = m.from.offset + m.from.length;
    }
    pieces.push(body.subarray(pos));
    lines.remove(sorted.map((m) => m.from.row));
    await put(w, group[0].from.part, Buffer.concat(pieces), lines, w.parts[group[0].from.part].rows - group.length);
    w.total -= group.length;
  }
  // 2. Append them to the other split's last part (after its rows in source order: `ordered` marks where).
  for (const to of ['train', 'validation'] as const) {
    const mine = moved.filter((m) => m.move.to === to).sort((a, b) => (a.move.at.file < b.move.at.file ? -1 : a.move.at.file > b.move.at.file ? 1 : a.move.at.line - b.move.at.line));
    if (mine.length === 0) continue;
    const w = writers[to];
    const index = w.parts.length - 1;
    const { body, lines } = await load(w.partKey(index));
    lines.ordered = Math.min(lines.ordered, lines.rows);
    for (const m of mine) lines.add(m.move.at.file, m.move.at.line);
    await put(w, index, Buffer.concat([body, ...mine.map((m) => m.bytes)]), lines, w.parts[index].rows + mine.length);
    w.total += mine.length;
  }
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
  const warnings = (m.warnings ?? []).slice(0, MAX_STATE_WARNINGS);
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
    ...(m.lineMaps ? { lineMaps: true } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
}

/** Warnings carried in the state (all of them are in the manifest): the state stays small. */
const MAX_STATE_WARNINGS = 10;
