import * as z from 'zod';
import { loadEnv } from '../shared/env';
import { InvalidStageInput } from '../shared/errors';
import { cleanUpAbortedExecution, ExecutionStatusChangeSchema } from './core';

/**
 * Target of the EventBridge rule on this state machine's ABORTED / TIMED_OUT / FAILED executions
 * (lib/constructs/abort-cleanup.ts): parses the event, then stops the run's training job and says so.
 */
export const handler = async (raw: unknown) => {
  const parsed = ExecutionStatusChangeSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidStageInput(`CleanupAborted: not a Step Functions execution status change: ${z.prettifyError(parsed.error)}`);
  return cleanUpAbortedExecution(parsed.data, loadEnv());
};
