import type { ResolvedPipeline } from './asl/assembly';
import type { LocalServices } from './local-env';
import { defaultExecutionName, LocalExecutionOptions, LocalExecutionResult, runLocalExecution } from './runner';

/**
 * One execution of the pipeline, started through the local Step Functions API (StartExecution's rules on the name
 * and the input apply) and recorded there, so that a stage may read its own execution as in the cloud (Notify reads
 * the history for the run's cost) and `relearn local status` lists it. Resolves when it has ended.
 */
export async function runExecution(services: Pick<LocalServices, 'stepFunctions'>, pipeline: ResolvedPipeline, opts: Omit<LocalExecutionOptions, 'pipeline'>): Promise<LocalExecutionResult> {
  const sfn = services.stepFunctions.sfn;
  let result: LocalExecutionResult | undefined;
  sfn.register(pipeline.stateMachine.arn, async (run) => {
    result = await runLocalExecution({
      ...opts,
      pipeline,
      executionName: run.executionName,
      input: run.input,
      signal: opts.signal ? AbortSignal.any([opts.signal, run.signal]) : run.signal,
      onEvent: (e) => {
        run.onEvent(e);
        opts.onEvent?.(e);
      },
      onInvoke: (i) => {
        run.onInvoke(i);
        opts.onInvoke?.(i);
      },
    });
    return { status: result.status, ...(result.output !== undefined ? { output: result.output } : {}), ...(result.error ? { error: result.error } : {}) };
  });
  const execution = sfn.start(pipeline.stateMachine.arn, opts.executionName ?? defaultExecutionName(), JSON.stringify(opts.input ?? {}));
  await execution.done;
  if (!result) throw new Error(`execution ${execution.name} ended without a result (${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''})`);
  return result;
}
