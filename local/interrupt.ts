import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { readDeploymentRecord, rollBackEndpoint } from '../lambdas/deploy/endpoint';
import { Layout } from '../lambdas/shared/contracts';
import { getJsonIfExists } from '../lambdas/shared/s3';
import type { ResolvedPipeline } from './asl/assembly';
import { LambdaHost, LambdaHostOptions, parseCause } from './lambda-host';

/**
 * What happens after an interrupted (aborted) execution, before the local services stop, so that the pipeline is
 * left as it was before the run or as a cleanly failed run (issue 13):
 *
 * 1. What the cloud does: EventBridge delivers "Step Functions Execution Status Change" (ABORTED) to the functions
 *    the template subscribes to it (lib/constructs/abort-cleanup.ts): they stop the run's training job and say so.
 *    Local mode has no EventBridge, so it invokes those functions itself, with that event.
 * 2. What local mode adds: an endpoint left on this run's unpromoted model goes back to what served before (the
 *    cloud's message asks the operator to check it; locally the run is the operator). The deployment record
 *    (runs/<exec>/deployment.json) says what Deploy did; an update still in progress is waited for first, then
 *    undone with the same rollBackEndpoint NotifyFailure uses.
 */

export interface InterruptCleanupContext {
  readonly pipeline: ResolvedPipeline;
  /** What every local Lambda gets (endpoint variables, region, log level). */
  readonly env: Readonly<Record<string, string>>;
  /** Each function's own role credentials (see LambdaHostOptions.credentialsFor). */
  readonly credentialsFor?: LambdaHostOptions['credentialsFor'];
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  readonly artifactsBucket: string;
  readonly executionName: string;
  readonly startedAt: string;
  /** How long an endpoint update in progress may take to end before it is left as it is. @default 180000 */
  readonly endpointWaitMs?: number;
}

/** One line per thing done (or left, and why). */
export async function cleanUpInterruptedRun(ctx: InterruptCleanupContext): Promise<string[]> {
  const done: string[] = [];
  // 1. The template's own clean-up of an aborted execution.
  const { region, accountId, partition } = ctx.pipeline.account;
  const executionArn = `arn:${partition}:states:${region}:${accountId}:execution:${ctx.pipeline.stateMachine.name}:${ctx.executionName}`;
  for (const target of ctx.pipeline.statusChangeTargets) {
    if (!target.statuses.includes('ABORTED')) continue;
    const fn = ctx.pipeline.functions[target.arn];
    const event = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: accountId,
      time: new Date().toISOString(),
      region,
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: ctx.pipeline.stateMachine.arn,
        name: ctx.executionName,
        status: 'ABORTED',
        startDate: Date.parse(ctx.startedAt),
        stopDate: Date.now(),
        input: null,
        output: null,
        error: null,
        cause: null,
      },
    };
    const host = new LambdaHost({ env: ctx.env, ...(ctx.credentialsFor ? { credentialsFor: ctx.credentialsFor } : {}) });
    try {
      const result = (await host.invoke(fn, event)) as { training?: { detail?: string } } | null;
      done.push(`${fn.logicalId}: ${result?.training?.detail ?? 'ran'}`);
    } catch (err) {
      done.push(`${fn.logicalId} failed: ${parseCause((err as Error).message).errorMessage}`);
    } finally {
      host.restoreEnv();
    }
  }
  // 2. The endpoint, unless this run made it to the champion.
  try {
    const champion = await getJsonIfExists<{ executionName?: string }>(ctx.s3, ctx.artifactsBucket, Layout.champion);
    const record = await readDeploymentRecord(ctx.s3, ctx.artifactsBucket, ctx.executionName);
    if (record && champion?.executionName !== ctx.executionName) {
      await settled(ctx.sagemaker, record.endpointName, ctx.endpointWaitMs ?? 180000);
      const result = await rollBackEndpoint(ctx.sagemaker, record);
      if (result.action === 'updated') await settled(ctx.sagemaker, record.endpointName, ctx.endpointWaitMs ?? 180000);
      done.push(result.detail);
    }
  } catch (err) {
    done.push(`could not check the endpoint for a rollback (${(err as Error).name}: ${(err as Error).message})`);
  }
  return done;
}

/** Waits while the endpoint is Creating or Updating (bounded), so what is decided next sees where it ended. */
async function settled(sagemaker: SageMakerClient, endpointName: string, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    let status: string | undefined;
    try {
      status = (await sagemaker.send(new DescribeEndpointCommand({ EndpointName: endpointName }))).EndpointStatus;
    } catch {
      return; // gone: nothing to wait for
    }
    if (status !== 'Creating' && status !== 'Updating' && status !== 'SystemUpdating') return;
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
