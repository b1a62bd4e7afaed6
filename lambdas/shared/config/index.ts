import * as z from 'zod';
import { checkDatasetAgainstProblemType, DatasetConfigSchema } from './dataset';
import { DeploymentConfigSchema } from './deployment';
import { EvaluationConfigSchema } from './evaluation';
import { MonitoringConfigSchema } from './monitoring';
import { defaultMetricDefinitions, TrainingConfigSchema } from './training';
import { TriggerConfigSchema } from './trigger';
import { ValidationConfigSchema } from './validation';
import { pollingProblems } from '../polling';

export * from './dataset';
export * from './deployment';
export * from './evaluation';
export * from './monitoring';
export * from './training';
export * from './trigger';
export * from './validation';

/**
 * relearn's one configuration type. The CDK app (bin/), the Lambdas (through RELEARN_CONFIG) and
 * local mode all parse it with this schema; every field is documented in docs/configuration.md.
 */
export const RelearnConfigSchema = z
  .object({
    /** Prefix of every named resource (state machine, model package group, endpoint, jobs). */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and hyphens, starting with a letter, at most 20').default('relearn'),
    dataset: DatasetConfigSchema.default(DatasetConfigSchema.parse({})),
    validation: ValidationConfigSchema.default(ValidationConfigSchema.parse({})),
    training: TrainingConfigSchema.default(TrainingConfigSchema.parse({})),
    evaluation: EvaluationConfigSchema.default(EvaluationConfigSchema.parse({})),
    deployment: DeploymentConfigSchema.default(DeploymentConfigSchema.parse({})),
    trigger: TriggerConfigSchema.default(TriggerConfigSchema.parse({})),
    monitoring: MonitoringConfigSchema.default(MonitoringConfigSchema.parse({})),
    notifications: z
      .object({
        /** E-mail addresses subscribed to the outcome topic (each must confirm). */
        emails: z.array(z.string().email()).default([]),
      })
      .strict()
      .default({ emails: [] }),
    /** `retain` keeps buckets, key and registry on `cdk destroy`; `destroy` is for throw-away dev stacks. */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  })
  .strict()
  .superRefine((c, ctx) => checkDatasetAgainstProblemType(c.dataset, c.evaluation.problemType, ctx))
  // The polling of the longest legal run must stay well inside Step Functions' history limit (lambdas/shared/polling.ts).
  .superRefine((c, ctx) => pollingProblems(c).forEach((p) => ctx.addIssue({ code: 'custom', path: p.path, message: p.message })))
  // defaults that depend on another section
  .transform((c) => ({
    ...c,
    training: { ...c.training, metricDefinitions: c.training.metricDefinitions ?? defaultMetricDefinitions(c.evaluation.problemType) },
  }));

export type RelearnConfig = z.infer<typeof RelearnConfigSchema>;
export type RelearnConfigInput = z.input<typeof RelearnConfigSchema>;

/** A configuration that did not parse: one line per bad field, each naming the field. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    super(`Invalid relearn configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses and defaults a configuration, or throws ConfigError listing every bad field. */
export function parseConfig(input: unknown, source = 'config'): RelearnConfig {
  const result = RelearnConfigSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(root)';
    return `${field}: ${issue.message}`;
  });
  throw new ConfigError(problems, source);
}

/** The endpoint a pipeline serves from. */
export function endpointNameOf(config: RelearnConfig): string {
  return config.deployment.endpointName ?? `${config.name}-endpoint`;
}
