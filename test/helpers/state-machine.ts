import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RelearnConfig } from '../../lambdas/shared/config';
import { buildRelearnApp } from '../../lib/app';

// aws-local-stepfunctions 3 wants Node >= 22; this is the one API it needs from it (FIELD-NOTES).
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StateMachine } = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

/* eslint-disable @typescript-eslint/no-explicit-any */
export type State = Record<string, any>;
export type Definition = { StartAt: string; States: Record<string, State>; TimeoutSeconds?: number };
export type Handlers = Record<string, (input: any) => unknown>;

/** The synthesized DefinitionString with every token (function ARNs) replaced by a readable placeholder. */
export function definitionOf(template: Template, machine: 'Retrain' | 'Rollback' = 'Retrain'): Definition {
  const found = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).filter(([id]) => id.includes(`${machine}StateMachine`));
  if (found.length !== 1) throw new Error(`expected one ${machine} state machine, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  const [[, sm]] = found;
  const def = sm.Properties.DefinitionString;
  const text =
    typeof def === 'string'
      ? def
      : (def['Fn::Join'][1] as unknown[])
          .map((part) => (typeof part === 'string' ? part : `arn:aws:lambda:us-east-1:123456789012:function:${(part as any)['Fn::GetAtt']?.[0] ?? 'token'}`))
          .join('');
  return JSON.parse(text);
}

/** The pipeline's state machine definition for `config`, synthesized without bundling (only the ASL matters). */
export function synthDefinition(config: RelearnConfig, machine: 'Retrain' | 'Rollback' = 'Retrain'): Definition {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { pipeline } = buildRelearnApp(app, config, { nag: false });
  return definitionOf(Template.fromStack(pipeline), machine);
}

/**
 * Runs the synthesized ASL with the interpreter local mode uses, each Lambda task replaced by `handlers[stateName]`
 * (which may be a real stage handler). Records every task call in order; waits and retry intervals are zero.
 */
export async function runDefinition(def: Definition, handlers: Handlers, input: unknown, executionName = 'run-1') {
  const calls: { state: string; input: any }[] = [];
  const taskResourceLocalHandlers = Object.fromEntries(
    Object.entries(handlers).map(([name, fn]) => [
      name,
      async (taskInput: any) => {
        calls.push({ state: name, input: taskInput });
        return fn(taskInput) as any;
      },
    ]),
  );
  const machine = new StateMachine(def as any, { validationOptions: { checkArn: false } });
  const execution = machine.run(input as any, {
    overrides: {
      taskResourceLocalHandlers,
      waitTimeOverrides: { WaitForTraining: 0, WaitForEndpoint: 0 },
      retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((k) => [k, 0])),
    },
    context: { Execution: { Id: `arn:exec:${executionName}`, Name: executionName, StartTime: new Date(0).toISOString() } } as any,
  });
  let output: any;
  let error: any;
  try {
    output = await execution.result;
  } catch (err) {
    error = err;
  }
  return { calls, output, error };
}
