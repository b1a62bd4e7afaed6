import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { buildRelearnApp } from '../lib/app';

/**
 * `cdk destroy` leaves nothing billing (issue 11): the endpoint the pipeline creates through the SageMaker API, and
 * every run's model and endpoint config, are owned by the pipeline stack through a custom resource whose Delete
 * removes them (lambdas/endpoint-owner; its behaviour on a real local server is in test/cloud-truth-local.test.ts).
 */

const synth = (config: RelearnConfigInput = {}) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(buildRelearnApp(app, parseConfig(config), { nag: false }).pipeline);
};
const list = (x: unknown) => ([] as unknown[]).concat(x);

describe('the endpoint owner (lib/constructs/endpoint-owner.ts)', () => {
  test('GIVEN the defaults WHEN synthesized THEN one custom resource stands for the endpoint, its models and configs, deleted with the stack', () => {
    const t = synth();
    const owners = t.findResources('Custom::RelearnEndpoint');
    expect(Object.keys(owners)).toHaveLength(1);
    const [owner] = Object.values(owners);
    expect(owner.Properties).toMatchObject({ EndpointName: 'relearn-endpoint', ModelPrefix: 'relearn-model-', EndpointConfigPrefix: 'relearn-epc-', Retain: 'false' });
    expect(owner.DeletionPolicy).toBe('Delete');
    expect(owner.UpdateReplacePolicy).toBe('Delete');
    // Served by CDK's provider framework, whose function calls ours.
    expect(JSON.stringify(owner.Properties.ServiceToken)).toMatch(/PipelineEndpointOwnerProviderframeworkonEvent/);
  });

  test('its handler may delete exactly this endpoint and this pipeline’s models and endpoint configs, and list them', () => {
    const t = synth({ name: 'churn', deployment: { endpointName: 'Churn-Live' } });
    const [policy] = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes('"PipelineEndpointOwnerRole'));
    const statements = policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[];
    const sagemaker = statements.filter((s) => list(s.Action).some((a) => String(a).startsWith('sagemaker:')));
    const byAction = Object.fromEntries(sagemaker.flatMap((s) => list(s.Action).map((a) => [a, JSON.stringify(s.Resource)])));
    expect(Object.keys(byAction).sort()).toEqual(['sagemaker:DeleteEndpoint', 'sagemaker:DeleteEndpointConfig', 'sagemaker:DeleteModel', 'sagemaker:DescribeEndpoint', 'sagemaker:ListEndpointConfigs', 'sagemaker:ListModels']);
    expect(byAction['sagemaker:DeleteEndpoint']).toMatch(/:endpoint\/churn-live"\]\]\}$/);
    expect(byAction['sagemaker:DeleteEndpointConfig']).toMatch(/:endpoint-config\/churn-epc-\*"\]\]\}$/);
    expect(byAction['sagemaker:DeleteModel']).toMatch(/:model\/churn-model-\*"\]\]\}$/);
    expect(byAction['sagemaker:ListModels']).toBe('"*"');
  });

  test('GIVEN deployment.endpointRemovalPolicy "retain" THEN the resource is retained and its handler told to leave everything', () => {
    const [owner] = Object.values(synth({ deployment: { endpointRemovalPolicy: 'retain' } }).findResources('Custom::RelearnEndpoint'));
    expect(owner.DeletionPolicy).toBe('Retain');
    expect(owner.Properties.Retain).toBe('true');
  });

  test('a bad endpointRemovalPolicy fails the config, naming the field', () => {
    expect(() => parseConfig({ deployment: { endpointRemovalPolicy: 'keep' } })).toThrow(/deployment\.endpointRemovalPolicy/);
  });
});
