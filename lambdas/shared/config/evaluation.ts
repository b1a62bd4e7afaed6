import { z } from 'zod';

/** Champion vs challenger evaluation and the deployment gate. Owned by Evaluate/Register. */
export const EvaluationConfigSchema = z
  .object({
    problemType: z.enum(['binary_classification', 'regression']).default('binary_classification'),
    /** Metric that headlines the report and the no-regression gate. */
    primaryMetric: z.string().min(1).default('roc_auc'),
    /** Decision threshold on the candidate's score for classification metrics. */
    threshold: z.number().gt(0).lt(1).default(0.5),
    /** `auto`: a passing candidate is Approved and deployed; `manual`: it waits as PendingManualApproval. */
    approval: z.enum(['auto', 'manual']).default('auto'),
  })
  .strict();

export type EvaluationConfig = z.infer<typeof EvaluationConfigSchema>;
