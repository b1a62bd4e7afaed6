import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { METRIC, METRICS_NAMESPACE } from './metric-names';

/**
 * Powertools metrics and tracer, one of each per process, shared by every handler (the logger lives in logger.ts).
 * Metrics go out as CloudWatch embedded metric format (EMF) lines in the function's log, under the namespace
 * `relearn` with the dimension `service` = POWERTOOLS_SERVICE_NAME (`relearn-<name>`); the dashboard
 * (lib/constructs/dashboard.ts) reads exactly these names. The tracer is on in Lambda (active tracing) and off
 * elsewhere (Powertools checks AWS_EXECUTION_ENV), so local mode traces nothing; local mode also sets
 * POWERTOOLS_METRICS_DISABLED, since EMF lines on stdout would mix with the CLI's output.
 */

export { METRIC, METRICS_NAMESPACE };

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'relearn';

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
export const tracer = new Tracer({ serviceName });

/** One metric with its own dimension, published at once (Powertools' single metric): per-rule counts, run costs. */
export function singleMetric(name: string, unit: Unit, value: number, dimensions: Record<string, string> = {}): void {
  const m = metrics.singleMetric();
  for (const [k, v] of Object.entries(dimensions)) m.addDimension(k, v);
  m.addMetric(name, unit, value);
}

/** ValidateData: how many anomalies of each rule this dataset has (blocking or not). */
export function countAnomalies(anomalies: readonly { rule: string }[]): void {
  const byRule = new Map<string, number>();
  for (const a of anomalies) byRule.set(a.rule, (byRule.get(a.rule) ?? 0) + 1);
  for (const [rule, n] of byRule) singleMetric(METRIC.validationAnomalies, MetricUnit.Count, n, { rule });
}

export { MetricUnit };
