import { DeleteEndpointCommand, DescribeEndpointCommand, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { checkEndpoint } from '../lambdas/check-endpoint/core';
import { handler } from '../lambdas/check-endpoint/handler';
import { DeploymentRef, PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { setLambdaEnv } from './helpers/local-s3';

// SageMaker mocked: Failed and rolled-back endpoints are the cases under test.
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });

const deployment = (previous?: string): DeploymentRef => ({
  endpointName: 'relearn-endpoint',
  modelName: 'relearn-model-run-1',
  endpointConfigName: 'relearn-epc-run-1',
  ...(previous ? { previousEndpointConfigName: previous } : {}),
  status: 'Updating',
  done: false,
});
const state = (previous?: string): PipelineState => ({ source: { bucket: 'b', prefix: 'incoming/' }, deployment: deployment(previous) });
const check = (st: PipelineState) => checkEndpoint({ executionName: 'run-1', state: st }, loadEnv(), { sagemaker });
const endpoint = (EndpointStatus: string, EndpointConfigName: string, FailureReason?: string) =>
  ({ EndpointName: 'relearn-endpoint', EndpointStatus, EndpointConfigName, FailureReason }) as never;

describe('CheckEndpoint', () => {
  beforeEach(() => {
    sm.reset();
    setLambdaEnv();
  });

  test('InService on our config: done', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('InService', 'relearn-epc-run-1'));
    await expect(check(state('relearn-epc-old'))).resolves.toEqual({ ...deployment('relearn-epc-old'), status: 'InService', done: true });
  });

  test('still updating: not done, polled again', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('Updating', 'relearn-epc-old'));
    await expect(check(state('relearn-epc-old'))).resolves.toMatchObject({ status: 'Updating', done: false });
  });

  test('InService on another config: SageMaker rolled back -> DeploymentRolledBack with the FailureReason', async () => {
    // GIVEN SageMaker's update failed and the endpoint went back to the old config
    sm.on(DescribeEndpointCommand).resolves(endpoint('InService', 'relearn-epc-old', 'The primary container for production variant AllTraffic did not pass the ping health check'));
    // WHEN / THEN
    await expect(check(state('relearn-epc-old'))).rejects.toMatchObject({
      name: 'DeploymentRolledBack',
      message: expect.stringMatching(/InService on relearn-epc-old, not this run's relearn-epc-run-1.*did not pass the ping health check/),
    });
    // AND nothing is changed on the endpoint
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(0);
  });

  test('Failed on a first deploy: DeploymentFailed, and our Failed endpoint is deleted so the next run can create it', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('Failed', 'relearn-epc-run-1', 'model_fn raised'));
    await expect(check(state())).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/failed to deploy relearn-epc-run-1: model_fn raised; .*deleted/) });
    expect(sm.commandCalls(DeleteEndpointCommand)[0].args[0].input).toEqual({ EndpointName: 'relearn-endpoint' });
  });

  test('Failed with a previous model: DeploymentFailed, endpoint not deleted', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('Failed', 'relearn-epc-run-1', 'capacity'));
    await expect(check(state('relearn-epc-old'))).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/capacity/) });
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(0);
  });

  test('endpoint gone: DeploymentFailed; no deployment in the state: InvalidStageInput (handler)', async () => {
    sm.on(DescribeEndpointCommand).rejects(Object.assign(new Error('Could not find endpoint "relearn-endpoint".'), { name: 'ValidationException' }));
    await expect(check(state())).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/does not exist/) });
    await expect(handler({ executionName: 'run-1', state: { source: { bucket: 'b', prefix: 'incoming/' } } })).rejects.toMatchObject({ name: 'InvalidStageInput' });
  });
});
