import * as z from 'zod';
import { InvalidStageInput, RelearnError, TransientError } from './errors';
import { loadEnv, LambdaEnv } from './env';
import { logger } from './logger';
import { StageEvent, StageEventSchema } from './contracts';
import { METRIC, metrics, MetricUnit, tracer } from './telemetry';

/**
 * Wraps a stage's core as a Lambda handler: parses `{ executionName, state }` with zod, loads the
 * environment, logs start/end, and maps errors to the names the state machine matches on:
 * our RelearnErrors keep their names; throttling and 5xx AWS errors become TransientError (retried);
 * anything else propagates as it is (caught by the Catch -> NotifyFailure). Every invocation is traced
 * and measured (instrumented()).
 */
export function stageHandler<R>(stage: string, fn: (event: StageEvent, env: LambdaEnv) => Promise<R>) {
  return instrumented(stage, async (raw: unknown): Promise<R> => {
    const parsed = StageEventSchema.safeParse(raw);
    if (!parsed.success) {
      throw new InvalidStageInput(`${stage}: invalid input: ${z.prettifyError(parsed.error)}`);
    }
    const env = loadEnv();
    logger.appendKeys({ stage, executionName: parsed.data.executionName });
    tracer.putAnnotation('executionName', parsed.data.executionName);
    const started = Date.now();
    try {
      const result = await fn(parsed.data, env);
      logger.info(`${stage} done`, { ms: Date.now() - started });
      return result;
    } catch (err) {
      throw mapError(stage, err);
    }
  });
}

/**
 * Powertools around any handler (stages, the trigger, the abort clean-up): an X-Ray subsegment `## <name>` with
 * the cold start and service annotated and the error recorded, and the metrics StageDuration (ms) and, on an error,
 * StageFailed, both with the dimension `stage` = name, flushed as EMF before the handler returns or throws.
 */
export function instrumented<A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const segment = tracer.getSegment();
    const subsegment = segment?.addNewSubsegment(`## ${name}`);
    if (subsegment) tracer.setSegment(subsegment);
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
    tracer.putAnnotation('stage', name);
    metrics.captureColdStartMetric(name);
    const started = Date.now();
    try {
      return await fn(...args);
    } catch (err) {
      tracer.addErrorAsMetadata(err as Error);
      metrics.addDimension('stage', name);
      metrics.addMetric(METRIC.stageFailed, MetricUnit.Count, 1);
      throw err;
    } finally {
      metrics.addDimension('stage', name);
      metrics.addMetric(METRIC.stageDuration, MetricUnit.Milliseconds, Date.now() - started);
      metrics.publishStoredMetrics();
      subsegment?.close();
      if (segment) tracer.setSegment(segment);
    }
  };
}

/** Exposed for tests. */
export function mapError(stage: string, err: unknown): unknown {
  if (err instanceof RelearnError) {
    logger.warn(`${stage} failed`, { error: err.name, message: err.message });
    return err;
  }
  if (isTransient(err)) {
    const e = err as Error;
    logger.warn(`${stage} transient failure`, { error: e.name, message: e.message });
    return new TransientError(`${stage}: ${e.name}: ${e.message}`, { cause: err });
  }
  logger.error(`${stage} failed`, err as Error);
  return err;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'SlowDown', 'ProvisionedThroughputExceededException']);

/** Network failures the SDK's own retries did not get past (a reset connection, a timeout): worth another attempt. */
const NETWORK_ERROR_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'NetworkingError']);
const NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== 'object') return false;
  if (e.name && THROTTLING.has(e.name)) return true;
  if (e.name && NETWORK_ERROR_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}
