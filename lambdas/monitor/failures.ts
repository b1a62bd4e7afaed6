import { CloudWatchClient, GetMetricDataCommand, MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { Failures } from './compare';
import { MonitorWindow } from './window';

/**
 * The share of failed requests: SageMaker records only requests its model answered, so failures come from the
 * endpoint's own CloudWatch metrics (namespace AWS/SageMaker, per EndpointName and VariantName): Invocations,
 * Invocation4XXErrors and Invocation5XXErrors, summed over the window.
 */
export const ENDPOINT_METRICS = { invocations: 'Invocations', errors4xx: 'Invocation4XXErrors', errors5xx: 'Invocation5XXErrors' } as const;

export async function endpointFailures(
  cloudwatch: CloudWatchClient,
  endpointName: string,
  variantName: string,
  window: MonitorWindow,
): Promise<Failures | { unavailable: string }> {
  // One datapoint per query: the whole window as one period (a multiple of 60 s).
  const period = Math.max(60, Math.ceil((window.end.getTime() - window.start.getTime()) / 60000) * 60);
  const queries: MetricDataQuery[] = Object.entries(ENDPOINT_METRICS).map(([id, metricName]) => ({
    Id: id.toLowerCase(),
    MetricStat: {
      Metric: {
        Namespace: 'AWS/SageMaker',
        MetricName: metricName,
        Dimensions: [
          { Name: 'EndpointName', Value: endpointName },
          { Name: 'VariantName', Value: variantName },
        ],
      },
      Period: period,
      Stat: 'Sum',
    },
    ReturnData: true,
  }));
  const sums: Record<string, number> = {};
  try {
    let token: string | undefined;
    do {
      const res = await cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: window.start, EndTime: window.end, NextToken: token }));
      for (const r of res.MetricDataResults ?? []) sums[r.Id ?? ''] = (sums[r.Id ?? ''] ?? 0) + (r.Values ?? []).reduce((s, v) => s + v, 0);
      token = res.NextToken;
    } while (token);
  } catch (err) {
    return { unavailable: `the endpoint's invocation metrics cannot be read (${(err as Error).name}: ${(err as Error).message})` };
  }
  return { invocations: sums.invocations ?? 0, errors4xx: sums.errors4xx ?? 0, errors5xx: sums.errors5xx ?? 0 };
}
