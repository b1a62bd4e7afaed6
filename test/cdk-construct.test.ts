import { App, Fn, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { parseConfig } from '../lambdas/shared/config';
import { RetrainingPipeline, RetrainingPipelineProps } from '../lib';

/** The construct on its own, as a platform team would use it in its own stack with its own buckets. */
function stackWith(props: Partial<RetrainingPipelineProps> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'TeamStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
  const pipeline = new RetrainingPipeline(stack, 'Retrain', {
    config: parseConfig({ name: 'team' }),
    dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'team-landing'),
    artifactsBucket: s3.Bucket.fromBucketName(stack, 'Artifacts', 'team-artifacts'),
    encryptionKey: key,
    modelPackageGroupName: 'team-models',
    ...props,
  });
  return { stack, pipeline };
}

describe('RetrainingPipeline in a stack of your own', () => {
  test('GIVEN existing buckets and key WHEN added THEN the stages, roles and state machine use them', () => {
    const { stack, pipeline } = stackWith();
    const t = Template.fromStack(stack);
    // 13 retrain stages, 2 rollback stages, the abort clean-up, the endpoint owner and its provider framework function,
    // the trigger and the monitor's three tasks
    expect(Object.keys(t.findResources('AWS::Lambda::Function'))).toHaveLength(22);
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'team-retrain' });
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'team-rollback' });
    t.hasResourceProperties('Custom::RelearnEndpoint', { EndpointName: 'team-endpoint' });
    const env = Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(env).toMatchObject({ DATA_BUCKET: 'team-landing', ARTIFACTS_BUCKET: 'team-artifacts', MODEL_PACKAGE_GROUP: 'team-models', ENDPOINT_NAME: 'team-endpoint' });
    // a known region resolves the image at synth through the mapping
    expect(JSON.stringify(env.TRAINING_IMAGE_URI)).toContain('sagemaker-scikit-learn:1.2-1-cpu-py3');
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(':s3:::team-landing/incoming/*');
    expect(policies).toContain(':sagemaker:eu-west-1:123456789012:model-package/team-models/*');
    expect(pipeline.endpointName).toBe('team-endpoint');
  });

  test('a model package group name SageMaker would refuse fails with what was expected and what came in', () => {
    expect(() => stackWith({ modelPackageGroupName: 'team models!' })).toThrow(
      "modelPackageGroupName must be a SageMaker name (letters, digits, hyphens, at most 63), but got 'team models!'",
    );
  });

  test('an unresolved token is not validated at synth', () => {
    expect(() => stackWith({ modelPackageGroupName: Fn.importValue('TeamModelGroupName') })).not.toThrow();
  });
});
