import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../lambdas/shared/config';
import { STATE_MEMORY_ENV, stateMemoryLookup } from '../lambdas/shared/cost';
import { buildRelearnApp } from '../lib/app';

/**
 * What Notify needs to price its run (lambdas/notify/cost.ts), as synthesized: the memory behind every Lambda task
 * state of both state machines, and the right to read its own executions' histories. cdk-nag: test/nag.test.ts.
 */
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type Asl = { States: Record<string, { Type: string; Resource?: string; ItemProcessor?: Asl; Iterator?: Asl }> };

describe("Notify's cost inputs", () => {
  let pipeline: Template;
  beforeAll(() => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    pipeline = Template.fromStack(buildRelearnApp(app, parseConfig({}), { nag: false }).pipeline);
  });
  const notifyFunction = () => Object.entries(pipeline.findResources('AWS::Lambda::Function')).find(([id]) => /^PipelineNotify[0-9A-F]{8}$/.test(id))!;

  test(`${STATE_MEMORY_ENV}: every Lambda task state of both machines, with the memory of the function it invokes`, () => {
    const memory = JSON.parse(notifyFunction()[1].Properties.Environment.Variables[STATE_MEMORY_ENV]) as Record<string, number>;
    const functions = pipeline.findResources('AWS::Lambda::Function');
    const seen: Record<string, number> = {};
    for (const [id, machine] of Object.entries(pipeline.findResources('AWS::StepFunctions::StateMachine'))) {
      if (!/^Pipeline(Retrain|Rollback)StateMachine/.test(id)) continue;
      // The definition with each function's ARN replaced by its logical id.
      const parts = (machine.Properties.DefinitionString['Fn::Join'][1] as unknown[]).map((p) =>
        typeof p === 'string' ? p : (p as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt']?.[1] === 'Arn' ? `fn:${(p as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]}` : 'token',
      );
      const walk = (asl: Asl) => {
        for (const [name, state] of Object.entries(asl.States)) {
          if (state.Resource?.startsWith('fn:')) seen[name] = functions[state.Resource.slice(3)].Properties.MemorySize;
          const inner = state.ItemProcessor ?? state.Iterator;
          if (inner) walk(inner);
        }
      };
      walk(JSON.parse(parts.join('')) as Asl);
    }
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(['Ingest', 'ShardStatistics', 'Notify', 'NotPromoted', 'NotifyFailure', 'ResolveRollback', 'RestoreChampion']));
    // Compact ("*": the common memory, then the states with another one), and every task state resolves to its own.
    const lookup = stateMemoryLookup(memory);
    expect(Object.fromEntries(Object.keys(seen).map((name) => [name, lookup(name)]))).toEqual(seen);
    expect(memory).toMatchObject({ '*': 256, Ingest: 2048 });
    expect(memory.Notify).toBeUndefined();
  });

  test('every bundled example config still fits Lambda\'s 4 KB environment with the memory map (the multiclass one did not before it was compact)', () => {
    for (const file of ['examples/support-tickets/relearn.config.json', 'examples/delivery-times/relearn.config.json', 'relearn.config.json']) {
      const config = parseConfig(JSON.parse(readFileSync(join(__dirname, '..', file), 'utf8')));
      expect(() => buildRelearnApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), config, { nag: false })).not.toThrow();
    }
  });

  test("Notify may read the history of its own pipeline's retrain and rollback executions, nothing wider", () => {
    const statements = Object.entries(pipeline.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('PipelineNotifyRole'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
    const history = statements.filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('states:')));
    expect(history).toEqual([
      {
        Effect: 'Allow',
        Action: 'states:GetExecutionHistory',
        Resource: ['retrain', 'rollback'].map((m) => ({
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:execution:relearn-${m}:*`]],
        })),
      },
    ]);
  });
});
