import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { sageMakerClient } from '../shared/clients';
import { deleteEndpointAndModels, EndpointOwnerProperties } from './core';

/**
 * The onEvent handler of the endpoint owner (CDK's custom resource provider framework calls it and answers
 * CloudFormation). The physical id is the endpoint's name: a new name replaces the resource, and CloudFormation
 * then deletes the old one, endpoint included.
 */
export const handler = async (event: CdkCustomResourceEvent): Promise<CdkCustomResourceResponse> => {
  const props = event.ResourceProperties as unknown as EndpointOwnerProperties;
  if (event.RequestType === 'Delete') {
    const deleted = await deleteEndpointAndModels(sageMakerClient(), props);
    return { PhysicalResourceId: event.PhysicalResourceId, Data: { Endpoint: deleted.endpoint, EndpointConfigs: deleted.endpointConfigs.length, Models: deleted.models.length } };
  }
  return { PhysicalResourceId: props.EndpointName };
};
