import { z } from 'zod';

/**
 * Data validation: which anomalies block a run and the thresholds they use. Owned by ValidateData.
 * (The statistics engine and rule catalogue document every rule id in docs/configuration.md.)
 */
export const ValidationConfigSchema = z
  .object({
    /** Fewer rows than this in a new dataset blocks the run. */
    minRows: z.number().int().min(1).default(100),
  })
  .strict();

export type ValidationConfig = z.infer<typeof ValidationConfigSchema>;
