import * as z from 'zod';

/**
 * The state that flows through one execution. Each stage's result is stored under its own key
 * (ResultPath `$.<key>`), so the state stays small: S3 URIs and short summaries, never data.
 * Every Lambda task is invoked with `{ executionName, state }` (see StageEvent).
 */

const s3Uri = z.string().regex(/^s3:\/\/[^/]+\/.*/, 'an s3:// URI');

/**
 * Execution input: what arrived. A run manifest (what the trigger starts: exactly the objects it lists), explicit
 * keys, or a prefix to list (a start by hand).
 */
export const SourceSchema = z
  .object({
    bucket: z.string().min(1),
    keys: z.array(z.string().min(1)).optional(),
    prefix: z.string().optional(),
    /** s3:// URI of a RunManifest (trigger/manifests/<executionName>.json in the artifacts bucket). */
    manifest: s3Uri.optional(),
  })
  .refine((s) => (s.keys && s.keys.length > 0) || s.prefix !== undefined || s.manifest !== undefined, 'source needs a manifest, keys or a prefix');
export type Source = z.infer<typeof SourceSchema>;

/** Why the trigger started a run (RunManifest.reason). */
export const RUN_REASONS = ['data', 'marker', 'schedule', 'start', 'drift'] as const;
/** The longest reason in words a run carries (the execution input stays small). */
export const RUN_BECAUSE_MAX = 500;

/**
 * What started the run, when the trigger was asked with a reason in words (execution input `trigger`; Evaluate copies
 * it into decision.json): e.g. `{ "reason": "drift", "because": "drift in production traffic, window ...: ..." }`.
 */
export const RunTriggerSchema = z.object({ reason: z.enum(RUN_REASONS), because: z.string().max(RUN_BECAUSE_MAX) });
export type RunTrigger = z.infer<typeof RunTriggerSchema>;

/** One object a run takes, pinned to the version the trigger saw. */
export const ManifestObjectSchema = z
  .object({
    key: z.string().min(1),
    /** Absent when the bucket is not versioned (local mode's S3). */
    versionId: z.string().min(1).optional(),
    size: z.number().int().min(0),
    etag: z.string().min(1),
  })
  .strict();
export type ManifestObject = z.infer<typeof ManifestObjectSchema>;

/**
 * What one run consumes (trigger/manifests/<executionName>.json): exactly these objects, each once. The trigger
 * writes it before it starts the execution; the execution's name derives from its content.
 */
export const RunManifestSchema = z
  .object({
    version: z.literal(1),
    executionName: z.string().min(1).max(80),
    /** Why the run started: data went quiet, a marker, the schedule, `relearn start`, or the monitor found drift. */
    reason: z.enum(RUN_REASONS),
    /** The reason in words, when the start came with one (the monitor's drift verdict). */
    because: z.string().max(RUN_BECAUSE_MAX).optional(),
    createdAt: z.string(),
    bucket: z.string().min(1),
    objects: z.array(ManifestObjectSchema).min(1),
  })
  .strict();
export type RunManifest = z.infer<typeof RunManifestSchema>;

/** Ingest -> `$.dataset` */
export const DatasetRefSchema = z.object({
  datasetId: z.string(),
  /** s3://artifacts/datasets/<id>/ */
  uri: s3Uri,
  trainUri: s3Uri,
  validationUri: s3Uri,
  manifestUri: s3Uri,
  /** Keys (in the artifacts bucket) of every part file, train and validation: the statistics shards. */
  parts: z.array(z.string()),
  rows: z.object({ train: z.number().int(), validation: z.number().int() }),
  columns: z.array(z.string()),
  /** True when this exact snapshot already existed (idempotent re-ingest). */
  reused: z.boolean(),
});
export type DatasetRef = z.infer<typeof DatasetRefSchema>;

/** ValidateData -> `$.validation` */
export const ValidationRefSchema = z.object({
  statsUri: s3Uri,
  schemaUri: s3Uri,
  anomaliesUri: s3Uri,
  blocking: z.number().int(),
  warnings: z.number().int(),
  /** One line, in words: what was checked and what it found. */
  summary: z.string(),
});
export type ValidationRef = z.infer<typeof ValidationRefSchema>;

/** StartTraining / CheckTraining -> `$.training` */
export const TrainingRefSchema = z.object({
  jobName: z.string(),
  /** SageMaker TrainingJobStatus */
  status: z.string(),
  secondaryStatus: z.string().optional(),
  /** True once Completed (CheckTraining throws TrainingFailed on Failed/Stopped). */
  done: z.boolean(),
  modelDataUri: s3Uri.optional(),
  /** s3://.../output/output.tar.gz holding predictions.jsonl */
  outputDataUri: s3Uri.optional(),
  /** The champion model the job also scored, when there was one. */
  championModelDataUri: s3Uri.optional(),
  finalMetrics: z.record(z.string(), z.number()).optional(),
  trainingSeconds: z.number().optional(),
  /** Seconds WaitForTraining waits before the next CheckTraining (its SecondsPath; lambdas/shared/polling.ts). */
  nextWaitSeconds: z.number().int().min(0).optional(),
});
export type TrainingRef = z.infer<typeof TrainingRefSchema>;

/** Evaluate -> `$.evaluation` */
export const EvaluationRefSchema = z.object({
  evaluationUri: s3Uri,
  reportUri: s3Uri,
  decisionUri: s3Uri,
  /** The gate's verdict: deploy only when true. */
  deploy: z.boolean(),
  reasons: z.array(z.string()),
  primaryMetric: z.object({
    name: z.string(),
    candidate: z.number().nullable(),
    champion: z.number().nullable().optional(),
  }),
});
export type EvaluationRef = z.infer<typeof EvaluationRefSchema>;

/** Register -> `$.registration` */
export const RegistrationRefSchema = z.object({
  modelPackageArn: z.string(),
  approvalStatus: z.enum(['Approved', 'PendingManualApproval', 'Rejected']),
  /** Blessed? reads this: true only for an Approved package. */
  promote: z.boolean(),
});
export type RegistrationRef = z.infer<typeof RegistrationRefSchema>;

/** Deploy / CheckEndpoint -> `$.deployment` */
export const DeploymentRefSchema = z.object({
  endpointName: z.string(),
  modelName: z.string(),
  endpointConfigName: z.string(),
  /** The config serving before this deploy (absent on first deploy): the rollback target. */
  previousEndpointConfigName: z.string().optional(),
  status: z.string(),
  done: z.boolean(),
  /** Seconds WaitForEndpoint waits before the next CheckEndpoint (its SecondsPath; lambdas/shared/polling.ts). */
  nextWaitSeconds: z.number().int().min(0).optional(),
  /** When CheckEndpoint's polling began (ISO time): the update's age sets the next wait. */
  pollingSince: z.string().optional(),
});
export type DeploymentRef = z.infer<typeof DeploymentRefSchema>;

/** VerifyServing -> `$.serving` */
export const ServingRefSchema = z.object({
  checkedRows: z.number().int(),
  maxAbsDifference: z.number(),
});
export type ServingRef = z.infer<typeof ServingRefSchema>;

/** PromoteBaseline -> `$.champion` */
export const ChampionRefSchema = z.object({ championUri: s3Uri });

/** What a Catch stores at `$.error`. */
export const CaughtErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

export const PipelineStateSchema = z.object({
  source: SourceSchema,
  /** Why the trigger started this run, in words (absent for runs started by data, a marker, the schedule or by hand). */
  trigger: RunTriggerSchema.optional(),
  dataset: DatasetRefSchema.optional(),
  validation: ValidationRefSchema.optional(),
  training: TrainingRefSchema.optional(),
  evaluation: EvaluationRefSchema.optional(),
  registration: RegistrationRefSchema.optional(),
  deployment: DeploymentRefSchema.optional(),
  serving: ServingRefSchema.optional(),
  champion: ChampionRefSchema.optional(),
  error: CaughtErrorSchema.optional(),
});
export type PipelineState = z.infer<typeof PipelineStateSchema>;

/** The payload every Lambda task receives. */
export const StageEventSchema = z.object({
  executionName: z.string().min(1),
  /** `$$.Execution.Id`: Notify reads the execution's history for its cost. Absent when a handler is called by hand. */
  executionArn: z.string().optional(),
  state: PipelineStateSchema,
  /** Inside a Map iteration: the item (e.g. the dataset part a statistics shard reads). */
  item: z.string().optional(),
});
export type StageEvent = z.infer<typeof StageEventSchema>;

/**
 * champion/current.json in the artifacts bucket: the serving model and the baselines that travel with it.
 */
export const ChampionRecordSchema = z.object({
  executionName: z.string(),
  promotedAt: z.string(),
  modelPackageArn: z.string(),
  modelName: z.string(),
  endpointName: z.string(),
  endpointConfigName: z.string(),
  modelDataUri: s3Uri,
  datasetId: z.string(),
  datasetUri: s3Uri,
  statsUri: s3Uri,
  schemaUri: s3Uri,
  evaluationUri: s3Uri,
  primaryMetric: z.object({ name: z.string(), value: z.number().nullable() }),
});
export type ChampionRecord = z.infer<typeof ChampionRecordSchema>;

/** The keys of the S3 layout (docs/architecture.md). One place, so no stage spells a path on its own. */
export const Layout = {
  incomingPrefix: 'incoming/',
  dataset: (datasetId: string) => `datasets/${datasetId}/`,
  run: (executionName: string) => `runs/${executionName}/`,
  validation: (executionName: string) => `runs/${executionName}/validation/`,
  training: (executionName: string) => `runs/${executionName}/training/`,
  evaluation: (executionName: string) => `runs/${executionName}/evaluation/`,
  decision: (executionName: string) => `runs/${executionName}/decision.json`,
  champion: 'champion/current.json',
  code: 'code/',
  /** The trigger's single-flight state (lambdas/trigger). */
  triggerState: 'trigger/state.json',
  /** The manifest a run consumes. */
  runManifest: (executionName: string) => `trigger/manifests/${executionName}.json`,
} as const;
