/** Faults the local SageMaker server injects on demand (tests and `relearn local` use them). */
export interface LocalFaults {
  /** The next training job really starts its script, then fails with this FailureReason. One-shot. */
  readonly failTraining?: string;
  /** The next endpoint create/update fails to load its model (the reason appears in FailureReason). One-shot. */
  readonly failEndpointUpdate?: string;
  /**
   * The next managed spot training job (EnableManagedSpotTraining with a CheckpointConfig) is interrupted once its
   * script has written a checkpoint: the checkpoints are uploaded, the script is restarted on a "new instance"
   * after they were downloaded again, as SageMaker resumes a spot job. One-shot; left pending for a non-spot job.
   */
  readonly spotInterruption?: boolean;
  /**
   * The next endpoint create/update stays Creating/Updating this many milliseconds before its instance starts: an
   * update in flight that other calls meet (Deploy's and a rollback's refusals). One-shot.
   */
  readonly holdEndpointUpdateMs?: number;
  /** Every control-plane answer is delayed by this many milliseconds. Stays until changed. */
  readonly delayMs?: number;
  /**
   * The next this many control-plane calls are throttled as SageMaker throttles them: HTTP 400,
   * `__type` ThrottlingException, "Rate exceeded" (the SDK retries these itself, with its throttling backoff).
   * Counts down by one per throttled call; at 0 calls are answered normally again. Every operation counts
   * except CreateModelPackageGroup, which only the stand-in for `cdk deploy` calls (local-env's provision),
   * so that the fault reaches the pipeline's handlers rather than its set-up. Checked after `delayMs`.
   */
  readonly throttle?: number;
}

interface EventBase {
  /** Epoch milliseconds. */
  readonly time: number;
}

/** The server's progress stream (`onEvent`). */
export type LocalSageMakerEvent = EventBase &
  (
    | { readonly kind: 'training-status'; readonly job: string; readonly status: string; readonly secondaryStatus: string; readonly message?: string; readonly failureReason?: string }
    | { readonly kind: 'training-log'; readonly job: string; readonly stream: 'stdout' | 'stderr'; readonly line: string }
    | { readonly kind: 'training-metric'; readonly job: string; readonly name: string; readonly value: number }
    | { readonly kind: 'endpoint-status'; readonly endpoint: string; readonly status: string; readonly endpointConfigName: string; readonly failureReason?: string }
    | { readonly kind: 'serving-log'; readonly endpoint: string; readonly line: string }
    | { readonly kind: 'notification'; readonly topicArn: string; readonly messageId: string; readonly subject?: string; readonly message: string }
  );

/** What one `onEvent` call receives, without the timestamp (added by the server). */
export type EventInput = LocalSageMakerEvent extends infer E ? (E extends EventBase ? Omit<E, 'time'> : never) : never;

export type Emit = (e: EventInput) => void;

/** Epoch seconds, as the SageMaker JSON 1.1 protocol sends timestamps. */
export const nowSeconds = (): number => Date.now() / 1000;

export const ACCOUNT = '000000000000';
export const region = (): string => process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
export const arn = (kind: string, name: string): string => `arn:aws:sagemaker:${region()}:${ACCOUNT}:${kind}/${name.toLowerCase()}`;

/** SageMaker evaluates MetricDefinitions with Python-style regexes: `(?P<name>...)` becomes JS's `(?<name>...)`. */
export const toJsRegex = (re: string): string => re.replace(/\(\?P</g, '(?<');
