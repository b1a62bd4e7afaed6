import * as z from 'zod';
import { InvalidStageInput, RelearnError, TransientError } from './errors';
import { loadEnv, LambdaEnv } from './env';
import { logger } from './logger';
import { StageEvent, StageEventSchema } from './contracts';

/**
 * Wraps a stage's core as a Lambda handler: parses `{ executionName, state }` with zod, loads the
 * environment, logs start/end, and maps errors to the names the state machine matches on:
 * our RelearnErrors keep their names; throttling and 5xx AWS errors become TransientError (retried);
 * anything else propagates as it is (caught by the Catch -> NotifyFailure).
 */
export function stageHandler<R>(stage: string, fn: (event: StageEvent, env: LambdaEnv) => Promise<R>) {
  return async (raw: unknown): Promise<R> => {
    const parsed = StageEventSchema.safeParse(raw);
    if (!parsed.success) {
      throw new InvalidStageInput(`${stage}: invalid input: ${z.prettifyError(parsed.error)}`);
    }
    const env = loadEnv();
    logger.appendKeys({ stage, executionName: parsed.data.executionName });
    const started = Date.now();
    try {
      const result = await fn(parsed.data, env);
      logger.info(`${stage} done`, { ms: Date.now() - started });
      return result;
    } catch (err) {
      throw mapError(stage, err);
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

export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== 'object') return false;
  if (e.name && THROTTLING.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}
