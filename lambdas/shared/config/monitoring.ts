import * as z from 'zod';
import { RULE_IDS, RuleId, SeveritySchema } from './validation';

/**
 * What the endpoint records of its traffic (SageMaker DataCaptureConfig, set by Deploy on every endpoint config).
 * Captured records land, KMS-encrypted, in the artifacts bucket under
 * `<prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl` (SageMaker's own layout).
 */
export const CaptureConfigSchema = z
  .object({
    /** Record requests and/or responses at all. Without capture the monitor has nothing to read. */
    enabled: z.boolean().default(true),
    /** Share of requests recorded, in percent (SageMaker InitialSamplingPercentage, 0-100). */
    samplingPercentage: z.number().int().min(0).max(100).default(20),
    /** Record the request bodies (the features the monitor checks). */
    request: z.boolean().default(true),
    /** Record the response bodies (the predictions the monitor checks). */
    response: z.boolean().default(true),
    /** Key prefix in the artifacts bucket (SageMaker DestinationS3Uri = s3://<artifacts>/<prefix without the last />). */
    prefix: z
      .string()
      .regex(/^[a-zA-Z0-9!_.*'()-]+(\/[a-zA-Z0-9!_.*'()-]+)*\/$/, "a key prefix ending in '/' (letters, digits and !_.*'()- between slashes), e.g. capture/")
      .default('capture/'),
  })
  .strict()
  .refine((c) => !c.enabled || c.request || c.response, { message: 'capture needs request or response (or enabled: false)', path: ['request'] });

/** Drift distances and thresholds; each one left out is the validation's (validation.drift). */
const DriftOverridesSchema = z
  .object({
    categoricalLinf: z.number().min(0).max(1).optional(),
    numericJs: z.number().min(0).max(1).optional(),
    meanShiftStd: z.number().gt(0).optional(),
    stdRatio: z.number().gt(1).optional(),
  })
  .strict();

/** Rules of validation that make no sense for traffic: row counts, duplicates, the label's rules, leakage. */
export const NOT_MONITORED_RULES: readonly RuleId[] = [
  'too_few_rows', 'row_count_change', 'duplicate_rows', 'label_leakage',
  // the label's rules: requests carry no label
  'label_missing', 'label_type', 'single_class', 'unexpected_class', 'missing_class', 'class_imbalance', 'rare_class',
];
/** Rules of validation that a monitoring window is checked with (docs/monitoring.md). */
export const MONITOR_RULE_IDS = RULE_IDS.filter((r) => !NOT_MONITORED_RULES.includes(r)) as unknown as readonly [RuleId, ...RuleId[]];
export type MonitorRuleId = (typeof MONITOR_RULE_IDS)[number];

/**
 * Production monitoring: data capture on the endpoint, and the monitor that compares a window of captured traffic
 * with the champion's baselines (its training statistics and schema, and its predictions on its validation rows).
 * Owned by Deploy (capture) and the monitor (lambdas/monitor).
 */
export const MonitoringConfigSchema = z
  .object({
    capture: CaptureConfigSchema.default(CaptureConfigSchema.parse({})),
    /**
     * How often the monitor runs on its own (an EventBridge Scheduler expression: `rate(1 hour)`, `cron(0 6 * * ? *)`),
     * or `off` (only on demand: `relearn local monitor`, or starting the monitor state machine by hand).
     */
    schedule: z
      .string()
      .regex(/^(off|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$/, 'off, rate(<n> minutes|hours|days) or cron(<6 fields>)')
      .default('rate(1 hour)'),
    /** The window a scheduled run checks: the last this many minutes before it starts. 5 minutes to 31 days. */
    windowMinutes: z.number().int().min(5).max(31 * 24 * 60).default(24 * 60),
    /** Fewer captured rows (request instances) than this in a window: the verdict is `insufficient_data`, nothing is compared. */
    minRows: z.number().int().min(1).default(200),
    /** Drift thresholds, overriding validation.drift one by one. @default - validation.drift */
    drift: DriftOverridesSchema.default({}),
    /** Severity per monitored rule (`off` silences it); the validation's `rules` and `columns` apply too. */
    rules: z.partialRecord(z.enum(MONITOR_RULE_IDS), SeveritySchema).default({}),
    /** Largest share of failed requests (4xx and 5xx of the endpoint's invocations) before the verdict says so. */
    maxFailedShare: z.number().min(0).max(1).default(0.01),
    /** Capture files per statistics shard (one Map iteration of the monitor each). */
    filesPerShard: z.number().int().min(1).max(10000).default(200),
    /**
     * Start a retrain (through the single-flight trigger) when this many features drift in one window, or the
     * prediction distribution drifts. @default - never
     */
    retrainOnDrift: z
      .object({
        enabled: z.boolean().default(false),
        /** Drifted features that start a retrain. */
        minDriftedFeatures: z.number().int().min(1).default(1),
        /** A drift of the prediction distribution alone also starts one. */
        onPredictionDrift: z.boolean().default(true),
      })
      .strict()
      .default({ enabled: false, minDriftedFeatures: 1, onPredictionDrift: true }),
  })
  .strict();

export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
export type CaptureConfig = z.infer<typeof CaptureConfigSchema>;
