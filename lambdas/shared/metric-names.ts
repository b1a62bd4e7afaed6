/**
 * relearn's own CloudWatch metrics (Powertools EMF, lambdas/shared/telemetry.ts): names only, so the CDK app (the
 * dashboard, lib/constructs/dashboard.ts) reads them without loading the Powertools runtime.
 */
export const METRICS_NAMESPACE = 'relearn';

/** Metric names: a contract with the dashboard and the alarms. */
export const METRIC = {
  /** Milliseconds a stage's handler ran (dimension `stage`). */
  stageDuration: 'StageDuration',
  /** A stage that ended in an error (dimension `stage`). */
  stageFailed: 'StageFailed',
  /** Seconds a completed training job trained (SageMaker's TrainingTimeInSeconds). */
  trainingSeconds: 'TrainingSeconds',
  /** Anomalies ValidateData found (dimension `rule`). */
  validationAnomalies: 'ValidationAnomalies',
  /** Messages the trigger received, and runs it started. */
  triggerMessages: 'TriggerMessages',
  triggerRunsStarted: 'TriggerRunsStarted',
  /** The orchestration cost of a run in USD (state transitions + Lambda), from Notify. */
  runOrchestrationCost: 'RunOrchestrationCostUSD',
  runTotalCost: 'RunTotalCostUSD',
} as const;
