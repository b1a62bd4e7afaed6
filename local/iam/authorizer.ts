import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Identity, IdentityStore, LOCAL_ACCOUNT_ID } from './identities';
import { DenialReason, evaluate, NamedPolicy, RequestContext, UnknownConditionKey, UnsupportedPolicy } from './policy';
import type { IamModel } from './template';

/**
 * The one function every local server asks: may this identity do this action on this resource, in this
 * context? It finds the identity's policies (the role's, from the synthesized template; AdministratorAccess for
 * the operator) and the resource's policy (bucket, topic or key policy), evaluates them (policy.ts), records
 * the decision, and answers allow or a named denial whose message is AWS's:
 *
 *   User: arn:aws:sts::000000000000:assumed-role/<role>/<session> is not authorized to perform: s3:GetObject
 *   on resource: "arn:aws:s3:::<bucket>/<key>" because no identity-based policy allows the s3:GetObject action
 *
 * A new local service (a Step Functions API, say) reuses it as it is: map the request to action + resource +
 * context, call `authorize`, answer the denial in that service's error shape.
 */

export type ServiceName = 's3' | 'sagemaker' | 'sns' | 'kms' | 'iam' | (string & {});

export interface AuthorizationRequest {
  readonly identity: Identity;
  /** `service:Action`. */
  readonly action: string;
  readonly resource: string;
  readonly context: RequestContext;
  /** The request that caused this check (e.g. `S3 GetObject`, `SageMaker.CreateTrainingJob`), for the log. */
  readonly request?: string;
}

export type AuthorizationResult =
  | { readonly allowed: true; readonly by: string }
  | { readonly allowed: false; readonly reason: DenialReason; readonly message: string; readonly by?: string };

/** One entry of the decision log. */
export interface DecisionRecord {
  readonly time: string;
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  readonly reason?: DenialReason;
  /** The policy (statement) that decided: `<stack>/<logicalId>[i]`, or `AdministratorAccess`. */
  readonly by?: string;
  readonly request?: string;
}

const ADMINISTRATOR_ACCESS: NamedPolicy = { name: 'AdministratorAccess', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } };

/** Condition keys every request carries (or knows to be absent: a principal's own call has no aws:SourceArn). */
export const GLOBAL_KNOWN_KEYS = ['aws:SecureTransport', 'aws:PrincipalArn', 'aws:PrincipalAccount', 'aws:PrincipalType', 'aws:userid', 'aws:username', 'aws:SourceArn', 'aws:SourceAccount', 'aws:ViaAWSService', 'aws:CalledVia', 'aws:RequestedRegion'];

const REASON_TEXT: Record<DenialReason, (action: string) => string> = {
  'explicit-deny-identity': () => 'with an explicit deny in an identity-based policy',
  'explicit-deny-resource': () => 'with an explicit deny in a resource-based policy',
  'no-identity-allow': (a) => `because no identity-based policy allows the ${a} action`,
  'no-resource-allow': (a) => `because no resource-based policy allows the ${a} action`,
};

/** AWS's AccessDenied text. S3 quotes the resource; SageMaker and SNS do not. */
export function accessDeniedMessage(principalArn: string, action: string, resource: string, reason: DenialReason, quoteResource = false): string {
  const r = quoteResource ? `"${resource}"` : resource;
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: ${r} ${REASON_TEXT[reason](action)}`;
}

export interface AuthorizerOptions {
  /** The template's IAM; without one, only the operator exists (bare servers in unit tests). */
  readonly model?: IamModel;
  /** Append every decision to this JSONL file (`.relearn/iam/decisions.jsonl`). @default - kept in memory only */
  readonly logFile?: string;
  /** Evaluate and log, but allow everything (`--no-iam`, for debugging only). @default true */
  readonly enforce?: boolean;
}

export class Authorizer {
  readonly identities = new IdentityStore();
  readonly model?: IamModel;
  readonly enforce: boolean;
  private readonly records: DecisionRecord[] = [];
  private flushed = 0;
  private readonly logFile?: string;
  /** Counts by service prefix: how many checks were allowed and denied. */
  readonly counts = { allowed: 0, denied: 0, byService: {} as Record<string, { allowed: number; denied: number }> };

  constructor(opts: AuthorizerOptions = {}) {
    this.model = opts.model;
    this.enforce = opts.enforce ?? true;
    this.logFile = opts.logFile;
  }

  get accountId(): string {
    return this.model?.accountId ?? LOCAL_ACCOUNT_ID;
  }

  get region(): string {
    return this.model?.region ?? 'us-east-1';
  }

  /** Every decision so far (for tests' assertions). */
  get decisions(): readonly DecisionRecord[] {
    return this.records;
  }

  /** The identity policies of a principal: the role's policies, or AdministratorAccess for the operator. */
  identityPolicies(identity: Identity): readonly NamedPolicy[] {
    if (identity.admin) return [ADMINISTRATOR_ACCESS];
    const role = identity.roleArn ? this.model?.roles.get(identity.roleArn) : undefined;
    // A role outside the template exists only in bare servers (unit tests without a template): it acts as the operator.
    if (!role) return this.model ? [] : [ADMINISTRATOR_ACCESS];
    return role.policies;
  }

  /** The policy of the resource itself: a bucket's (for the bucket and its objects), a topic's, a key's. */
  resourcePolicy(resource: string): NamedPolicy | undefined {
    if (!this.model) return undefined;
    const s3 = /^arn:aws:s3:::([^/]+)/.exec(resource);
    if (s3) return this.model.resourcePolicies.get(`arn:aws:s3:::${s3[1]}`);
    return this.model.resourcePolicies.get(resource);
  }

  authorize(req: AuthorizationRequest): AuthorizationResult {
    const { identity, action, resource } = req;
    const context: RequestContext = {
      values: {
        'aws:PrincipalArn': identity.principal.entityArn,
        'aws:PrincipalAccount': identity.principal.accountId,
        'aws:PrincipalType': identity.admin ? 'User' : 'AssumedRole',
        ...req.context.values,
      },
      known: [...GLOBAL_KNOWN_KEYS, ...(req.context.known ?? [])],
    };
    const isKms = action.toLowerCase().startsWith('kms:');
    const resourcePolicy = this.resourcePolicy(resource);
    let decision;
    try {
      decision = evaluate({
        principal: identity.principal,
        action,
        resource,
        resourceAccountId: this.accountId,
        context,
        identityPolicies: this.identityPolicies(identity),
        ...(resourcePolicy ? { resourcePolicy } : {}),
        // KMS: the key policy decides (a key with no policy in the template: none to require, bare servers).
        resourcePolicyRequired: isKms && resourcePolicy !== undefined,
      });
    } catch (err) {
      if (err instanceof UnknownConditionKey || err instanceof UnsupportedPolicy) {
        // Never guess: the request fails loudly, naming the key and the policy.
        this.record({ principal: identity.principal.arn, action, resource, allowed: false, by: err.message, request: req.request });
        throw err;
      }
      throw err;
    }
    const service = action.split(':')[0].toLowerCase();
    const bucket = (this.counts.byService[service] ??= { allowed: 0, denied: 0 });
    if (decision.allowed) {
      this.counts.allowed++;
      bucket.allowed++;
      this.record({ principal: identity.principal.arn, action, resource, allowed: true, by: decision.by, request: req.request });
      return { allowed: true, by: decision.by };
    }
    this.counts.denied++;
    bucket.denied++;
    this.record({ principal: identity.principal.arn, action, resource, allowed: false, reason: decision.reason, ...(decision.by ? { by: decision.by } : {}), request: req.request });
    if (!this.enforce) return { allowed: true, by: `(not enforced) would be denied: ${decision.reason}` };
    return {
      allowed: false,
      reason: decision.reason,
      message: accessDeniedMessage(identity.principal.arn, action, resource, decision.reason, service === 's3'),
      ...(decision.by ? { by: decision.by } : {}),
    };
  }

  /** Authorizes several action/resource pairs of one request; the first denial wins. */
  authorizeAll(identity: Identity, checks: readonly { action: string; resource: string; context?: RequestContext }[], request: string, base: RequestContext): AuthorizationResult {
    let last: AuthorizationResult = { allowed: true, by: 'nothing to check' };
    for (const c of checks) {
      const ctx: RequestContext = { values: { ...base.values, ...(c.context?.values ?? {}) }, known: [...(base.known ?? []), ...(c.context?.known ?? [])] };
      last = this.authorize({ identity, action: c.action, resource: c.resource, context: ctx, request });
      if (!last.allowed) return last;
    }
    return last;
  }

  private record(r: Omit<DecisionRecord, 'time'>): void {
    this.records.push({ time: new Date().toISOString(), ...r });
    // Bounded memory in a long session: older records live on in the log file.
    if (this.records.length > 50000 && this.flushed > 0) {
      const drop = Math.min(this.flushed, this.records.length - 50000);
      this.records.splice(0, drop);
      this.flushed -= drop;
    }
  }

  /** Appends the decisions not yet written to the log file. */
  flush(): void {
    if (!this.logFile || this.flushed >= this.records.length) return;
    mkdirSync(dirname(this.logFile), { recursive: true });
    appendFileSync(this.logFile, this.records.slice(this.flushed).map((r) => JSON.stringify(r)).join('\n') + '\n');
    this.flushed = this.records.length;
  }
}
