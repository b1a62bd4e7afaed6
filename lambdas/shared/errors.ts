/**
 * Error names are the contract with the state machine's Retry/Catch (see lib/constructs/retraining-state-machine.ts).
 * A handler throws one of these; Step Functions matches on `name`. Keep them few and named for what happened.
 */
export abstract class RelearnError extends Error {
  /**
   * Spelled out in each subclass, never derived from the class name: the Lambda bundles are minified,
   * and a minified class name would silently break every Retry/Catch that matches on it.
   */
  abstract override readonly name: string;
}

/** The trigger named nothing to ingest (no objects, or only markers). Not retried. */
export class NoNewData extends RelearnError {
  override readonly name = 'NoNewData';
}
/** Source data could not be read or split (unreadable object, parse error naming file and line). */
export class IngestError extends RelearnError {
  override readonly name = 'IngestError';
}
/** Blocking anomalies in the dataset; the message lists them. Nothing trains. */
export class DataValidationFailed extends RelearnError {
  override readonly name = 'DataValidationFailed';
}
/** The SageMaker training job failed or was stopped; the message carries SageMaker's FailureReason. */
export class TrainingFailed extends RelearnError {
  override readonly name = 'TrainingFailed';
}
/** The endpoint could not be created or updated. */
export class DeploymentFailed extends RelearnError {
  override readonly name = 'DeploymentFailed';
}
/** SageMaker rolled the endpoint back to the previous config: the live model is unchanged. */
export class DeploymentRolledBack extends RelearnError {
  override readonly name = 'DeploymentRolledBack';
}
/** The endpoint does not serve what the offline predictions say; it was rolled back. */
export class ServingSkew extends RelearnError {
  override readonly name = 'ServingSkew';
}
/**
 * A rollback that must not happen now or at all: an endpoint update in flight, no previous champion, a target that
 * is not an approved, self-contained model or whose baselines are gone. Nothing was changed.
 */
export class RollbackRefused extends RelearnError {
  override readonly name = 'RollbackRefused';
}
/** The state handed to a handler does not have the shape it needs (a bug or a hand-started execution). */
export class InvalidStageInput extends RelearnError {
  override readonly name = 'InvalidStageInput';
}
/** A throttled or 5xx AWS call: retried by the state machine with backoff and jitter. */
export class TransientError extends RelearnError {
  override readonly name = 'TransientError';
}

/** Every error name the state machine retries (besides Lambda's own service exceptions). */
export const RETRYABLE_ERRORS = ['TransientError'] as const;
