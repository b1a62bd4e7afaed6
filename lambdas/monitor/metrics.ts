import { CloudWatchClient, MetricDatum, PutMetricDataCommand, StandardUnit } from '@aws-sdk/client-cloudwatch';
import { MonitorReport } from './compare';

/**
 * The monitor's CloudWatch metrics, one datapoint per run, in namespace MONITORING_NAMESPACE with the dimension
 * `Pipeline` (config.name); FeatureDrift also per `Feature`. The alarm of lib/constructs/monitoring.ts watches
 * DriftDetected.
 */
export const MONITORING_NAMESPACE = 'relearn/Monitoring';

export const MONITORING_METRICS = {
  /** 1 when the window's verdict is drift (features or predictions), else 0. The alarm's metric. */
  driftDetected: 'DriftDetected',
  /** Features whose drift rules fired. */
  driftedFeatures: 'DriftedFeatures',
  /** Per feature (dimension Feature): its largest drift measure relative to the threshold (1 = at the threshold). */
  featureDrift: 'FeatureDrift',
  /** The prediction distribution's drift, relative to the threshold. */
  predictionDrift: 'PredictionDrift',
  /** Share of the endpoint's invocations that failed (4xx + 5xx), when its metrics could be read. */
  failedRequestShare: 'FailedRequestShare',
  /** Request rows captured in the window. */
  capturedRows: 'CapturedRows',
  /** 1 when the window had too few rows to judge. */
  insufficientData: 'InsufficientData',
} as const;

/** The datapoints of one report (not sent: see putMonitoringMetrics). */
export function monitoringMetricData(report: MonitorReport, pipeline: string, at: Date): MetricDatum[] {
  const dims = [{ Name: 'Pipeline', Value: pipeline }];
  const d = (name: string, value: number, unit: StandardUnit = 'None', extra: { Name: string; Value: string }[] = []): MetricDatum => ({
    MetricName: name,
    Dimensions: [...dims, ...extra],
    Value: value,
    Unit: unit,
    Timestamp: at,
  });
  const out: MetricDatum[] = [
    d(MONITORING_METRICS.capturedRows, report.counts.rows, 'Count'),
    d(MONITORING_METRICS.insufficientData, report.verdict === 'insufficient_data' ? 1 : 0),
  ];
  if ('share' in report.failures && report.failures.share !== null) out.push(d(MONITORING_METRICS.failedRequestShare, report.failures.share));
  if (report.verdict === 'insufficient_data' || report.verdict === 'no_baseline') return out;
  out.push(d(MONITORING_METRICS.driftDetected, report.verdict === 'drift' ? 1 : 0), d(MONITORING_METRICS.driftedFeatures, report.driftedFeatures.length, 'Count'));
  for (const f of report.features) {
    if (f.driftScore !== null) out.push(d(MONITORING_METRICS.featureDrift, f.driftScore, 'None', [{ Name: 'Feature', Value: f.name.slice(0, 255) || '(empty)' }]));
  }
  const pred = report.predictions.columns.map((c) => c.driftScore).filter((x): x is number => x !== null);
  if (pred.length) out.push(d(MONITORING_METRICS.predictionDrift, Math.max(...pred)));
  return out;
}

/** PutMetricData in batches (the API takes at most 1,000 datapoints and 1 MB per call). */
export async function putMonitoringMetrics(cloudwatch: CloudWatchClient, data: MetricDatum[]): Promise<void> {
  for (let i = 0; i < data.length; i += 500) {
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: MONITORING_NAMESPACE, MetricData: data.slice(i, i + 500) }));
  }
}
