import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnResolver, DEFAULT_LOCAL_ACCOUNT, LocalAccount, StackTemplate } from '../asl/cfn-resolver';
import { readAssembly } from '../asl/assembly';
import type { NamedPolicy, PolicyDocument } from './policy';

/**
 * The IAM side of a synthesized cloud assembly, resolved to local names: every role with its policies (inline
 * `Policies` and the `AWS::IAM::Policy` resources attached to it) and trust policy, the resource policies
 * (bucket policies, topic policies, KMS key policies), and how buckets and topics encrypt (their KMS key).
 * This is what local mode's authorizer evaluates: exactly what `cdk deploy` would create.
 */

export interface RoleModel {
  readonly arn: string;
  readonly name: string;
  /** `<stack>/<logicalId>`, for messages. */
  readonly id: string;
  readonly trust?: PolicyDocument;
  readonly policies: NamedPolicy[];
  /** Managed policy ARNs attached to the role (not evaluated: local mode has no copy of AWS's managed policies). */
  readonly managedPolicyArns: string[];
}

export interface IamModel {
  readonly accountId: string;
  readonly region: string;
  /** By role ARN. */
  readonly roles: ReadonlyMap<string, RoleModel>;
  /** Bucket policies by bucket ARN, topic policies by topic ARN, key policies by key ARN. */
  readonly resourcePolicies: ReadonlyMap<string, NamedPolicy>;
  /** Default encryption of each bucket (by name): the KMS key ARN when SSE-KMS. */
  readonly bucketKeys: ReadonlyMap<string, string>;
  /** The KMS key ARN of each encrypted topic. */
  readonly topicKeys: ReadonlyMap<string, string>;
  /** Key ARNs by key id, alias ARN and alias name, for resolving a KmsKeyId given in a request. */
  readonly keyAliases: ReadonlyMap<string, string>;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Builds the model from every stack of the assembly in `outdir`. */
export function iamModelOf(outdir: string, account: LocalAccount = DEFAULT_LOCAL_ACCOUNT): IamModel {
  const { stacks } = readAssembly(outdir);
  return iamModelOfStacks(stacks, account);
}

export function iamModelOfStacks(stacks: readonly StackTemplate[], account: LocalAccount = DEFAULT_LOCAL_ACCOUNT): IamModel {
  const resolver = new CfnResolver(stacks, account);
  const roles = new Map<string, RoleModel>();
  const roleByLogical = new Map<string, RoleModel>();
  const resourcePolicies = new Map<string, NamedPolicy>();
  const bucketKeys = new Map<string, string>();
  const topicKeys = new Map<string, string>();
  const keyAliases = new Map<string, string>();
  const doc = (stack: StackTemplate, value: unknown, where: string) => resolver.resolve(stack, value, where) as PolicyDocument;

  // 1. Roles (first, so that policies can attach to them).
  for (const stack of stacks) {
    for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
      if (r.Type !== 'AWS::IAM::Role') continue;
      const props = r.Properties ?? {};
      const id = `${stack.stackName}/${logicalId}`;
      const role: RoleModel = {
        arn: resolver.arn(stack, logicalId),
        name: resolver.physicalName(stack, logicalId),
        id,
        ...(props.AssumeRolePolicyDocument ? { trust: doc(stack, props.AssumeRolePolicyDocument, `${logicalId}.AssumeRolePolicyDocument`) } : {}),
        policies: asArray(props.Policies as { PolicyName: unknown; PolicyDocument: unknown }[] | undefined).map((p, i) => ({
          name: `${id}/${resolver.resolveString(stack, p.PolicyName, `${logicalId}.Policies[${i}].PolicyName`)}`,
          document: doc(stack, p.PolicyDocument, `${logicalId}.Policies[${i}]`),
        })),
        managedPolicyArns: asArray(props.ManagedPolicyArns as unknown[] | undefined).map((a, i) => resolver.resolveString(stack, a, `${logicalId}.ManagedPolicyArns[${i}]`)),
      };
      roles.set(role.arn, role);
      roleByLogical.set(`${stack.stackName}/${logicalId}`, role);
    }
  }

  // 2. Policies attached to roles, resource policies, keys and encryption settings.
  for (const stack of stacks) {
    for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
      const props = r.Properties ?? {};
      const where = `${stack.stackName}/${logicalId}`;
      switch (r.Type) {
        case 'AWS::IAM::Policy': {
          const policy = { name: where, document: doc(stack, props.PolicyDocument, `${logicalId}.PolicyDocument`) };
          for (const ref of asArray(props.Roles as unknown[] | undefined)) {
            const roleName = resolver.resolveString(stack, ref, `${logicalId}.Roles`);
            const role = [...roles.values()].find((x) => x.name === roleName);
            if (!role) throw new Error(`${where}: attached to role ${roleName}, which is not in the assembly`);
            role.policies.push(policy);
          }
          break;
        }
        case 'AWS::S3::BucketPolicy': {
          const bucket = resolver.resolveString(stack, props.Bucket, `${logicalId}.Bucket`);
          resourcePolicies.set(`arn:aws:s3:::${bucket}`, { name: where, document: doc(stack, props.PolicyDocument, `${logicalId}.PolicyDocument`) });
          break;
        }
        case 'AWS::SNS::TopicPolicy': {
          for (const t of asArray(props.Topics as unknown[] | undefined)) {
            resourcePolicies.set(resolver.resolveString(stack, t, `${logicalId}.Topics`), { name: where, document: doc(stack, props.PolicyDocument, `${logicalId}.PolicyDocument`) });
          }
          break;
        }
        case 'AWS::KMS::Key': {
          const arn = resolver.arn(stack, logicalId);
          resourcePolicies.set(arn, { name: where, document: doc(stack, props.KeyPolicy, `${logicalId}.KeyPolicy`) });
          keyAliases.set(arn, arn);
          keyAliases.set(arn.replace(/^.*:key\//, ''), arn);
          break;
        }
        case 'AWS::KMS::Alias': {
          const name = resolver.resolveString(stack, props.AliasName, `${logicalId}.AliasName`);
          const target = resolver.resolveString(stack, props.TargetKeyId, `${logicalId}.TargetKeyId`);
          const keyArn = target.startsWith('arn:') ? target : `arn:aws:kms:${account.region}:${account.accountId}:key/${target}`;
          keyAliases.set(name, keyArn);
          keyAliases.set(`arn:aws:kms:${account.region}:${account.accountId}:${name}`, keyArn);
          break;
        }
        case 'AWS::S3::Bucket': {
          const rules = (props.BucketEncryption as { ServerSideEncryptionConfiguration?: { ServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: unknown } }[] } | undefined)
            ?.ServerSideEncryptionConfiguration;
          const byDefault = rules?.[0]?.ServerSideEncryptionByDefault;
          if (byDefault?.SSEAlgorithm === 'aws:kms' && byDefault.KMSMasterKeyID !== undefined) {
            bucketKeys.set(resolver.physicalName(stack, logicalId), resolver.resolveString(stack, byDefault.KMSMasterKeyID, `${logicalId}.BucketEncryption`));
          }
          break;
        }
        case 'AWS::SNS::Topic': {
          if (props.KmsMasterKeyId !== undefined) topicKeys.set(resolver.arn(stack, logicalId), resolver.resolveString(stack, props.KmsMasterKeyId, `${logicalId}.KmsMasterKeyId`));
          break;
        }
      }
    }
  }
  return { accountId: account.accountId, region: account.region, roles, resourcePolicies, bucketKeys, topicKeys, keyAliases };
}

/**
 * Edits a template of a synthesized assembly in place: what a test does to run the pipeline with a policy as it
 * was before a fix (`relearn local run` reuses an assembly whose inputs did not change, so the edit is what runs).
 * `stack` is the stack's name (e.g. `relearn-pipeline`) or its template file's base name.
 */
export function editAssemblyTemplate(outdir: string, stack: string, edit: (template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }) => void): void {
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { type: string; displayName?: string; properties?: { templateFile?: string; stackName?: string } }> };
  const artifact = Object.entries(manifest.artifacts).find(
    ([id, a]) => a.type === 'aws:cloudformation:stack' && (id === stack || a.properties?.stackName === stack || a.displayName === stack || a.properties?.templateFile === `${stack}.template.json`),
  );
  const file = artifact?.[1].properties?.templateFile;
  if (!file || !existsSync(join(outdir, file))) throw new Error(`${outdir}: no stack ${stack} in the assembly`);
  const template = JSON.parse(readFileSync(join(outdir, file), 'utf8'));
  edit(template);
  writeFileSync(join(outdir, file), JSON.stringify(template, null, 1));
}

/**
 * Removes, from the policy attached to the role of `roleLogicalIdPrefix`, the statements for which `match` is
 * true; returns how many it removed (throws when none: a test must not pass because its edit missed).
 */
export function removePolicyStatements(
  outdir: string,
  stack: string,
  roleLogicalIdPrefix: string,
  match: (statement: { Action?: unknown; Resource?: unknown; Effect?: string; Condition?: unknown }) => boolean,
): number {
  let removed = 0;
  editAssemblyTemplate(outdir, stack, (t) => {
    for (const r of Object.values(t.Resources)) {
      if (r.Type !== 'AWS::IAM::Policy') continue;
      const roles = (r.Properties?.Roles as { Ref?: string }[] | undefined) ?? [];
      if (!roles.some((ref) => typeof ref.Ref === 'string' && ref.Ref.startsWith(roleLogicalIdPrefix))) continue;
      const docu = r.Properties!.PolicyDocument as { Statement: unknown[] };
      const before = docu.Statement.length;
      docu.Statement = docu.Statement.filter((s) => !match(s as never));
      removed += before - docu.Statement.length;
    }
  });
  if (removed === 0) throw new Error(`no statement of ${roleLogicalIdPrefix}*'s policies in ${stack} matched`);
  return removed;
}
