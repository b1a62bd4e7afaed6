/** relearn's CDK API for platform teams: the stacks, the construct, and the app builder. */
export { buildRelearnApp, DATA_STACK_ID, PIPELINE_STACK_ID } from './app';
export type { BuildRelearnAppOptions } from './app';
export { loadConfigFile } from './config-file';
export { DataStack } from './data-stack';
export type { DataStackProps } from './data-stack';
export { PipelineStack } from './pipeline-stack';
export type { PipelineStackProps } from './pipeline-stack';
export { RetrainingPipeline, STAGE_S3_ACCESS, checkEnvironmentSize } from './constructs/retraining-pipeline';
export type { RetrainingPipelineProps } from './constructs/retraining-pipeline';
export { RetrainingStateMachine, STATE_NAMES, RETRIED_ERRORS, TASK_RETRY } from './constructs/retraining-state-machine';
export type { RetrainingStateMachineProps } from './constructs/retraining-state-machine';
export { STAGE_IDS, STAGE_SIZING } from './constructs/stages';
export type { StageId } from './constructs/stages';
export { REVIEWED_FINDINGS, acknowledgeReviewedFindings } from './nag-acknowledgements';
export type { ReviewedFinding } from './nag-acknowledgements';
export { parseConfig, ConfigError } from '../lambdas/shared/config';
export type { RelearnConfig, RelearnConfigInput } from '../lambdas/shared/config';
