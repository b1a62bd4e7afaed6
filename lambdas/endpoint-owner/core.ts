import {
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  ListEndpointConfigsCommand,
  ListModelsCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { describeEndpoint, isSageMakerNotFound } from '../deploy/endpoint';
import { logger } from '../shared/logger';

/**
 * The endpoint a pipeline creates is not a CloudFormation resource: Deploy makes it (and a model and an endpoint
 * config per run) through the SageMaker API. This custom resource stands for all of them in the pipeline stack, so
 * that `cdk destroy` deletes them, unless the config retains them (`deployment.endpointRemovalPolicy: "retain"`).
 * Create and Update change nothing (the pipeline creates the endpoint when it first deploys).
 */

/** The custom resource's properties (strings, as CloudFormation passes them). */
export interface EndpointOwnerProperties {
  readonly EndpointName: string;
  /** `<name>-model-`: the models the pipeline and its rollbacks created. */
  readonly ModelPrefix: string;
  /** `<name>-epc-`: their endpoint configs. */
  readonly EndpointConfigPrefix: string;
  /** "true": leave everything as it is on delete. */
  readonly Retain: string;
}

export interface Deleted {
  readonly endpoint: 'deleted' | 'absent' | 'retained';
  readonly endpointConfigs: string[];
  readonly models: string[];
}

async function allNames(list: (token?: string) => Promise<{ names: string[]; next?: string }>): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await list(token);
    out.push(...page.names);
    token = page.next;
  } while (token);
  return out;
}

/**
 * Deletes the endpoint (SageMaker stops its instances: the billing stops) and every endpoint config and model whose
 * name has the pipeline's prefixes. Whatever is already gone is skipped, so a retried delete finishes the job.
 */
export async function deleteEndpointAndModels(sagemaker: SageMakerClient, props: EndpointOwnerProperties): Promise<Deleted> {
  if (props.Retain === 'true') return { endpoint: 'retained', endpointConfigs: [], models: [] };
  let endpoint: Deleted['endpoint'] = 'absent';
  if (await describeEndpoint(sagemaker, props.EndpointName)) {
    try {
      await sagemaker.send(new DeleteEndpointCommand({ EndpointName: props.EndpointName }));
      endpoint = 'deleted';
    } catch (err) {
      if (!isSageMakerNotFound(err)) throw err;
    }
  }
  const gone = async (call: () => Promise<unknown>) => {
    try {
      await call();
      return true;
    } catch (err) {
      if (isSageMakerNotFound(err)) return false;
      throw err;
    }
  };
  const configs = await allNames(async (NextToken) => {
    const page = await sagemaker.send(new ListEndpointConfigsCommand({ NameContains: props.EndpointConfigPrefix, NextToken, MaxResults: 100 }));
    return { names: (page.EndpointConfigs ?? []).map((c) => c.EndpointConfigName!).filter((n) => n.startsWith(props.EndpointConfigPrefix)), next: page.NextToken };
  });
  const endpointConfigs: string[] = [];
  for (const name of configs) if (await gone(() => sagemaker.send(new DeleteEndpointConfigCommand({ EndpointConfigName: name })))) endpointConfigs.push(name);
  const modelNames = await allNames(async (NextToken) => {
    const page = await sagemaker.send(new ListModelsCommand({ NameContains: props.ModelPrefix, NextToken, MaxResults: 100 }));
    return { names: (page.Models ?? []).map((m) => m.ModelName!).filter((n) => n.startsWith(props.ModelPrefix)), next: page.NextToken };
  });
  const models: string[] = [];
  for (const name of modelNames) if (await gone(() => sagemaker.send(new DeleteModelCommand({ ModelName: name })))) models.push(name);
  logger.info('EndpointOwner: deleted', { endpointName: props.EndpointName, endpoint, endpointConfigs: endpointConfigs.length, models: models.length });
  return { endpoint, endpointConfigs, models };
}
