import { createHash } from 'node:crypto';

/**
 * Names of the SageMaker resources a run creates, derived from the execution name so that a retried
 * stage finds its own resource again ("already exists" for our own name is success).
 * SageMaker names: letters, digits and hyphens, at most 63 characters.
 */
export function runResourceName(prefix: string, executionName: string, kind = ''): string {
  const hash = createHash('sha256').update(`${executionName}|${kind}`).digest('hex').slice(0, 8);
  const slug = executionName
    .replace(/[^a-zA-Z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const head = [prefix, kind].filter(Boolean).join('-');
  const room = 63 - head.length - hash.length - 2;
  const middle = slug.slice(0, Math.max(0, room)).replace(/-$/, '');
  return [head, middle, hash].filter(Boolean).join('-');
}

export const trainingJobName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'train');
export const modelName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'model');
export const endpointConfigName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'epc');
