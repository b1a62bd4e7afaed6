/**
 * The execution end states whose training job this function stops (the EventBridge rule matches exactly these).
 * FAILED too: a failure that is not caught (or a NotifyFailure that could not stop the job) leaves it running.
 * Kept apart from core.ts so the CDK construct imports it without the SDK clients.
 */
export const CLEANED_UP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;
export type EndStatus = (typeof CLEANED_UP_STATUSES)[number];
