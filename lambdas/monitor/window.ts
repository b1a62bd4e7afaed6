import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { captureEndpointPrefix, hourFolder } from './capture';
import { SERVING_VARIANT } from './capture-config';

/**
 * A monitoring window: the captured traffic whose inferenceTime is in [start, end). Its id names its folder,
 * `monitoring/<id>/`, and is the same for the same window, so running the monitor twice on one window rewrites
 * one report (and, through the single-flight trigger, starts at most one retrain).
 */
export interface MonitorWindow {
  readonly start: Date;
  readonly end: Date;
  /** `20261129T0900Z-20261130T0900Z` */
  readonly id: string;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const compact = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\d\d\.\d{3}Z$/, 'Z');

/** A window from its two ends (minutes are kept; seconds are cut). */
export function windowOf(start: Date, end: Date): MonitorWindow {
  const s = new Date(Math.floor(start.getTime() / 60000) * 60000);
  const e = new Date(Math.floor(end.getTime() / 60000) * 60000);
  if (!(e.getTime() > s.getTime())) throw new WindowError(`a window must end after it starts, but got ${s.toISOString()} to ${e.toISOString()}`);
  return { start: s, end: e, id: `${compact(s)}-${compact(e)}` };
}

/** The window a scheduled run checks: the `minutes` before `end` (the execution's start time). */
export function scheduledWindow(end: Date, minutes: number): MonitorWindow {
  const e = new Date(Math.floor(end.getTime() / 60000) * 60000);
  return windowOf(new Date(e.getTime() - minutes * 60000), e);
}

/** A window the person asking did not describe well: the message says what was expected. */
export class WindowError extends Error {
  override readonly name = 'WindowError';
}

const DURATION = /^(\d+)\s*(m|min|minutes?|h|hours?|d|days?)$/i;
const MAX_DAYS = 31;

/**
 * `--window`: a duration ending now (`90m`, `6h`, `7d`), or `<start>/<end>` in ISO 8601 (`2026-11-29T09:00Z/2026-11-29T12:00Z`;
 * a date alone is midnight UTC). At most 31 days.
 */
export function parseWindow(spec: string, now: Date = new Date()): MonitorWindow {
  const s = spec.trim();
  const d = DURATION.exec(s);
  let w: MonitorWindow;
  if (d) {
    const n = Number(d[1]);
    const unit = d[2][0].toLowerCase();
    const ms = n * (unit === 'm' ? 60000 : unit === 'h' ? HOUR : DAY);
    if (n <= 0) throw new WindowError(`--window must be a positive duration, but got "${spec}"`);
    // The end is the next whole minute, so that what was captured this very minute is in the window.
    const end = new Date(Math.ceil((now.getTime() + 1) / 60000) * 60000);
    w = windowOf(new Date(end.getTime() - ms), end);
  } else {
    const parts = s.split('/');
    if (parts.length !== 2) throw new WindowError(`--window must be a duration (90m, 6h, 7d) or <start>/<end> in ISO 8601 (2026-11-29T09:00Z/2026-11-29T12:00Z), but got "${spec}"`);
    const [a, b] = parts.map((p) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(p.trim()) ? `${p.trim()}T00:00Z` : p.trim()));
    if (Number.isNaN(a.getTime()) || Number.isNaN(b.getTime())) throw new WindowError(`--window: "${spec}" is not <start>/<end> in ISO 8601 (e.g. 2026-11-29T09:00Z/2026-11-29T12:00Z)`);
    w = windowOf(a, b);
  }
  if (w.end.getTime() - w.start.getTime() > MAX_DAYS * DAY) throw new WindowError(`--window must be at most ${MAX_DAYS} days, but got "${spec}"`);
  return w;
}

export interface CaptureFile {
  readonly key: string;
  readonly size: number;
}

/**
 * The capture files that may hold records of the window: every hour folder from an hour before its start to an hour
 * after its end (a file's folder is the hour it was started, its records may be a little older or newer), under the
 * endpoint's variant (`AllTraffic`: Deploy's only variant). Whole days inside that range are listed with one prefix.
 * Sorted by key.
 */
export async function listCaptureFiles(s3: S3Client, bucket: string, prefix: string, endpoint: string, window: MonitorWindow, variant = SERVING_VARIANT): Promise<CaptureFile[]> {
  const base = captureEndpointPrefix(prefix, endpoint, variant);
  const from = Math.floor((window.start.getTime() - HOUR) / HOUR) * HOUR;
  const to = window.end.getTime() + HOUR;
  const prefixes: string[] = [];
  for (let t = from; t < to; ) {
    const dayStart = Math.floor(t / DAY) * DAY;
    if (t === dayStart && dayStart + DAY <= to) {
      prefixes.push(hourFolder(new Date(t), true));
      t += DAY;
    } else {
      prefixes.push(hourFolder(new Date(t)));
      t += HOUR;
    }
  }
  const files: CaptureFile[] = [];
  for (const p of prefixes) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${base}${p}`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key && o.Key.endsWith('.jsonl')) files.push({ key: o.Key, size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
