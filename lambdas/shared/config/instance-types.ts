import * as z from 'zod';
import { HOSTING_INSTANCE_TYPES, SAGEMAKER_API_SOURCE, TRAINING_INSTANCE_TYPES } from '../sagemaker-api.generated';

/**
 * Instance types as SageMaker's API model enumerates them, for training jobs (TrainingInstanceType) and for
 * endpoints (ProductionVariantInstanceType) separately: `ml.m5d.xlarge` hosts an endpoint but cannot train, and
 * `ml.t2.medium` is for endpoints only. The lists come from the pinned service model
 * (lambdas/shared/sagemaker-api.generated.ts); a type launched after it is refused until the lists are regenerated.
 */
const KINDS = {
  training: { values: new Set(TRAINING_INSTANCE_TYPES), shape: 'TrainingInstanceType', other: new Set(HOSTING_INSTANCE_TYPES), otherUse: 'endpoints (deployment.instanceType)' },
  hosting: { values: new Set(HOSTING_INSTANCE_TYPES), shape: 'ProductionVariantInstanceType', other: new Set(TRAINING_INSTANCE_TYPES), otherUse: 'training (training.instanceType)' },
} as const;

/** The message for a type SageMaker does not accept here, naming what would be accepted. */
export function instanceTypeProblem(kind: keyof typeof KINDS, value: string): string | undefined {
  const k = KINDS[kind];
  if (k.values.has(value)) return undefined;
  const source = `SageMaker's ${k.shape} in ${SAGEMAKER_API_SOURCE.package} ${SAGEMAKER_API_SOURCE.version}'s service model`;
  const family = value.split('.').slice(0, 2).join('.');
  const sameFamily = [...k.values].filter((v) => v.startsWith(`${family}.`));
  const hint = k.other.has(value)
    ? ` (it is a type for ${k.otherUse} only)`
    : sameFamily.length
      ? ` (this family offers ${sameFamily.join(', ')})`
      : '';
  return `must be one of ${source}, but got '${value}'${hint}`;
}

/** A zod string that must be an instance type of `kind`. */
export const instanceTypeSchema = (kind: keyof typeof KINDS) =>
  z.string().superRefine((value, ctx) => {
    const problem = instanceTypeProblem(kind, value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
