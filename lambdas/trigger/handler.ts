import { s3Client, sfnClient, sqsClient } from '../shared/clients';
import { loadEnv } from '../shared/env';
import { instrumented } from '../shared/handler';
import { logger } from '../shared/logger';
import { METRIC, MetricUnit, singleMetric } from '../shared/telemetry';
import { processBatch, SqsRecord } from './batch';

/**
 * The trigger: target of the trigger queue's event source mapping (partial batch responses on). Besides the stages'
 * environment it gets STATE_MACHINE_ARN (what it starts) and TRIGGER_QUEUE_URL (where it sends its own wake-ups).
 */
export const handler = instrumented('Trigger', async (event: { Records?: SqsRecord[] }) => {
  const env = loadEnv();
  const stateMachineArn = process.env.STATE_MACHINE_ARN;
  const queueUrl = process.env.TRIGGER_QUEUE_URL;
  if (!stateMachineArn || !queueUrl) throw new Error('relearn trigger environment is incomplete: STATE_MACHINE_ARN and TRIGGER_QUEUE_URL are required');
  const records = event.Records ?? [];
  const result = await processBatch(records, {
    s3: s3Client(),
    sfn: sfnClient(),
    sqs: sqsClient(),
    config: env.config.trigger,
    dataBucket: env.dataBucket,
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    stateMachineArn,
    queueUrl,
    log: (level, message, data) => logger[level](message, data ?? {}),
  });
  singleMetric(METRIC.triggerMessages, MetricUnit.Count, records.length);
  if (result.outcome.started) singleMetric(METRIC.triggerRunsStarted, MetricUnit.Count, 1);
  return { batchItemFailures: result.batchItemFailures };
});
