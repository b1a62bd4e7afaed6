import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePipeline, ResolvedPipeline } from '../local/asl/assembly';
import { CfnResolver, StackTemplate, UnresolvableError } from '../local/asl/cfn-resolver';
import { waitOverrides } from '../local/asl/definition';
import { IMAGE, synthTestApp, writeFixtures } from '../local/testing/fixture-app';

/**
 * Resolver unit tests on a small two-stack app shaped like relearn's (data stack + pipeline stack with
 * cross-stack references, a mapping, a file asset and Lambda tasks whose entries are fixtures).
 */

let work: string;
let outdir: string;
let pipeline: ResolvedPipeline;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'relearn-asl-'));
  writeFixtures(work);
  outdir = synthTestApp(work);
  // A stale asset folder, as cdk.out keeps them: never to be picked up.
  mkdirSync(join(outdir, 'asset.0000stale'), { recursive: true });
  writeFileSync(join(outdir, 'asset.0000stale', 'index.js'), 'exports.handler = async () => ({ stale: true });');
  pipeline = resolvePipeline(outdir);
}, 120000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('resolvePipeline', () => {
  test('the definition is runnable ASL: no CloudFormation token is left in it', () => {
    // GIVEN the synthesized two-stack app / WHEN resolved (beforeAll)
    const text = JSON.stringify(pipeline.stateMachine.definition);
    // THEN
    expect(text).not.toMatch(/"Ref"|Fn::|\$\{Token/);
    expect(pipeline.stateMachine.definition.StartAt).toBe('Ingest');
    expect(Object.keys(pipeline.tasks).sort()).toEqual(['CheckTraining', 'Ingest', 'NotifyFailure', 'ShardStatistics', 'StartTraining']);
  });

  test('each Lambda task maps to its function, its bundle in cdk.out and a local ARN', () => {
    const arn = pipeline.tasks.Ingest;
    const fn = pipeline.functions[arn];
    expect(arn).toMatch(/^arn:aws:lambda:us-east-1:000000000000:function:TestPipeline-IngestFn/);
    expect(fn.logicalId).toMatch(/^IngestFn/);
    expect(fn.bundlePath.startsWith(outdir)).toBe(true);
    expect(fn.bundlePath).not.toContain('stale');
    expect(existsSync(fn.bundlePath)).toBe(true);
    expect(fn.exportName).toBe('handler');
    expect(fn.timeoutSeconds).toBe(30);
    const ingestState = pipeline.stateMachine.definition.States.Ingest as { Parameters: { FunctionName: string } };
    expect(ingestState.Parameters.FunctionName).toBe(arn);
  });

  test('environment variables resolve across stacks, through mappings, assets and Select/Split', () => {
    const env = pipeline.functions[pipeline.tasks.StartTraining].environment;
    const landing = pipeline.buckets.find((b) => b.stackName === 'TestData' && b.logicalId.startsWith('Landing'));
    const artifacts = pipeline.buckets.find((b) => b.stackName === 'TestPipeline' && b.logicalId.startsWith('Artifacts'));
    expect(landing).toBeDefined();
    expect(env.DATA_BUCKET).toBe(landing!.name); // Fn::ImportValue of the data stack's export
    expect(env.ARTIFACTS_BUCKET).toBe(artifacts!.name);
    expect(landing!.name).toMatch(/^[a-z0-9-]{3,63}$/);
    expect(env.IMAGE).toBe(IMAGE); // Fn::FindInMap with AWS::Region
    expect(env.SPLIT).toBe('000000000000');
    expect(env.TOPIC_ARN).toBe(pipeline.topics[0].arn);
    expect(env.TOPIC_ARN).toMatch(/^arn:aws:sns:us-east-1:000000000000:/);
    // The training code asset: published where the template says it is.
    const asset = pipeline.fileAssets.find((a) => a.packaging === 'file' && a.path.endsWith('.gz'));
    expect(asset).toBeDefined();
    expect(env.CODE_URI).toBe(`s3://${asset!.bucket}/${asset!.key}`);
    expect(asset!.bucket).toBe('cdk-hnb659fds-assets-000000000000-us-east-1');
    expect(existsSync(asset!.path)).toBe(true);
    expect(pipeline.buckets.map((b) => b.name)).toContain(asset!.bucket);
  });

  test('the model package group is listed with its name and description', () => {
    expect(pipeline.modelPackageGroups).toEqual([
      expect.objectContaining({ name: 'test-models', description: 'test group', arn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package-group/test-models' }),
    ]);
  });

  test('the same assembly resolves to the same names every time', () => {
    const again = resolvePipeline(outdir);
    expect(again.buckets).toEqual(pipeline.buckets);
    expect(again.tasks).toEqual(pipeline.tasks);
  });

  test('polling waits are shortened locally, short waits are kept', () => {
    expect(waitOverrides(pipeline.stateMachine.definition, 1)).toEqual({ WaitForTraining: 1000 });
    expect(waitOverrides({ StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 0.5, End: true } } }, 2)).toEqual({ W: 500 });
  });

  test('a folder that is not a cloud assembly gets a clear error', () => {
    expect(() => resolvePipeline(work)).toThrow(/manifest\.json not found/);
  });
});

describe('CfnResolver errors name the stack, the property and the intrinsic', () => {
  const stack: StackTemplate = {
    stackName: 'S',
    template: {
      Resources: {
        Fn1: { Type: 'AWS::Lambda::Function', Properties: {} },
        Thing: { Type: 'AWS::Custom::Widget', Properties: {} },
      },
      Mappings: { Images: { 'eu-west-1': { uri: 'x' } } },
      Parameters: { NoDefault: { Type: 'String' }, WithDefault: { Type: 'String', Default: 'dflt' } },
      Conditions: { IsUs: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] } },
    },
  };
  const resolver = new CfnResolver([stack]);

  test.each([
    [{ 'Fn::GetAtt': ['Thing', 'Colour'] }, /S: Fn1\.Environment: Fn::GetAtt Thing\.Colour: .*Colour of AWS::Custom::Widget/],
    [{ 'Fn::ImportValue': 'nobody-exports-this' }, /Fn::ImportValue nobody-exports-this: no stack exports it/],
    [{ 'Fn::FindInMap': ['Images', { Ref: 'AWS::Region' }, 'uri'] }, /Fn::FindInMap .*mapping Images has no key us-east-1/],
    [{ Ref: 'Missing' }, /no resource Missing/],
    [{ Ref: 'NoDefault' }, /Ref NoDefault: the parameter has no Default/],
    [{ 'Fn::Cidr': ['10.0.0.0/16', 2, 8] }, /Fn::Cidr .*not supported in local mode/],
  ])('%j', (value, message) => {
    // WHEN / THEN
    expect(() => resolver.resolve(stack, value, 'Fn1.Environment')).toThrow(UnresolvableError);
    expect(() => resolver.resolve(stack, value, 'Fn1.Environment')).toThrow(message);
  });

  test('Sub, If, conditions, parameters with defaults and AWS::NoValue resolve', () => {
    expect(resolver.resolve(stack, { 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}:${Fn1}:${!Literal}:${Fn1.Arn}' }, 'x')).toBe(
      'arn:aws:x:us-east-1:S-Fn1:${Literal}:arn:aws:lambda:us-east-1:000000000000:function:S-Fn1',
    );
    expect(resolver.resolve(stack, { 'Fn::Sub': ['${A}-${WithDefault}', { A: { Ref: 'AWS::AccountId' } }] }, 'x')).toBe('000000000000-dflt');
    expect(resolver.resolve(stack, { 'Fn::If': ['IsUs', 'yes', 'no'] }, 'x')).toBe('yes');
    expect(resolver.resolve(stack, { a: 1, b: { Ref: 'AWS::NoValue' }, c: ['x', { Ref: 'AWS::NoValue' }] }, 'x')).toEqual({ a: 1, c: ['x'] });
  });
});

describe('resolvePipeline on hand-written assemblies', () => {
  /** A one-stack cdk.out with the given template; the function's bundle is asset.fn/index.js. */
  function assembly(template: object): string {
    const out = mkdtempSync(join(tmpdir(), 'relearn-asm-'));
    writeFileSync(join(out, 'manifest.json'), JSON.stringify({ version: '48.0.0', artifacts: { S: { type: 'aws:cloudformation:stack', properties: { templateFile: 'S.template.json' } } } }));
    writeFileSync(join(out, 'S.template.json'), JSON.stringify(template));
    mkdirSync(join(out, 'asset.fn'));
    writeFileSync(join(out, 'asset.fn', 'index.js'), 'exports.handler = async () => ({});');
    return out;
  }
  const fn = (metadata: object = { 'aws:asset:path': 'asset.fn' }) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { Handler: 'index.handler', Environment: { Variables: { WHERE: { 'Fn::Sub': '${AWS::Region}' } } } },
    Metadata: metadata,
  });
  const machine = (definition: object, substitutions?: object) => ({
    Type: 'AWS::StepFunctions::StateMachine',
    Properties: { DefinitionString: JSON.stringify(definition), ...(substitutions ? { DefinitionSubstitutions: substitutions } : {}) },
  });

  test('DefinitionSubstitutions are resolved and applied', () => {
    // GIVEN a definition that names its function through a substitution
    const out = assembly({
      Resources: {
        Fn: fn(),
        Sm: machine(
          { StartAt: 'A', States: { A: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: '${FnArn}', 'Payload.$': '$' }, End: true } } },
          { FnArn: { 'Fn::GetAtt': ['Fn', 'Arn'] } },
        ),
      },
    });
    // WHEN
    const p = resolvePipeline(out);
    // THEN
    expect(p.tasks.A).toBe('arn:aws:lambda:us-east-1:000000000000:function:S-Fn');
    expect(p.functions[p.tasks.A]).toMatchObject({ bundlePath: join(out, 'asset.fn', 'index.js'), environment: { WHERE: 'us-east-1' }, timeoutSeconds: 3 });
    rmSync(out, { recursive: true, force: true });
  });

  test('a service integration other than Lambda is refused, naming the state', () => {
    const out = assembly({ Resources: { Sm: machine({ StartAt: 'Publish', States: { Publish: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', End: true } } }) } });
    expect(() => resolvePipeline(out)).toThrow(/S\/Sm: state Publish: Resource arn:aws:states:::sns:publish is not supported in local mode/);
    rmSync(out, { recursive: true, force: true });
  });

  test('a function without asset metadata is refused, saying how to get it', () => {
    const out = assembly({
      Resources: {
        Fn: fn({}),
        Sm: machine({ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:S-Fn', End: true } } }),
      },
    });
    expect(() => resolvePipeline(out)).toThrow(/S: Fn: the Lambda function has no aws:asset:path metadata .*aws:cdk:enable-asset-metadata=true/);
    rmSync(out, { recursive: true, force: true });
  });

  test('a substitution the template does not define is named', () => {
    const out = assembly({ Resources: { Sm: machine({ StartAt: 'P', States: { P: { Type: 'Pass', Result: '${Missing}', End: true } } }, { Other: 'x' }) } });
    expect(() => resolvePipeline(out)).toThrow(/Sm\.DefinitionString: \$\{Missing\} has no entry in DefinitionSubstitutions/);
    rmSync(out, { recursive: true, force: true });
  });
});
