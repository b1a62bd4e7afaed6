import { createHash } from 'node:crypto';

/**
 * Resolves CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::ImportValue, Fn::FindInMap,
 * Fn::Select, Fn::Split, Fn::If and conditions, Fn::Base64, pseudo parameters) the way CloudFormation would
 * after a deploy, with deterministic local physical names instead of the random suffixes CloudFormation picks.
 *
 * Only what is asked for is resolved: a template may hold resources local mode never needs (alarms, VPC
 * endpoints), and those never have to be resolvable. Whatever cannot be resolved raises UnresolvableError,
 * which names the stack, the resource or property being resolved and the intrinsic.
 */

export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  readonly Parameters?: Record<string, { Type: string; Default?: unknown }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly Conditions?: Record<string, unknown>;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly Condition?: string;
}

export interface StackTemplate {
  /** The deployed stack name (what `AWS::StackName` resolves to). */
  readonly stackName: string;
  readonly template: CfnTemplate;
}

/** Where the local "account" lives. ARNs built from these look real and parse like real ones. */
export interface LocalAccount {
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  readonly urlSuffix: string;
}

export const DEFAULT_LOCAL_ACCOUNT: LocalAccount = {
  region: 'us-east-1',
  accountId: '000000000000',
  partition: 'aws',
  urlSuffix: 'amazonaws.com',
};

/** Something in a template local mode cannot turn into a value. */
export class UnresolvableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnresolvableError';
  }
}

/** The property that carries an explicit physical name, per resource type. */
const NAME_PROPERTY: Record<string, string> = {
  'AWS::S3::Bucket': 'BucketName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
  'AWS::SageMaker::ModelPackageGroup': 'ModelPackageGroupName',
  'AWS::SageMaker::Model': 'ModelName',
  'AWS::SageMaker::EndpointConfig': 'EndpointConfigName',
  'AWS::SageMaker::Endpoint': 'EndpointName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::Events::Rule': 'Name',
  'AWS::KMS::Alias': 'AliasName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
};

/** Maximum physical name length per type (CloudFormation's generated names respect these). */
const NAME_LIMIT: Record<string, number> = {
  'AWS::S3::Bucket': 63,
  'AWS::Lambda::Function': 64,
  'AWS::IAM::Role': 64,
  'AWS::SageMaker::ModelPackageGroup': 63,
  'AWS::StepFunctions::StateMachine': 80,
  'AWS::SQS::Queue': 80,
  'AWS::SNS::Topic': 256,
};

type Scope = { readonly stack: StackTemplate; readonly where: string };

export class CfnResolver {
  private readonly stacks: readonly StackTemplate[];
  readonly account: LocalAccount;
  private exportsCache?: Map<string, { stack: StackTemplate; value: unknown; output: string }>;

  constructor(stacks: readonly StackTemplate[], account: LocalAccount = DEFAULT_LOCAL_ACCOUNT) {
    this.stacks = stacks;
    this.account = account;
  }

  stack(stackName: string): StackTemplate {
    const s = this.stacks.find((x) => x.stackName === stackName);
    if (!s) throw new UnresolvableError(`no stack named ${stackName} in the assembly (have: ${this.stacks.map((x) => x.stackName).join(', ')})`);
    return s;
  }

  resource(stack: StackTemplate, logicalId: string, where: string): CfnResource {
    const r = stack.template.Resources?.[logicalId];
    if (!r) throw new UnresolvableError(`${stack.stackName}: ${where}: no resource ${logicalId} in the template`);
    return r;
  }

  /** Resolves every intrinsic in `value`, in the context of `stack`. `where` names what is being resolved, for errors. */
  resolve(stack: StackTemplate, value: unknown, where: string): unknown {
    const out = this.walk(value, { stack, where });
    return out === NO_VALUE ? undefined : out;
  }

  /** Like resolve, but the result must be a string. */
  resolveString(stack: StackTemplate, value: unknown, where: string): string {
    const out = this.resolve(stack, value, where);
    if (typeof out !== 'string' && typeof out !== 'number' && typeof out !== 'boolean') {
      throw new UnresolvableError(`${stack.stackName}: ${where}: expected a string, got ${JSON.stringify(out)}`);
    }
    return String(out);
  }

  /**
   * The local physical name of a resource: its explicit name property when it has one, else
   * `<stack>-<logicalId>` (what CloudFormation generates, without the random suffix), lower-cased where the
   * service requires it, shortened with a hash when too long. Deterministic, so a second run finds the same names.
   */
  physicalName(stack: StackTemplate, logicalId: string, where = `physical name of ${logicalId}`): string {
    const r = this.resource(stack, logicalId, where);
    const prop = NAME_PROPERTY[r.Type];
    if (prop && r.Properties?.[prop] !== undefined) {
      return this.resolveString(stack, r.Properties[prop], `${logicalId}.${prop}`);
    }
    return generatedName(stack.stackName, logicalId, r.Type);
  }

  /** ARN of a resource (Fn::GetAtt X.Arn, and Ref for the types whose Ref is an ARN). */
  arn(stack: StackTemplate, logicalId: string, where = `ARN of ${logicalId}`): string {
    const r = this.resource(stack, logicalId, where);
    const name = this.physicalName(stack, logicalId, where);
    const { region, accountId, partition } = this.account;
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        return `arn:${partition}:s3:::${name}`;
      case 'AWS::Lambda::Function':
        return `arn:${partition}:lambda:${region}:${accountId}:function:${name}`;
      case 'AWS::SNS::Topic':
        return `arn:${partition}:sns:${region}:${accountId}:${name}`;
      case 'AWS::SQS::Queue':
        return `arn:${partition}:sqs:${region}:${accountId}:${name}`;
      case 'AWS::IAM::Role':
        return `arn:${partition}:iam::${accountId}:role/${name}`;
      case 'AWS::IAM::ManagedPolicy':
        return `arn:${partition}:iam::${accountId}:policy/${name}`;
      case 'AWS::KMS::Key':
        return `arn:${partition}:kms:${region}:${accountId}:key/${this.keyId(stack, logicalId)}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:${partition}:states:${region}:${accountId}:stateMachine:${name}`;
      case 'AWS::SageMaker::ModelPackageGroup':
        return `arn:${partition}:sagemaker:${region}:${accountId}:model-package-group/${name.toLowerCase()}`;
      case 'AWS::Logs::LogGroup':
        return `arn:${partition}:logs:${region}:${accountId}:log-group:${name}:*`;
      case 'AWS::Events::Rule':
        return `arn:${partition}:events:${region}:${accountId}:rule/${name}`;
      default: {
        // AWS::Service::Thing -> arn:aws:service:region:account:thing/name: right shape, good enough to pass along.
        const [, service, kind] = r.Type.split('::');
        return `arn:${partition}:${service.toLowerCase()}:${region}:${accountId}:${kebab(kind)}/${name}`;
      }
    }
  }

  private keyId(stack: StackTemplate, logicalId: string): string {
    const h = createHash('sha256').update(`${stack.stackName}/${logicalId}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  /** What `Ref` returns for a resource, per CloudFormation's documentation of each type. */
  ref(stack: StackTemplate, logicalId: string, where: string): string {
    const params = stack.template.Parameters;
    if (params && logicalId in params) {
      const p = params[logicalId];
      if (p.Default === undefined) {
        throw new UnresolvableError(`${stack.stackName}: ${where}: Ref ${logicalId}: the parameter has no Default and local mode passes no parameters`);
      }
      return String(p.Default);
    }
    const r = this.resource(stack, logicalId, `${where}: Ref ${logicalId}`);
    switch (r.Type) {
      case 'AWS::SNS::Topic':
      case 'AWS::StepFunctions::StateMachine':
      case 'AWS::SageMaker::ModelPackageGroup':
      case 'AWS::IAM::ManagedPolicy':
        return this.arn(stack, logicalId, where);
      case 'AWS::SQS::Queue':
        return this.queueUrl(stack, logicalId);
      case 'AWS::KMS::Key':
        return this.keyId(stack, logicalId);
      default:
        return this.physicalName(stack, logicalId, `${where}: Ref ${logicalId}`);
    }
  }

  private queueUrl(stack: StackTemplate, logicalId: string): string {
    const { region, accountId, urlSuffix } = this.account;
    return `https://sqs.${region}.${urlSuffix}/${accountId}/${this.physicalName(stack, logicalId)}`;
  }

  getAtt(stack: StackTemplate, logicalId: string, attribute: string, where: string): string {
    const r = this.resource(stack, logicalId, `${where}: Fn::GetAtt ${logicalId}.${attribute}`);
    const name = () => this.physicalName(stack, logicalId, where);
    const { region, urlSuffix } = this.account;
    const fail = (): never => {
      throw new UnresolvableError(
        `${stack.stackName}: ${where}: Fn::GetAtt ${logicalId}.${attribute}: local mode does not know the attribute ${attribute} of ${r.Type}`,
      );
    };
    if (attribute === 'Arn') return this.arn(stack, logicalId, where);
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        if (attribute === 'DomainName') return `${name()}.s3.${urlSuffix}`;
        if (attribute === 'RegionalDomainName') return `${name()}.s3.${region}.${urlSuffix}`;
        if (attribute === 'WebsiteURL') return `http://${name()}.s3-website-${region}.${urlSuffix}`;
        return fail();
      case 'AWS::SNS::Topic':
        if (attribute === 'TopicArn') return this.arn(stack, logicalId, where);
        if (attribute === 'TopicName') return name();
        return fail();
      case 'AWS::SQS::Queue':
        if (attribute === 'QueueName') return name();
        if (attribute === 'QueueUrl') return this.queueUrl(stack, logicalId);
        return fail();
      case 'AWS::IAM::Role':
        if (attribute === 'RoleId') return `AROA${createHash('sha256').update(name()).digest('hex').slice(0, 17).toUpperCase()}`;
        return fail();
      case 'AWS::KMS::Key':
        if (attribute === 'KeyId') return this.keyId(stack, logicalId);
        return fail();
      case 'AWS::StepFunctions::StateMachine':
        if (attribute === 'Name') return name();
        return fail();
      case 'AWS::SageMaker::ModelPackageGroup':
        if (attribute === 'ModelPackageGroupArn') return this.arn(stack, logicalId, where);
        return fail();
      case 'AWS::SageMaker::Endpoint':
        if (attribute === 'EndpointName') return name();
        return fail();
      default:
        if (/Name$/.test(attribute)) return name();
        return fail();
    }
  }

  /** Fn::ImportValue: the Output whose Export.Name resolves to `name`, in any stack, resolved in its own stack. */
  importValue(name: string, scope: Scope): unknown {
    if (!this.exportsCache) {
      this.exportsCache = new Map();
      for (const stack of this.stacks) {
        for (const [key, output] of Object.entries(stack.template.Outputs ?? {})) {
          if (!output.Export) continue;
          const exportName = this.resolveString(stack, output.Export.Name, `Outputs.${key}.Export.Name`);
          this.exportsCache.set(exportName, { stack, value: output.Value, output: key });
        }
      }
    }
    const hit = this.exportsCache.get(name);
    if (!hit) {
      const known = [...this.exportsCache.keys()];
      throw new UnresolvableError(
        `${scope.stack.stackName}: ${scope.where}: Fn::ImportValue ${name}: no stack exports it (exports: ${known.join(', ') || 'none'})`,
      );
    }
    return this.walk(hit.value, { stack: hit.stack, where: `Outputs.${hit.output} (imported by ${scope.stack.stackName})` });
  }

  private pseudo(name: string, scope: Scope): unknown {
    const { region, accountId, partition, urlSuffix } = this.account;
    switch (name) {
      case 'AWS::Region':
        return region;
      case 'AWS::AccountId':
        return accountId;
      case 'AWS::Partition':
        return partition;
      case 'AWS::URLSuffix':
        return urlSuffix;
      case 'AWS::StackName':
        return scope.stack.stackName;
      case 'AWS::StackId':
        return `arn:${partition}:cloudformation:${region}:${accountId}:stack/${scope.stack.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NoValue':
        return NO_VALUE;
      case 'AWS::NotificationARNs':
        return [];
      default:
        throw new UnresolvableError(`${scope.stack.stackName}: ${scope.where}: Ref ${name}: unknown pseudo parameter`);
    }
  }

  private condition(name: string, scope: Scope): boolean {
    const c = scope.stack.template.Conditions?.[name];
    if (c === undefined) throw new UnresolvableError(`${scope.stack.stackName}: ${scope.where}: Condition ${name} is not defined in the template`);
    return this.truthy(this.walk(c, { ...scope, where: `${scope.where} (condition ${name})` }), scope, `condition ${name}`);
  }

  private truthy(v: unknown, scope: Scope, what: string): boolean {
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw new UnresolvableError(`${scope.stack.stackName}: ${scope.where}: ${what} did not evaluate to a boolean (got ${JSON.stringify(v)})`);
  }

  private walk(value: unknown, scope: Scope): unknown {
    if (Array.isArray(value)) {
      return value.map((v) => this.walk(v, scope)).filter((v) => v !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::') || keys[0] === 'Condition')) {
      return this.intrinsic(keys[0], obj[keys[0]], scope);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = this.walk(obj[k], scope);
      if (v !== NO_VALUE) out[k] = v;
    }
    return out;
  }

  private intrinsic(fn: string, arg: unknown, scope: Scope): unknown {
    const bad = (what: string): never => {
      throw new UnresolvableError(`${scope.stack.stackName}: ${scope.where}: ${fn} ${JSON.stringify(arg)}: ${what}`);
    };
    switch (fn) {
      case 'Ref': {
        if (typeof arg !== 'string') return bad('expected a logical id');
        if (arg.startsWith('AWS::')) return this.pseudo(arg, scope);
        return this.ref(scope.stack, arg, scope.where);
      }
      case 'Fn::GetAtt': {
        const parts = typeof arg === 'string' ? splitOnce(arg, '.') : (this.walk(arg, scope) as unknown[]);
        if (!Array.isArray(parts) || parts.length !== 2) return bad('expected [logicalId, attribute]');
        return this.getAtt(scope.stack, String(parts[0]), String(parts[1]), scope.where);
      }
      case 'Fn::Join': {
        if (!Array.isArray(arg) || arg.length !== 2) return bad('expected [delimiter, list]');
        const delimiter = this.walk(arg[0], scope);
        const list = this.walk(arg[1], scope);
        if (typeof delimiter !== 'string' || !Array.isArray(list)) return bad('expected [delimiter, list]');
        return list.map((x) => (typeof x === 'object' ? bad(`an element resolved to ${JSON.stringify(x)}, not a string`) : String(x))).join(delimiter);
      }
      case 'Fn::Sub': {
        const [template, vars] = typeof arg === 'string' ? [arg, {}] : Array.isArray(arg) ? [arg[0], arg[1] ?? {}] : [undefined, undefined];
        if (typeof template !== 'string' || typeof vars !== 'object') return bad('expected a string or [string, variables]');
        const resolvedVars = this.walk(vars, scope) as Record<string, unknown>;
        return template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
          if (name.startsWith('!')) return `\${${name.slice(1)}}`;
          if (name in resolvedVars) return String(resolvedVars[name]);
          if (name.startsWith('AWS::')) return String(this.pseudo(name, scope));
          const dot = name.indexOf('.');
          if (dot > 0) return this.getAtt(scope.stack, name.slice(0, dot), name.slice(dot + 1), scope.where);
          if (!name) return bad(`empty variable in ${whole}`);
          return this.ref(scope.stack, name, scope.where);
        });
      }
      case 'Fn::ImportValue': {
        const name = this.walk(arg, scope);
        if (typeof name !== 'string') return bad('the export name did not resolve to a string');
        return this.importValue(name, scope);
      }
      case 'Fn::FindInMap': {
        const parts = this.walk(arg, scope);
        if (!Array.isArray(parts) || parts.length < 3) return bad('expected [map, topKey, secondKey]');
        const [map, top, second] = parts.map(String);
        const mapping = scope.stack.template.Mappings?.[map];
        if (!mapping) return bad(`no mapping ${map} in the template`);
        const row = mapping[top];
        if (!row) return bad(`mapping ${map} has no key ${top} (has: ${Object.keys(mapping).join(', ')})`);
        if (!(second in row)) return bad(`mapping ${map}.${top} has no key ${second} (has: ${Object.keys(row).join(', ')})`);
        return row[second];
      }
      case 'Fn::Select': {
        if (!Array.isArray(arg) || arg.length !== 2) return bad('expected [index, list]');
        const index = Number(this.walk(arg[0], scope));
        const list = this.walk(arg[1], scope);
        if (!Array.isArray(list)) return bad('the list did not resolve to a list');
        if (!Number.isInteger(index) || index < 0 || index >= list.length) return bad(`index ${index} is outside the list of ${list.length}`);
        return list[index];
      }
      case 'Fn::Split': {
        if (!Array.isArray(arg) || arg.length !== 2) return bad('expected [delimiter, string]');
        const delimiter = this.walk(arg[0], scope);
        const s = this.walk(arg[1], scope);
        if (typeof delimiter !== 'string' || typeof s !== 'string') return bad('expected a delimiter and a string');
        return s.split(delimiter);
      }
      case 'Fn::Base64': {
        const s = this.walk(arg, scope);
        if (typeof s !== 'string') return bad('expected a string');
        return Buffer.from(s, 'utf8').toString('base64');
      }
      case 'Fn::GetAZs': {
        const { region } = this.account;
        return ['a', 'b', 'c'].map((z) => `${region}${z}`);
      }
      case 'Fn::If': {
        if (!Array.isArray(arg) || arg.length !== 3 || typeof arg[0] !== 'string') return bad('expected [condition, ifTrue, ifFalse]');
        return this.condition(arg[0], scope) ? this.walk(arg[1], scope) : this.walk(arg[2], scope);
      }
      case 'Condition': {
        if (typeof arg !== 'string') return bad('expected a condition name');
        return this.condition(arg, scope);
      }
      case 'Fn::Equals': {
        if (!Array.isArray(arg) || arg.length !== 2) return bad('expected [a, b]');
        const [a, b] = arg.map((x) => this.walk(x, scope));
        return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
      }
      case 'Fn::Not': {
        if (!Array.isArray(arg) || arg.length !== 1) return bad('expected [condition]');
        return !this.truthy(this.walk(arg[0], scope), scope, fn);
      }
      case 'Fn::And':
        if (!Array.isArray(arg)) return bad('expected a list of conditions');
        return arg.every((x) => this.truthy(this.walk(x, scope), scope, fn));
      case 'Fn::Or':
        if (!Array.isArray(arg)) return bad('expected a list of conditions');
        return arg.some((x) => this.truthy(this.walk(x, scope), scope, fn));
      default:
        return bad('this intrinsic function is not supported in local mode');
    }
  }
}

const NO_VALUE = Symbol('AWS::NoValue');

function splitOnce(s: string, sep: string): string[] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

function kebab(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** `<stack>-<logicalId>`, shortened with a stable hash when over the type's limit; lower-case for buckets. */
export function generatedName(stackName: string, logicalId: string, type: string): string {
  const limit = NAME_LIMIT[type] ?? 64;
  let name = `${stackName}-${logicalId}`;
  if (type === 'AWS::S3::Bucket' || type === 'AWS::SageMaker::ModelPackageGroup') {
    name = name.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-');
  }
  if (name.length <= limit) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, limit - hash.length - 1).replace(/-$/, '')}-${hash}`;
}
