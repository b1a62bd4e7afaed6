import { randomBytes } from 'node:crypto';
import type { RequestPrincipal } from './policy';

/**
 * Who calls the local servers: the credentials local mode hands out, and the principal each set stands for.
 *
 * - Role sessions: each Lambda function runs with temporary credentials of its own role (session name = the
 *   function name), and the local SageMaker server acts for training jobs and endpoints with credentials of
 *   the execution role passed to CreateTrainingJob/CreateModel (session name `SageMaker`), as AWS does.
 * - The operator (`LOCAL_ADMIN`): what stands in for the person who runs `cdk deploy`, the CLI's reads and the
 *   tests' inspection. An IAM user with AdministratorAccess: every identity policy allows it, but a resource
 *   policy's explicit deny still applies (as in AWS).
 *
 * Anything else (unknown access key, a session token that does not belong to the key) is refused by the
 * servers with the service's own error (InvalidAccessKeyId, UnrecognizedClientException, InvalidClientTokenId).
 */

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface Identity {
  readonly credentials: Credentials;
  readonly principal: RequestPrincipal;
  /** The role a session belongs to (its policies are the role's); absent for the operator. */
  readonly roleArn?: string;
  readonly roleName?: string;
  readonly sessionName?: string;
  /** The operator: AdministratorAccess as its identity policy. */
  readonly admin: boolean;
}

/** The operator's long-term credentials (an IAM user's access key; fixed so a second process can use them too). */
export const LOCAL_ADMIN_CREDENTIALS: Credentials = { accessKeyId: 'AKIARELEARNLOCALADMN', secretAccessKey: 'relearn-local-operator-not-a-secret' };
export const LOCAL_ADMIN_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/relearn-local-admin`;

export const LOCAL_ADMIN: Identity = {
  credentials: LOCAL_ADMIN_CREDENTIALS,
  principal: { arn: LOCAL_ADMIN_ARN, entityArn: LOCAL_ADMIN_ARN, accountId: LOCAL_ACCOUNT_ID },
  admin: true,
};

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

// One local "STS" per process: a session handed out by one local server is known to the others (a test may
// start its S3 and SageMaker servers separately, each with its own Authorizer), as credentials are in one account.
const byKey = new Map<string, Identity>([[LOCAL_ADMIN_CREDENTIALS.accessKeyId, LOCAL_ADMIN]]);
const sessions = new Map<string, Identity>();

/** The credentials the servers accept, by access key id. */
export class IdentityStore {
  private readonly byKey = byKey;
  private readonly sessions = sessions;

  /** Temporary credentials of `roleArn` for `sessionName` (the same ones for the same pair, as a cached session). */
  session(roleArn: string, sessionName: string): Identity {
    const id = `${roleArn}|${sessionName}`;
    const existing = this.sessions.get(id);
    if (existing) return existing;
    const m = ROLE_ARN.exec(roleArn);
    if (!m) throw new Error(`not a role ARN: ${roleArn}`);
    const [, accountId, roleName] = m;
    // Temporary credentials look like STS's: ASIA + 16 characters, a 40-character secret, a session token.
    const accessKeyId = `ASIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`;
    const identity: Identity = {
      credentials: { accessKeyId, secretAccessKey: randomBytes(30).toString('base64'), sessionToken: randomBytes(48).toString('base64') },
      principal: { arn: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`, entityArn: roleArn, accountId },
      roleArn,
      roleName,
      sessionName,
      admin: false,
    };
    this.sessions.set(id, identity);
    this.byKey.set(accessKeyId, identity);
    return identity;
  }

  byAccessKey(accessKeyId: string): Identity | undefined {
    return this.byKey.get(accessKeyId);
  }
}
