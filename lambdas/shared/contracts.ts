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
  /** Each part has a line map (its rows' source objects and lines): messages point at the user's files. */
  lineMaps: z.boolean().optional(),
  /** What a person should know about the snapshot, e.g. a class too rare for both splits (at most 10; all in the manifest). */
  warnings: z.array(z.string()).optional(),
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
  /** The candidate's metrics in SageMaker's model-quality format (the model package's ModelMetrics), when written. */
  modelQualityUri: s3Uri.optional(),
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

/**
 * PackageModel -> `$.model`: the self-contained model archive (the job's model.tar.gz with the serving code under
 * `code/`) and the container that serves it. Register registers exactly this; Deploy and rollbacks deploy it.
 */
export const ModelRefSchema = z.object({
  /** s3://artifacts/runs/<exec>/model/model.tar.gz */
  modelDataUri: s3Uri,
  /** The training job's own model.tar.gz it was built from. */
  trainingModelDataUri: s3Uri,
  /** The packaged source directory that went into `code/` (the one the job trained with). */
  codeUri: s3Uri,
  /** sha256 (hex) and size of the archive. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int(),
  /** s3://artifacts/runs/<exec>/model/manifest.json: the model's record (ModelManifestSchema). */
  manifestUri: s3Uri,
});
export type ModelRef = z.infer<typeof ModelRefSchema>;

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
export const ChampionRefSchema = z.object({
  championUri: s3Uri,
  /** RestoreChampion (rollback): what the model registry records, one line per package. */
  registry: z.array(z.string()).optional(),
});

/** What a Catch stores at `$.error`. */
export const CaughtErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

/**
 * A rollback execution's own key (`$.rollback`, the rollback state machine of docs/architecture.md). The input
 * carries `request`; ResolveRollback adds the target and the champion it replaces.
 */
export const RollbackRefSchema = z.object({
  /** What was asked: `to` an execution name or a model package ARN; absent = the previous champion. */
  request: z.object({ to: z.string().min(1).optional() }),
  target: z
    .object({
      executionName: z.string(),
      modelPackageArn: z.string(),
      manifestUri: s3Uri,
      /** For VerifyServing: the target's validation split and the predictions its job made offline. */
      validationUri: s3Uri,
      outputDataUri: s3Uri,
      /** The target's own schema (its classes, in its order): how VerifyServing reads its predictions. */
      schemaUri: s3Uri.optional(),
    })
    .optional(),
  /** The champion being replaced (absent when there is no champion record). */
  from: z.object({ executionName: z.string(), modelPackageArn: z.string(), endpointConfigName: z.string() }).optional(),
});
export type RollbackRef = z.infer<typeof RollbackRefSchema>;

export const PipelineStateSchema = z.object({
  /** A retrain's input (absent in a rollback execution, which starts from `rollback`). */
  source: SourceSchema.optional(),
  /** Why the trigger started this run, in words (absent for runs started by data, a marker, the schedule or by hand). */
  trigger: RunTriggerSchema.optional(),
  rollback: RollbackRefSchema.optional(),
  dataset: DatasetRefSchema.optional(),
  validation: ValidationRefSchema.optional(),
  training: TrainingRefSchema.optional(),
  evaluation: EvaluationRefSchema.optional(),
  model: ModelRefSchema.optional(),
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
  /**
   * `$$.Execution.StartTime`: with the name, what tells this execution from an earlier one of the same name
   * (Step Functions lets a name be used again 90 days after). Stages that create or stop SageMaker resources tag
   * and check with it (lambdas/shared/sagemaker.ts, ExecutionIdentity).
   */
  executionStartTime: z.string().min(1).optional(),
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
  /** Set when a rollback made this model the champion again (promotedAt is then the time of the rollback). */
  restored: z.object({ at: z.string(), by: z.string(), replacedExecutionName: z.string().optional() }).optional(),
  /** Set on a history record when a rollback took this champion off the endpoint: never a default rollback target. */
  rolledBack: z.object({ at: z.string(), by: z.string(), restoredExecutionName: z.string() }).optional(),
});
export type ChampionRecord = z.infer<typeof ChampionRecordSchema>;

/** The container that serves a self-contained model (SageMaker's ContainerDefinition, the fields relearn sets). */
export const ServingContainerSchema = z.object({
  Image: z.string().min(1),
  ModelDataUrl: s3Uri,
  Environment: z.record(z.string(), z.string()),
});
export type ServingContainer = z.infer<typeof ServingContainerSchema>;

/**
 * runs/<exec>/model/manifest.json, written by PackageModel next to the archive: everything needed to deploy the
 * model again later and to make it the champion (its baselines), without the run's state. Rollbacks read it.
 */
export const ModelManifestSchema = z.object({
  executionName: z.string(),
  createdAt: z.string(),
  container: ServingContainerSchema,
  model: ModelRefSchema,
  entryPoint: z.string(),
  trainingJobName: z.string(),
  /** The job's output.tar.gz (predictions.jsonl): what VerifyServing compares the endpoint's answers with. */
  outputDataUri: s3Uri,
  dataset: z.object({ datasetId: z.string(), uri: s3Uri, validationUri: s3Uri }),
  statsUri: s3Uri,
  schemaUri: s3Uri,
  evaluationUri: s3Uri,
  primaryMetric: z.object({ name: z.string(), value: z.number().nullable() }),
});
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** The keys of the S3 layout (docs/architecture.md). One place, so no stage spells a path on its own. */
export const Layout = {
  incomingPrefix: 'incoming/',
  dataset: (datasetId: string) => `datasets/${datasetId}/`,
  run: (executionName: string) => `runs/${executionName}/`,
  validation: (executionName: string) => `runs/${executionName}/validation/`,
  training: (executionName: string) => `runs/${executionName}/training/`,
  evaluation: (executionName: string) => `runs/${executionName}/evaluation/`,
  decision: (executionName: string) => `runs/${executionName}/decision.json`,
  /** PackageModel's output: the self-contained model.tar.gz and its manifest.json. */
  model: (executionName: string) => `runs/${executionName}/model/`,
  champion: 'champion/current.json',
  code: 'code/',
  /** The trigger's single-flight state (lambdas/trigger). */
  triggerState: 'trigger/state.json',
  /** The manifest a run consumes. */
  runManifest: (executionName: string) => `trigger/manifests/${executionName}.json`,
} as const;
