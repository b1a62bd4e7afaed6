import * as z from 'zod';
import { cloudWatchClient, s3Client, snsClient, sqsClient } from '../shared/clients';
import { loadEnv, LambdaEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { mapError } from '../shared/handler';
import { logger } from '../shared/logger';
import { CompareEventSchema, compareMonitor, MonitorDeps, planMonitor, PlanEventSchema, ShardEventSchema, shardMonitor } from './core';

/**
 * The monitoring state machine's three tasks (lib/constructs/monitoring.ts), one bundle with three exports, each
 * deployed as its own function with its own role: `plan` (PlanWindow), `shard` (MonitorShard, inside the
 * WindowStatistics Map) and `compare` (CompareWithBaseline). Errors keep the names the state machine matches on.
 */
function monitorHandler<S extends z.ZodType, R>(task: string, schema: S, fn: (event: z.infer<S>, env: LambdaEnv) => Promise<R>) {
  return async (raw: unknown): Promise<R> => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new InvalidStageInput(`${task}: invalid input: ${z.prettifyError(parsed.error)}`);
    const env = loadEnv();
    logger.appendKeys({ stage: task, executionName: (parsed.data as { executionName?: string }).executionName });
    const started = Date.now();
    try {
      const result = await fn(parsed.data, env);
      logger.info(`${task} done`, { ms: Date.now() - started });
      return result;
    } catch (err) {
      throw mapError(task, err);
    }
  };
}

const deps = (env: LambdaEnv): MonitorDeps => ({
  s3: s3Client(),
  artifactsBucket: env.artifactsBucket,
  kmsKeyArn: env.kmsKeyArn,
  config: env.config,
  endpointName: env.endpointName,
});

export const plan = monitorHandler('PlanWindow', PlanEventSchema, (event, env) => planMonitor(event, deps(env)));
export const shard = monitorHandler('MonitorShard', ShardEventSchema, (event, env) => shardMonitor(event, deps(env)));
export const compare = monitorHandler('CompareWithBaseline', CompareEventSchema, (event, env) =>
  compareMonitor(event, {
    ...deps(env),
    cloudwatch: cloudWatchClient(),
    sns: snsClient(),
    topicArn: env.topicArn,
    // The trigger queue (lib/constructs/monitoring.ts passes it): a drift retrain goes through the single-flight trigger.
    ...(process.env.TRIGGER_QUEUE_URL ? { retrain: { sqs: sqsClient(), queueUrl: process.env.TRIGGER_QUEUE_URL } } : {}),
  }),
);
