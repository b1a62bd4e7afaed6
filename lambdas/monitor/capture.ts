import { randomUUID } from 'node:crypto';
import { CSV_TOO_MANY_FIELDS, CsvFields, F_ESCAPED, F_QUOTED, splitRecord, Value } from '../shared/tabular';
import { CAPTURE_CSV_TYPES, CAPTURE_JSON_TYPES } from './capture-config';

/**
 * SageMaker's data-capture format, read by the monitor and written by the local endpoint
 * (local/services/sagemaker/serving.ts), so that the same monitor code reads both.
 *
 * Objects: `<prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl` (UTC; the hour folder is the
 * time the file was started, so a record may sit in the folder of the hour before or after its own time).
 * One JSON object per line:
 *
 *   {"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"...","encoding":"CSV"},
 *                   "endpointOutput":{"observedContentType":"application/json","mode":"OUTPUT","data":"...","encoding":"JSON"}},
 *    "eventMetadata":{"eventId":"<uuid>","inferenceTime":"2026-11-29T09:32:24Z"},"eventVersion":"0"}
 *
 * `encoding` is CSV for the endpoint config's CsvContentTypes, JSON for its JsonContentTypes (`data` is then the
 * body as text) and BASE64 for any other content type. SageMaker records only requests the model answered: a
 * refused request (4xx/5xx) is counted by the endpoint's CloudWatch metrics, not captured.
 */

export type CaptureEncoding = 'CSV' | 'JSON' | 'BASE64';

export interface CapturePayload {
  readonly observedContentType: string;
  readonly mode: 'INPUT' | 'OUTPUT';
  readonly data: string;
  readonly encoding: CaptureEncoding;
}

export interface CaptureRecord {
  readonly captureData: { readonly endpointInput?: CapturePayload; readonly endpointOutput?: CapturePayload };
  readonly eventMetadata: { readonly eventId: string; readonly inferenceTime: string; readonly inferenceId?: string };
  readonly eventVersion: string;
}

/** The media type without parameters, lower case: `Text/CSV; charset=utf-8` -> `text/csv`. */
export const mediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0].trim().toLowerCase();

/** The endpoint config's CaptureContentTypeHeader: content types recorded as text (CSV, JSON); null: none (all BASE64). */
export interface CaptureTextTypes {
  readonly csv: readonly string[];
  readonly json: readonly string[];
}

/** What Deploy configures (capture-config.ts). */
export const RELEARN_TEXT_TYPES: CaptureTextTypes = { csv: CAPTURE_CSV_TYPES, json: CAPTURE_JSON_TYPES };

/**
 * How SageMaker records a body of this content type: CSV or JSON (as text) for the config's CsvContentTypes and
 * JsonContentTypes (compared without parameters such as `; charset=utf-8`), BASE64 for the rest and when the config
 * names none.
 */
export function encodingFor(contentType: string | undefined, types: CaptureTextTypes | null = RELEARN_TEXT_TYPES): CaptureEncoding {
  if (!types) return 'BASE64';
  const media = mediaType(contentType);
  if (types.csv.some((t) => mediaType(t) === media)) return 'CSV';
  if (types.json.some((t) => mediaType(t) === media)) return 'JSON';
  return 'BASE64';
}

/** One side of a capture record, as SageMaker writes it. */
export function capturePayload(body: Buffer, contentType: string | undefined, mode: CapturePayload['mode'], types: CaptureTextTypes | null = RELEARN_TEXT_TYPES): CapturePayload {
  const encoding = encodingFor(contentType, types);
  return {
    observedContentType: contentType ?? '',
    mode,
    data: encoding === 'BASE64' ? body.toString('base64') : body.toString('utf8'),
    encoding,
  };
}

/** A capture record of one invocation (`input`/`output` left out when that side is not captured). */
export function captureRecord(opts: {
  readonly input?: { body: Buffer; contentType?: string };
  readonly output?: { body: Buffer; contentType?: string };
  readonly time: Date;
  readonly eventId?: string;
  readonly inferenceId?: string;
  /** @default RELEARN_TEXT_TYPES */
  readonly textTypes?: CaptureTextTypes | null;
}): CaptureRecord {
  const types = opts.textTypes === undefined ? RELEARN_TEXT_TYPES : opts.textTypes;
  return {
    captureData: {
      ...(opts.input ? { endpointInput: capturePayload(opts.input.body, opts.input.contentType, 'INPUT', types) } : {}),
      ...(opts.output ? { endpointOutput: capturePayload(opts.output.body, opts.output.contentType, 'OUTPUT', types) } : {}),
    },
    eventMetadata: {
      eventId: opts.eventId ?? randomUUID(),
      ...(opts.inferenceId ? { inferenceId: opts.inferenceId } : {}),
      // SageMaker writes whole seconds: 2026-11-29T09:32:24Z
      inferenceTime: opts.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    eventVersion: '0',
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `<prefix><endpoint>/<variant>/` */
export const captureEndpointPrefix = (prefix: string, endpoint: string, variant?: string): string => `${prefix}${endpoint}/${variant ? `${variant}/` : ''}`;

/** `yyyy/mm/dd/hh/` of a time (UTC), or `yyyy/mm/dd/` with `day`. */
export function hourFolder(t: Date, day = false): string {
  const d = `${t.getUTCFullYear()}/${pad(t.getUTCMonth() + 1)}/${pad(t.getUTCDate())}/`;
  return day ? d : `${d}${pad(t.getUTCHours())}/`;
}

/** The key of a capture file started at `t`: `<prefix><endpoint>/<variant>/yyyy/mm/dd/hh/mm-ss-mmm-<uuid>.jsonl`. */
export function captureKey(prefix: string, endpoint: string, variant: string, t: Date, id: string = randomUUID()): string {
  return `${captureEndpointPrefix(prefix, endpoint, variant)}${hourFolder(t)}${pad(t.getUTCMinutes())}-${pad(t.getUTCSeconds())}-${pad(t.getUTCMilliseconds(), 3)}-${id}.jsonl`;
}

/** A line that is not a capture record, with what is wrong (the caller names file and line). */
export class CaptureFormatError extends Error {
  override readonly name = 'CaptureFormatError';
}

const ENCODINGS = new Set(['CSV', 'JSON', 'BASE64']);

function payloadOf(v: unknown, where: string): CapturePayload | undefined {
  if (v === undefined || v === null) return undefined;
  const p = v as Record<string, unknown>;
  if (typeof p !== 'object' || typeof p.data !== 'string' || typeof p.encoding !== 'string' || !ENCODINGS.has(p.encoding)) {
    throw new CaptureFormatError(`${where} must have "data" (a string) and "encoding" (CSV, JSON or BASE64)`);
  }
  return p as unknown as CapturePayload;
}

/** Parses one line of a capture file (fast checks of what the monitor relies on; no schema library on the hot path). */
export function parseCaptureLine(line: string): CaptureRecord {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new CaptureFormatError(`not JSON (${(err as Error).message})`);
  }
  const r = v as Record<string, Record<string, unknown> | undefined>;
  if (!r || typeof r !== 'object' || !r.captureData || typeof r.captureData !== 'object') throw new CaptureFormatError('no "captureData" object');
  const meta = r.eventMetadata;
  if (!meta || typeof meta.inferenceTime !== 'string') throw new CaptureFormatError('no "eventMetadata.inferenceTime"');
  payloadOf(r.captureData.endpointInput, 'captureData.endpointInput');
  payloadOf(r.captureData.endpointOutput, 'captureData.endpointOutput');
  return v as CaptureRecord;
}

/** The body a payload recorded (BASE64 decoded; CSV and JSON are the text itself). */
export function payloadBody(p: CapturePayload): Buffer {
  return p.encoding === 'BASE64' ? Buffer.from(p.data, 'base64') : Buffer.from(p.data, 'utf8');
}

/** The body as text (what the monitor parses). */
export function payloadText(p: CapturePayload): string {
  return p.encoding === 'BASE64' ? Buffer.from(p.data, 'base64').toString('utf8') : p.data;
}

/** The rows of a request; a key that a row lacks is `undefined` (absent), a JSON null is `null` (missing value). */
export interface RequestRows {
  readonly columns: readonly string[];
  readonly rows: readonly (Readonly<Record<string, Value | undefined>>)[];
}

/** A request or response body relearn's serving contract does not describe (the monitor counts these). */
export class UnreadableBody extends Error {
  override readonly name = 'UnreadableBody';
}

const jsonValue = (v: unknown): Value => (v === null ? null : typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

/**
 * The rows of a request body, as relearn's serving code reads it (Contract A): CSV with a header row, or JSON (a
 * list of objects, `{"instances": [...]}`, or one object). Values stay text, as in a CSV; types are the statistics'
 * business.
 */
export function requestRows(text: string, contentType: string): RequestRows {
  const media = mediaType(contentType);
  const json = media === 'application/json' || (media !== 'text/csv' && /^\s*[[{]/.test(text));
  if (json) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new UnreadableBody(`the request is not JSON (${(err as Error).message})`);
    }
    if (data && typeof data === 'object' && !Array.isArray(data) && Array.isArray((data as { instances?: unknown }).instances)) data = (data as { instances: unknown[] }).instances;
    else if (data && typeof data === 'object' && !Array.isArray(data)) data = [data];
    if (!Array.isArray(data)) throw new UnreadableBody('the JSON request is neither a list of objects, {"instances": [...]}, nor an object');
    const columns: string[] = [];
    const seen = new Set<string>();
    const rows: Record<string, Value>[] = [];
    for (const item of data) {
      if (!item || typeof item !== 'object' || Array.isArray(item)) throw new UnreadableBody('a JSON request row is not an object of column: value');
      const row: Record<string, Value> = {};
      for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
        if (!seen.has(k)) {
          seen.add(k);
          columns.push(k);
        }
        row[k] = jsonValue(v);
      }
      rows.push(row);
    }
    return { columns, rows };
  }
  if (media !== 'text/csv') throw new UnreadableBody(`content type "${contentType}" is neither text/csv nor application/json`);
  return csvRows(Buffer.from(text, 'utf8'));
}

const csvFields = new CsvFields(64);

/** A CSV body with a header row, split by the same RFC 4180 rules as every other CSV reader (tabular's splitRecord). */
function csvRows(buf: Buffer): RequestRows {
  const records: Value[][] = [];
  let p = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  while (p < buf.length) {
    let next = splitRecord(buf, p, buf.length, true, csvFields);
    while (next === CSV_TOO_MANY_FIELDS) {
      csvFields.grow();
      next = splitRecord(buf, p, buf.length, true, csvFields);
    }
    if (next < 0) throw new UnreadableBody(`the CSV request cannot be split into fields (line ${records.length + 1})`);
    const f = csvFields;
    if (!(f.count === 1 && f.start[0] === f.end[0] && f.flags[0] === 0)) {
      const values: Value[] = [];
      for (let i = 0; i < f.count; i++) {
        const raw = buf.toString('utf8', f.start[i], f.end[i]);
        values.push(f.flags[i] & F_ESCAPED ? raw.replace(/""/g, '"') : raw === '' && !(f.flags[i] & F_QUOTED) ? null : raw);
      }
      records.push(values);
    }
    p = next;
  }
  if (records.length === 0) throw new UnreadableBody('the CSV request is empty');
  const columns = records[0].map((h) => (h ?? '').trim());
  const rows = records.slice(1).map((values, r) => {
    if (values.length !== columns.length) throw new UnreadableBody(`the CSV request's row ${r + 1} has ${values.length} fields, but its header has ${columns.length}`);
    const row: Record<string, Value> = {};
    columns.forEach((c, i) => (row[c] = values[i]));
    return row;
  });
  return { columns, rows };
}

/** What a response says, per row: a number (binary P(positive), regression value) or K probabilities (multiclass). */
export interface ResponsePredictions {
  readonly scores: readonly (number | readonly number[])[];
  /** Ordered class names (classification responses of Contract A). */
  readonly classes?: readonly string[];
}

const isScore = (v: unknown): v is number | number[] =>
  (typeof v === 'number' && Number.isFinite(v)) || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)));

/**
 * The predictions of a response body (Contract A): JSON `{"predictions": [...], "classes": [...], "labels": [...]}`
 * or a bare JSON list, or CSV with one line per row (the number, or the K probabilities comma-separated).
 */
export function responsePredictions(text: string, contentType: string): ResponsePredictions {
  const media = mediaType(contentType);
  if (media === 'application/json' || (media !== 'text/csv' && /^\s*[[{]/.test(text))) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new UnreadableBody(`the response is not JSON (${(err as Error).message})`);
    }
    const obj = data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
    const list = obj ? obj.predictions : data;
    if (!Array.isArray(list) || !list.every(isScore)) throw new UnreadableBody('the JSON response has no "predictions" list of numbers or probability lists');
    const classes = obj && Array.isArray(obj.classes) && obj.classes.every((c) => typeof c === 'string' || typeof c === 'number') ? obj.classes.map(String) : undefined;
    return { scores: list, ...(classes ? { classes } : {}) };
  }
  if (media !== 'text/csv') throw new UnreadableBody(`content type "${contentType}" is neither text/csv nor application/json`);
  const scores: (number | number[])[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const values = line.split(',').map((x) => Number(x.trim()));
    if (values.some((x) => !Number.isFinite(x))) throw new UnreadableBody(`the CSV response line "${line.slice(0, 80)}" is not numbers`);
    scores.push(values.length === 1 ? values[0] : values);
  }
  return { scores };
}
