import { DeleteEndpointCommand, DescribeEndpointCommand, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { rollBackEndpoint } from '../lambdas/deploy/endpoint';

// The one rollback VerifyServing and NotifyFailure share. SageMaker mocked: it is about endpoint states.
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });
const target = { endpointName: 'ep', endpointConfigName: 'epc-new', previousEndpointConfigName: 'epc-old' };
const endpoint = (EndpointStatus: string, EndpointConfigName: string, pending?: string) =>
  ({ EndpointName: 'ep', EndpointStatus, EndpointConfigName, ...(pending ? { PendingDeploymentSummary: { EndpointConfigName: pending } } : {}) }) as never;

describe('rollBackEndpoint', () => {
  beforeEach(() => sm.reset());

  test('InService on our config: back to the previous config', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('InService', 'epc-new'));
    await expect(rollBackEndpoint(sagemaker, target)).resolves.toMatchObject({ action: 'updated' });
    expect(sm.commandCalls(UpdateEndpointCommand)[0].args[0].input).toEqual({ EndpointName: 'ep', EndpointConfigName: 'epc-old' });
  });

  test('first deploy: the endpoint is deleted', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('InService', 'epc-new'));
    await expect(rollBackEndpoint(sagemaker, { endpointName: 'ep', endpointConfigName: 'epc-new' })).resolves.toMatchObject({ action: 'deleted' });
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(1);
  });

  test('serving someone else\'s config: nothing is changed', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('InService', 'epc-other'));
    await expect(rollBackEndpoint(sagemaker, target)).resolves.toMatchObject({ action: 'none', detail: expect.stringMatching(/nothing to roll back/) });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('mid-update to our config: nothing can be changed now, and the detail says what to run once InService', async () => {
    sm.on(DescribeEndpointCommand).resolves(endpoint('Updating', 'epc-old', 'epc-new'));
    await expect(rollBackEndpoint(sagemaker, target)).resolves.toMatchObject({
      action: 'none',
      detail: expect.stringMatching(/Updating to this run's epc-new.*update-endpoint --endpoint-name ep --endpoint-config-name epc-old/),
    });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('no endpoint, or one being deleted: nothing to do', async () => {
    sm.on(DescribeEndpointCommand).rejectsOnce(Object.assign(new Error('Could not find endpoint "ep".'), { name: 'ValidationException' })).resolves(endpoint('Deleting', 'epc-new'));
    await expect(rollBackEndpoint(sagemaker, target)).resolves.toMatchObject({ action: 'none', detail: expect.stringMatching(/does not exist/) });
    await expect(rollBackEndpoint(sagemaker, target)).resolves.toMatchObject({ action: 'none', detail: expect.stringMatching(/being deleted/) });
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(0);
  });
});
