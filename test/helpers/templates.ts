import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, RelearnConfigInput } from '../../lambdas/shared/config';
import { buildRelearnApp } from '../../lib/app';

/**
 * Template assertions' shared helpers: both stacks of the app for a configuration (asset bundling skipped: bundles are
 * checked in cdk-app.test.ts), and the IAM statements of a role.
 */
export function synth(input: RelearnConfigInput = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { data, pipeline } = buildRelearnApp(app, parseConfig(input), { nag: false });
  return { data: Template.fromStack(data), pipeline: Template.fromStack(pipeline) };
}

export type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
export const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** Every statement of every IAM policy attached to the role with this logical id prefix. */
export function statementsOf(t: Template, rolePrefix: string): Statement[] {
  const out: Statement[] = [];
  for (const p of Object.values(t.findResources('AWS::IAM::Policy'))) {
    const roles = list(p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (roles.some((r) => r.startsWith(rolePrefix))) out.push(...(p.Properties.PolicyDocument.Statement as Statement[]));
  }
  return out;
}
