import type { Authorizer } from '../../iam/authorizer';
import type { RequestContext } from '../../iam/policy';
import { statementsOf } from '../../iam/policy';
import { ApiError, validation } from './api-error';
import type { StateShape } from './store';

/**
 * SageMaker's authorization, as the local server applies it: each operation maps to `sagemaker:<Operation>` on
 * the ARN(s) it touches (lower-case names, as SageMaker's ARNs are), plus what AWS checks besides:
 * - `sagemaker:AddTags` on the new resource when a Create call carries Tags;
 * - `iam:PassRole` on the role given to CreateTrainingJob / CreateModel, with `iam:PassedToService`;
 * - CreateEndpoint and UpdateEndpoint authorize on the endpoint AND on the endpoint config;
 * - a KMS key SageMaker will use for the caller (training volume and output keys, an endpoint config's
 *   KmsKeyId, also when an endpoint is created or updated to such a config) needs the caller's `kms:CreateGrant`
 *   (SageMaker creates the grant on the caller's behalf: `kms:GrantIsForAWSResource` is true).
 */

export interface Check {
  readonly action: string;
  readonly resource: string;
  readonly context?: RequestContext;
}

const KMS_KEYS = ['kms:ViaService', 'kms:CallerAccount', 'kms:GrantIsForAWSResource', 'kms:GrantOperations', 'kms:GranteePrincipal', 'kms:RetiringPrincipal', 'kms:EncryptionContext:*', 'kms:EncryptionContextKeys', 'kms:GrantConstraintType'];
export const SAGEMAKER_KEYS = ['aws:RequestTag/*', 'aws:TagKeys', 'aws:ResourceTag/*', 'sagemaker:*'];

export function sagemakerArn(authorizer: Authorizer, kind: string, name: string): string {
  return `arn:aws:sagemaker:${authorizer.region}:${authorizer.accountId}:${kind}/${name.toLowerCase()}`;
}

/** What one control-plane call needs, in IAM terms. Reads the server's state for configs an endpoint call names. */
export function sagemakerChecks(authorizer: Authorizer, op: string, input: Record<string, unknown>, state: StateShape): Check[] {
  const arn = (kind: string, name: unknown) => sagemakerArn(authorizer, kind, String(name ?? ''));
  const action = `sagemaker:${op}`;
  const tagged = (resource: string): Check[] => (Array.isArray(input.Tags) && input.Tags.length > 0 ? [{ action: 'sagemaker:AddTags', resource }] : []);
  const passRole = (role: unknown): Check[] =>
    typeof role === 'string' && role
      ? [{ action: 'iam:PassRole', resource: role, context: { values: { 'iam:PassedToService': 'sagemaker.amazonaws.com' }, known: ['iam:PassedToService', 'iam:AssociatedResourceArn'] } }]
      : [];
  const grant = (keyId: unknown): Check[] => {
    if (typeof keyId !== 'string' || !keyId) return [];
    const keyArn = authorizer.model?.keyAliases.get(keyId) ?? keyId;
    return [
      {
        action: 'kms:CreateGrant',
        resource: keyArn,
        context: {
          values: { 'kms:GrantIsForAWSResource': 'true', 'kms:ViaService': `sagemaker.${authorizer.region}.amazonaws.com`, 'kms:CallerAccount': authorizer.accountId },
          known: KMS_KEYS,
        },
      },
    ];
  };
  const configKey = (configName: unknown): Check[] => grant(state.endpointConfigs[String(configName)]?.KmsKeyId);
  switch (op) {
    case 'CreateTrainingJob': {
      const resource = arn('training-job', input.TrainingJobName);
      const volumeKey = (input.ResourceConfig as Record<string, unknown> | undefined)?.VolumeKmsKeyId;
      const outputKey = (input.OutputDataConfig as Record<string, unknown> | undefined)?.KmsKeyId;
      return [{ action, resource }, ...tagged(resource), ...passRole(input.RoleArn), ...grant(volumeKey), ...(outputKey !== volumeKey ? grant(outputKey) : [])];
    }
    case 'DescribeTrainingJob':
    case 'StopTrainingJob':
      return [{ action, resource: arn('training-job', input.TrainingJobName) }];
    case 'CreateModel': {
      const resource = arn('model', input.ModelName);
      return [{ action, resource }, ...tagged(resource), ...passRole(input.ExecutionRoleArn)];
    }
    case 'DescribeModel':
    case 'DeleteModel':
      return [{ action, resource: arn('model', input.ModelName) }];
    case 'CreateEndpointConfig': {
      const resource = arn('endpoint-config', input.EndpointConfigName);
      return [{ action, resource }, ...tagged(resource), ...grant(input.KmsKeyId)];
    }
    case 'DescribeEndpointConfig':
    case 'DeleteEndpointConfig':
      return [{ action, resource: arn('endpoint-config', input.EndpointConfigName) }];
    case 'CreateEndpoint': {
      const resource = arn('endpoint', input.EndpointName);
      return [{ action, resource }, { action, resource: arn('endpoint-config', input.EndpointConfigName) }, ...tagged(resource), ...configKey(input.EndpointConfigName)];
    }
    case 'UpdateEndpoint':
      return [{ action, resource: arn('endpoint', input.EndpointName) }, { action, resource: arn('endpoint-config', input.EndpointConfigName) }, ...configKey(input.EndpointConfigName)];
    case 'DescribeEndpoint':
    case 'DeleteEndpoint':
      return [{ action, resource: arn('endpoint', input.EndpointName) }];
    case 'CreateModelPackageGroup': {
      const resource = arn('model-package-group', input.ModelPackageGroupName);
      return [{ action, resource }, ...tagged(resource)];
    }
    case 'DescribeModelPackageGroup':
      return [{ action, resource: groupArn(authorizer, input.ModelPackageGroupName) }];
    case 'CreateModelPackage': {
      // A versioned package is created in its group: authorized on the group (and AddTags on the new package).
      const group = groupArn(authorizer, input.ModelPackageGroupName);
      const pkg = `${group.replace(':model-package-group/', ':model-package/')}/*`;
      return [{ action, resource: group }, ...(Array.isArray(input.Tags) && input.Tags.length ? [{ action: 'sagemaker:AddTags', resource: pkg }] : [])];
    }
    case 'DescribeModelPackage':
      return [{ action, resource: packageArn(authorizer, input.ModelPackageName) }];
    case 'UpdateModelPackage':
      return [{ action, resource: packageArn(authorizer, input.ModelPackageArn) }];
    case 'ListTags':
      // On the resource whose tags are listed (a training job, model, endpoint, ... by its ARN).
      return [{ action, resource: String(input.ResourceArn ?? '') }];
    case 'ListTrainingJobs':
    case 'ListEndpoints':
    case 'ListEndpointConfigs':
    case 'ListModels':
    case 'ListModelPackages':
      return [{ action, resource: '*' }];
    default:
      throw new ApiError('UnknownOperationException', `the local SageMaker server does not map ${op} to IAM actions`);
  }
}

function groupArn(authorizer: Authorizer, nameOrArn: unknown): string {
  const v = String(nameOrArn ?? '');
  return v.startsWith('arn:') ? v.toLowerCase() : sagemakerArn(authorizer, 'model-package-group', v);
}

function packageArn(authorizer: Authorizer, nameOrArn: unknown): string {
  const v = String(nameOrArn ?? '');
  return v.startsWith('arn:') ? v.toLowerCase() : sagemakerArn(authorizer, 'model-package', v);
}

/**
 * SageMaker assumes the execution role given to CreateTrainingJob / CreateModel: with a template loaded, the
 * role must exist and trust sagemaker.amazonaws.com, else the call fails as in AWS.
 */
export function checkAssumableBySageMaker(authorizer: Authorizer, roleArn: unknown, field: string): void {
  if (!authorizer.model || typeof roleArn !== 'string') return;
  const role = authorizer.model.roles.get(roleArn);
  const trusts =
    role?.trust &&
    statementsOf(role.trust).some((s) => {
      if (s.Effect !== 'Allow') return false;
      const actions = ([] as string[]).concat((s.Action as string | string[] | undefined) ?? []);
      const services = typeof s.Principal === 'object' ? ([] as string[]).concat((s.Principal.Service as string | string[] | undefined) ?? []) : [];
      return actions.some((a) => a === 'sts:AssumeRole' || a === 'sts:*' || a === '*') && services.includes('sagemaker.amazonaws.com');
    });
  if (!trusts) {
    throw validation(`Could not assume role ${roleArn}. Please ensure that the role exists and allows principal 'sagemaker.amazonaws.com' to assume the role. (${field})`);
  }
}
