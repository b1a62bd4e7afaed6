import { CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { EndpointOwnerProperties } from '../../lambdas/endpoint-owner/core';
import { relearnFunction } from './relearn-function';

export interface EndpointOwnerProps {
  /** The endpoint the pipeline deploys to (ENDPOINT_NAME). */
  readonly endpointName: string;
  /** config.name: the pipeline's models are `<name>-model-*`, its endpoint configs `<name>-epc-*` (lambdas/shared/names.ts). */
  readonly pipelineName: string;
  /**
   * Keep the endpoint, its models and endpoint configs when the stack is destroyed (they keep running and billing).
   * @default false - `cdk destroy` deletes them
   */
  readonly retain?: boolean;
  /** Key of the function's log groups. */
  readonly encryptionKey: kms.IKey;
  /**
   * Retention of the log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Makes the stack own what the pipeline creates through the SageMaker API: the endpoint, and the models and endpoint
 * configs of every run and rollback. `cdk destroy` deletes them (the custom resource's Delete), so nothing is left
 * billing, unless `retain` (then the custom resource is RETAINed and its handler leaves them as well). The model
 * registry, buckets and key are the data stack's and follow its removal policy.
 */
export class EndpointOwner extends Construct {
  public readonly function: lambda.Function;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: EndpointOwnerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logGroup = (logId: string) =>
      new logs.LogGroup(this, logId, {
        retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
        encryptionKey: props.encryptionKey,
        removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      });

    // 1. The handler: its own role, exactly this endpoint and this pipeline's models and configs.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `relearn ${props.pipelineName}: deletes the endpoint ${props.endpointName}, its models and endpoint configs when the stack is destroyed`,
    });
    const logs1 = logGroup('Logs');
    logs1.grantWrite(role);
    const sm = (resource: string) => `arn:${stack.partition}:sagemaker:${stack.region}:${stack.account}:${resource}`;
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sagemaker:DescribeEndpoint', 'sagemaker:DeleteEndpoint'], resources: [sm(`endpoint/${props.endpointName.toLowerCase()}`)] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sagemaker:DeleteEndpointConfig'], resources: [sm(`endpoint-config/${props.pipelineName}-epc-*`)] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sagemaker:DeleteModel'], resources: [sm(`model/${props.pipelineName}-model-*`)] }));
    // SageMaker's List* actions have no resource-level permission; the handler filters on the name prefixes.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sagemaker:ListEndpointConfigs', 'sagemaker:ListModels'], resources: ['*'] }));
    // The stages' code path (lib/constructs/relearn-function.ts): the pre-built bundle where relearn is installed.
    this.function = relearnFunction(this, 'Function', {
      handlerName: 'endpoint-owner',
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.minutes(5),
      role,
      logGroup: logs1,
      tracing: lambda.Tracing.ACTIVE,
      environment: { POWERTOOLS_SERVICE_NAME: `relearn-${props.pipelineName}`, AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1' },
    });

    // 2. CDK's provider framework answers CloudFormation for it (its own role: no managed policy; an encrypted log group).
    const frameworkRole = new iam.Role(this, 'FrameworkRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `relearn ${props.pipelineName}: CDK's custom resource framework of the endpoint owner`,
    });
    const frameworkLogs = logGroup('FrameworkLogs');
    frameworkLogs.grantWrite(frameworkRole);
    const provider = new cr.Provider(this, 'Provider', { onEventHandler: this.function, frameworkOnEventRole: frameworkRole, logGroup: frameworkLogs });

    // 3. The resource standing for the endpoint: retained (and a no-op) when the config keeps the endpoint.
    const properties: EndpointOwnerProperties = {
      EndpointName: props.endpointName,
      ModelPrefix: `${props.pipelineName}-model-`,
      EndpointConfigPrefix: `${props.pipelineName}-epc-`,
      Retain: props.retain ? 'true' : 'false',
    };
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::RelearnEndpoint',
      properties: { ...properties },
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }
}
