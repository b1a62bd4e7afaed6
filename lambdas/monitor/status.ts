import { S3Client } from '@aws-sdk/client-s3';
import { getJsonIfExists } from '../shared/s3';
import { windowText } from './compare';
import { LatestVerdict, MonitorLayout } from './core';

/**
 * What `relearn status` shows of production monitoring: the newest window's verdict (monitoring/latest.json), in one
 * line, with its report; or that the monitor has not run yet.
 */
export async function latestVerdict(s3: S3Client, artifactsBucket: string): Promise<LatestVerdict | undefined> {
  return getJsonIfExists<LatestVerdict>(s3, artifactsBucket, MonitorLayout.latest);
}

const VERDICT_WORDS: Record<LatestVerdict['verdict'], string> = {
  ok: 'no drift',
  issues: 'findings',
  drift: 'DRIFT',
  insufficient_data: 'too few captured rows to judge',
  no_baseline: 'no champion to compare with',
};

/** `Monitoring: DRIFT on 4 features (a, b, c, d) in 2026-11-29 09:00 to 10:00 UTC, 2 h ago; report s3://.../report.html` */
export function monitoringStatusLine(latest: LatestVerdict | undefined, now: Date = new Date()): string {
  if (!latest) return 'Monitoring: no verdict yet (the monitor runs on monitoring.schedule, or: relearn local monitor)';
  const ago = Math.max(0, now.getTime() - Date.parse(latest.createdAt));
  const age = ago < 3600_000 ? `${Math.round(ago / 60_000)} min ago` : ago < 48 * 3600_000 ? `${Math.round(ago / 3600_000)} h ago` : `${Math.round(ago / 86400_000)} days ago`;
  const what = latest.verdict === 'drift' && latest.driftedFeatures.length
    ? `DRIFT on ${latest.driftedFeatures.length} feature${latest.driftedFeatures.length === 1 ? '' : 's'} (${latest.driftedFeatures.join(', ')})`
    : VERDICT_WORDS[latest.verdict];
  const retrain = latest.retrainRequested ? '; a retrain was asked of the trigger' : '';
  return `Monitoring: ${what} in ${windowText({ start: new Date(latest.start), end: new Date(latest.end) })}, ${age}${retrain}; report ${latest.htmlUri}`;
}
