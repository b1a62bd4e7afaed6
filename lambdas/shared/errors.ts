/**
 * Error names are the contract with the state machine's Retry/Catch (see lib/constructs/retraining-state-machine.ts).
 * A handler throws one of these; Step Functions matches on `name`. Keep them few and named for what happened.
 */
export abstract class RelearnError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The trigger named nothing to ingest (no objects, or only markers). Not retried. */
export class NoNewData extends RelearnError {}
/** Source data could not be read or split (unreadable object, parse error naming file and line). */
export class IngestError extends RelearnError {}
/** Blocking anomalies in the dataset; the message lists them. Nothing trains. */
export class DataValidationFailed extends RelearnError {}
/** The SageMaker training job failed or was stopped; the message carries SageMaker's FailureReason. */
export class TrainingFailed extends RelearnError {}
/** The endpoint could not be created or updated. */
export class DeploymentFailed extends RelearnError {}
/** SageMaker rolled the endpoint back to the previous config: the live model is unchanged. */
export class DeploymentRolledBack extends RelearnError {}
/** The endpoint does not serve what the offline predictions say; it was rolled back. */
export class ServingSkew extends RelearnError {}
/** The state handed to a handler does not have the shape it needs (a bug or a hand-started execution). */
export class InvalidStageInput extends RelearnError {}
/** A throttled or 5xx AWS call: retried by the state machine with backoff and jitter. */
export class TransientError extends RelearnError {}

/** Every error name the state machine retries (besides Lambda's own service exceptions). */
export const RETRYABLE_ERRORS = ['TransientError'] as const;
