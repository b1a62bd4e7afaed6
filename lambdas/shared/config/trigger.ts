import * as z from 'zod';

/**
 * EventBridge Scheduler expressions: `rate(<n> minute|minutes|hour|hours|day|days)` or `cron(<6 fields>)`.
 * (One-time `at(...)` schedules make no sense for a retrain.)
 */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((\S+ ){5}\S+\)$/;

export const ScheduleConfigSchema = z
  .object({
    /**
     * When the schedule fires: `rate(7 days)`, `cron(0 6 ? * MON *)` (EventBridge Scheduler syntax). On each tick the
     * objects that landed since the last run start a run now, without waiting out the quiet period; with nothing new,
     * nothing starts.
     */
    expression: z.string().refine((e) => RATE.test(e) || CRON.test(e), 'rate(<n> minutes|hours|days) or cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)'),
    /** Time zone of a cron expression (IANA name). @default UTC */
    timezone: z.string().min(1).default('UTC'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const m = RATE.exec(s.expression);
    if (m && Number(m[1]) < 1) ctx.addIssue({ code: 'custom', path: ['expression'], message: `a rate must be at least 1, but got ${m[1]}` });
    if (m && (Number(m[1]) === 1) !== !m[2].endsWith('s')) {
      ctx.addIssue({ code: 'custom', path: ['expression'], message: `EventBridge Scheduler wants "1 ${m[2].replace(/s$/, '')}" and "<n> ${m[2].replace(/s?$/, 's')}", but got "${m[1]} ${m[2]}"` });
    }
  });

/**
 * What starts a retrain on its own (docs/operations.md, "How data should land"). Owned by the trigger Lambda.
 *
 * - `quiet`: no marker; a run starts once arrivals under `incoming/` pause for `quietPeriodSeconds`, and at the
 *   latest `maxWaitSeconds` after the first object of the batch arrived.
 * - `marker`: the producer writes `_SUCCESS` (the run takes every object under the marker's folder) or
 *   `manifest.json` (`{"files": [...]}`, the run takes exactly those) last; other arrivals start nothing.
 * Either way at most one execution runs at a time; what lands meanwhile goes into exactly one follow-up run.
 */
export const TriggerConfigSchema = z
  .object({
    /** `false`: data landing starts nothing (start runs by hand or by schedule only). */
    enabled: z.boolean().default(true),
    mode: z.enum(['quiet', 'marker']).default('quiet'),
    /** Quiet mode: start once no object arrived for this long (1 s - 1 day). */
    quietPeriodSeconds: z.number().int().min(1).max(86400).default(300),
    /** Quiet mode: start at the latest this long after the batch's first object, even while arrivals continue (1 min - 7 days). */
    maxWaitSeconds: z.number().int().min(60).max(7 * 86400).default(3600),
    /** A schedule through the same single-flight path. @default - none */
    schedule: ScheduleConfigSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.maxWaitSeconds < t.quietPeriodSeconds) {
      ctx.addIssue({ code: 'custom', path: ['maxWaitSeconds'], message: `must be >= trigger.quietPeriodSeconds (${t.quietPeriodSeconds}), but got ${t.maxWaitSeconds}` });
    }
    if (t.schedule && t.mode === 'marker') {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule'],
        message: 'a schedule starts what landed without a marker, but in marker mode a run takes exactly what a marker covers: remove the schedule or use mode "quiet"',
      });
    }
  });

export type TriggerConfig = z.infer<typeof TriggerConfigSchema>;
export type ScheduleConfig = z.infer<typeof ScheduleConfigSchema>;
