import { Duration } from 'aws-cdk-lib';

/** The thirteen stage Lambdas of a retrain: one folder under lambdas/ each (`lambdas/<id>/handler.ts`). */
export const STAGE_IDS = [
  'ingest',
  'shard-statistics',
  'validate-data',
  'start-training',
  'check-training',
  'evaluate',
  'package-model',
  'register',
  'deploy',
  'check-endpoint',
  'verify-serving',
  'promote-baseline',
  'notify',
] as const;

export type StageId = (typeof STAGE_IDS)[number];

/**
 * The rollback state machine's own Lambdas (lib/constructs/rollback-state-machine.ts). Its other states reuse the
 * retrain's Deploy, CheckEndpoint, VerifyServing and Notify functions, roles included.
 */
export const ROLLBACK_STAGE_IDS = ['resolve-rollback', 'restore-champion'] as const;
export type RollbackStageId = (typeof ROLLBACK_STAGE_IDS)[number];

/** Every stage function of the pipeline stack: one per folder under lambdas/ (the abort cleanup has its own construct). */
export const FUNCTION_IDS = [...STAGE_IDS, ...ROLLBACK_STAGE_IDS] as const;
export type FunctionId = (typeof FUNCTION_IDS)[number];

export interface StageSizing {
  /** Lambda memory in MB (CPU scales with it). */
  readonly memoryMb: number;
  /** Lambda timeout; the state machine's TaskTimeout is this plus a margin. */
  readonly timeout: Duration;
}

/**
 * Memory and timeout per stage. The data stages (Ingest, statistics shards, ValidateData, Evaluate) stream
 * whole files and keep sketches in memory; the SageMaker/SNS stages only make a few API calls.
 */
export const STAGE_SIZING: Readonly<Record<FunctionId, StageSizing>> = {
  ingest: { memoryMb: 2048, timeout: Duration.minutes(15) },
  'shard-statistics': { memoryMb: 2048, timeout: Duration.minutes(15) },
  'validate-data': { memoryMb: 1024, timeout: Duration.minutes(5) },
  'start-training': { memoryMb: 256, timeout: Duration.minutes(1) },
  'check-training': { memoryMb: 256, timeout: Duration.minutes(1) },
  evaluate: { memoryMb: 2048, timeout: Duration.minutes(10) },
  // Streams the model archive through gunzip/gzip (CPU grows with memory); 15 minutes covers tens of GB.
  'package-model': { memoryMb: 1024, timeout: Duration.minutes(15) },
  register: { memoryMb: 256, timeout: Duration.minutes(1) },
  deploy: { memoryMb: 256, timeout: Duration.minutes(2) },
  'check-endpoint': { memoryMb: 256, timeout: Duration.minutes(1) },
  'verify-serving': { memoryMb: 512, timeout: Duration.minutes(5) },
  'promote-baseline': { memoryMb: 256, timeout: Duration.minutes(1) },
  notify: { memoryMb: 256, timeout: Duration.minutes(2) },
  'resolve-rollback': { memoryMb: 256, timeout: Duration.minutes(1) },
  'restore-champion': { memoryMb: 256, timeout: Duration.minutes(1) },
};

/** PascalCase construct id of a stage's function (e.g. `shard-statistics` -> `ShardStatistics`). */
export function stageConstructId(id: FunctionId): string {
  return id
    .split('-')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}
