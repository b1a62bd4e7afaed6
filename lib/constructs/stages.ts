import { Duration } from 'aws-cdk-lib';

/** The twelve stage Lambdas: one folder under lambdas/ each (`lambdas/<id>/handler.ts`). */
export const STAGE_IDS = [
  'ingest',
  'shard-statistics',
  'validate-data',
  'start-training',
  'check-training',
  'evaluate',
  'register',
  'deploy',
  'check-endpoint',
  'verify-serving',
  'promote-baseline',
  'notify',
] as const;

export type StageId = (typeof STAGE_IDS)[number];

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
export const STAGE_SIZING: Readonly<Record<StageId, StageSizing>> = {
  ingest: { memoryMb: 2048, timeout: Duration.minutes(15) },
  'shard-statistics': { memoryMb: 2048, timeout: Duration.minutes(15) },
  'validate-data': { memoryMb: 1024, timeout: Duration.minutes(5) },
  'start-training': { memoryMb: 256, timeout: Duration.minutes(1) },
  'check-training': { memoryMb: 256, timeout: Duration.minutes(1) },
  evaluate: { memoryMb: 2048, timeout: Duration.minutes(10) },
  register: { memoryMb: 256, timeout: Duration.minutes(1) },
  deploy: { memoryMb: 256, timeout: Duration.minutes(2) },
  'check-endpoint': { memoryMb: 256, timeout: Duration.minutes(1) },
  'verify-serving': { memoryMb: 512, timeout: Duration.minutes(5) },
  'promote-baseline': { memoryMb: 256, timeout: Duration.minutes(1) },
  notify: { memoryMb: 256, timeout: Duration.minutes(2) },
};

/** PascalCase construct id of a stage's function (e.g. `shard-statistics` -> `ShardStatistics`). */
export function stageConstructId(id: StageId): string {
  return id
    .split('-')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}
