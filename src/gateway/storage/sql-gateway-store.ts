import { runMigrations } from '../../db/migrate.js';
import { openDatabase, type DatabaseConfig } from '../../db/open-database.js';
import type { SqlClient } from '../../db/sql.js';
import { GATEWAY_MIGRATIONS } from './migrations.js';
import { lockInSchema } from '../../db/schema-lock.js';
import { ScopeFullError } from './gateway-store.js';
import type {
  AccountId,
  ChallengeBound,
  AccountKind,
  AccountRecord,
  ChallengeRecord,
  CredentialRecord,
  GatewayStore,
  LambdaRecord,
  ScopeConfig,
  ScopeId,
  ScopeRecord,
  SessionRecord,
} from './gateway-store.js';

/** Advisory-lock space of the pending-challenge count (schema-lock.ts). */
const CHALLENGE_LOCK_SPACE = 0x6368616c; // "chal"

/** Plain PostgreSQL: the embedded PGlite today, a PostgreSQL server with the same SQL later. */
export class SqlGatewayStore implements GatewayStore {
  constructor(private readonly sql: SqlClient) {}

  /** The database underneath, for KEK rotation (db/reseal.ts). */
  get client(): SqlClient {
    return this.sql;
  }

  async getSetting(name: string): Promise<Uint8Array | undefined> {
    const { rows } = await this.sql.query<{ value: Uint8Array }>('select value from settings where name = $1', [name]);
    return rows[0] ? new Uint8Array(rows[0].value) : undefined;
  }

  async putSettingIfAbsent(name: string, value: Uint8Array): Promise<Uint8Array> {
    await this.sql.query('insert into settings (name, value) values ($1, $2) on conflict (name) do nothing', [name, value]);
    return (await this.getSetting(name))!;
  }

  async getScope(scopeId: ScopeId): Promise<ScopeRecord | undefined> {
    const { rows } = await this.sql.query<{ scope_id: string; config: ScopeConfig; owner_public_key: string | null }>(
      'select scope_id, config, owner_public_key from scopes where scope_id = $1',
      [scopeId],
    );
    const r = rows[0];
    return r && { scopeId: r.scope_id, config: r.config, ownerPublicKey: r.owner_public_key };
  }

  async insertScope(s: ScopeRecord): Promise<void> {
    await this.sql.query('insert into scopes (scope_id, config, owner_public_key) values ($1, $2::jsonb, $3)', [
      s.scopeId,
      JSON.stringify(s.config),
      s.ownerPublicKey,
    ]);
  }

  async updateScopeConfig(scopeId: ScopeId, config: ScopeConfig): Promise<void> {
    await this.sql.query('update scopes set config = $2::jsonb, updated_at = now() where scope_id = $1', [scopeId, JSON.stringify(config)]);
  }

  async reserveAccount(a: AccountRecord, maxPerScope?: number): Promise<boolean> {
    const insert = async (sql: SqlClient) => {
      const { rows } = await sql.query(
        `insert into accounts (account_id, scope_id, kind, username, display_name, user_handle, key_id, public_key, address)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (scope_id, username) do nothing returning account_id`,
        [a.accountId, a.scopeId, a.kind, a.username, a.displayName, a.userHandle, a.keyId, a.publicKey, a.address],
      );
      return rows.length === 1;
    };
    if (maxPerScope === undefined) return insert(this.sql);
    return this.sql.transaction(async (tx) => {
      // The scope's row is the lock: reservations in one scope wait for each other, others don't.
      await tx.query('select 1 from scopes where scope_id = $1 for update', [a.scopeId]);
      const { rows } = await tx.query<{ n: number }>('select count(*)::int as n from accounts where scope_id = $1', [a.scopeId]);
      if (rows[0]!.n >= maxPerScope) throw new ScopeFullError(maxPerScope);
      return insert(tx);
    });
  }

  async completeAccount(accountId: AccountId, key: { keyId: string; publicKey: string; address: string }): Promise<void> {
    await this.sql.query('update accounts set key_id = $2, public_key = $3, address = $4 where account_id = $1', [
      accountId,
      key.keyId,
      key.publicKey,
      key.address,
    ]);
  }

  async deleteAccount(accountId: AccountId): Promise<void> {
    await this.sql.query('delete from accounts where account_id = $1', [accountId]);
  }

  async findAccount(scopeId: ScopeId, username: string): Promise<AccountRecord | undefined> {
    const { rows } = await this.sql.query<AccountRow>('select * from accounts where scope_id = $1 and username = $2', [scopeId, username]);
    return rows[0] && accountOf(rows[0]);
  }

  async getAccount(accountId: AccountId): Promise<AccountRecord | undefined> {
    const { rows } = await this.sql.query<AccountRow>('select * from accounts where account_id = $1', [accountId]);
    return rows[0] && accountOf(rows[0]);
  }

  async insertCredential(c: CredentialRecord): Promise<void> {
    await this.sql.query(
      'insert into credentials (credential_id, account_id, public_key, counter, transports) values ($1, $2, $3, $4, $5::jsonb)',
      [c.credentialId, c.accountId, c.publicKey, c.counter, JSON.stringify(c.transports)],
    );
  }

  async credentialsOf(accountId: AccountId): Promise<CredentialRecord[]> {
    const { rows } = await this.sql.query<{ credential_id: string; account_id: string; public_key: Uint8Array; counter: string | number; transports: string[] }>(
      'select credential_id, account_id, public_key, counter, transports from credentials where account_id = $1 order by created_at',
      [accountId],
    );
    return rows.map((r) => ({
      credentialId: r.credential_id,
      accountId: r.account_id,
      publicKey: new Uint8Array(r.public_key),
      counter: Number(r.counter),
      transports: r.transports,
    }));
  }

  async bumpCounter(credentialId: string, from: number, to: number): Promise<boolean> {
    const { rows } = await this.sql.query('update credentials set counter = $3 where credential_id = $1 and counter = $2 returning 1', [
      credentialId,
      from,
      to,
    ]);
    return rows.length === 1;
  }

  async insertChallenge(c: ChallengeRecord, bound?: ChallengeBound): Promise<'stored' | 'address_full' | 'full'> {
    const insert = (sql: SqlClient) =>
      sql.query(
        `insert into challenges (challenge_id, purpose, scope_id, username, key_binding, challenge, payload, expires_at, client_address)
         values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
        [c.challengeId, c.purpose, c.scopeId, c.username, c.keyBinding, c.challenge, JSON.stringify(c.payload), c.expiresAt, bound?.clientAddress ?? null],
      );
    if (!bound) {
      await insert(this.sql);
      return 'stored';
    }
    return this.sql.transaction(async (tx) => {
      await lockInSchema(tx, CHALLENGE_LOCK_SPACE);
      const count = async () =>
        (
          await tx.query<{ total: number; mine: number }>(
            'select count(*)::int as total, (count(*) filter (where client_address = $1))::int as mine from challenges',
            [bound.clientAddress],
          )
        ).rows[0]!;
      let n = await count();
      if (n.total >= bound.total || n.mine >= bound.perAddress) {
        // Expired challenges still count until the sweep: clear them before refusing.
        await tx.query('delete from challenges where expires_at < $1', [new Date()]);
        n = await count();
      }
      if (n.mine >= bound.perAddress) return 'address_full';
      if (n.total >= bound.total) return 'full';
      await insert(tx);
      return 'stored';
    });
  }

  async countChallenges(): Promise<number> {
    const { rows } = await this.sql.query<{ n: number }>('select count(*)::int as n from challenges');
    return rows[0]!.n;
  }

  async consumeChallenge(challengeId: string): Promise<ChallengeRecord | undefined> {
    const { rows } = await this.sql.query<{
      challenge_id: string;
      purpose: ChallengeRecord['purpose'];
      scope_id: string;
      username: string;
      key_binding: string;
      challenge: string;
      payload: Record<string, unknown>;
      expires_at: Date;
    }>('delete from challenges where challenge_id = $1 returning *', [challengeId]);
    const r = rows[0];
    return (
      r && {
        challengeId: r.challenge_id,
        purpose: r.purpose,
        scopeId: r.scope_id,
        username: r.username,
        keyBinding: r.key_binding,
        challenge: r.challenge,
        payload: r.payload,
        expiresAt: new Date(r.expires_at),
      }
    );
  }

  async insertSession(s: SessionRecord): Promise<void> {
    await this.sql.query('insert into sessions (session_id, account_id, expires_at, revoked) values ($1, $2, $3, $4)', [
      s.sessionId,
      s.accountId,
      s.expiresAt,
      s.revoked,
    ]);
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.sql.query<{ session_id: string; account_id: string; expires_at: Date; revoked: boolean }>(
      'select session_id, account_id, expires_at, revoked from sessions where session_id = $1',
      [sessionId],
    );
    const r = rows[0];
    return r && { sessionId: r.session_id, accountId: r.account_id, expiresAt: new Date(r.expires_at), revoked: r.revoked };
  }

  async revokeSession(sessionId: string): Promise<void> {
    await this.sql.query('update sessions set revoked = true where session_id = $1', [sessionId]);
  }

  async insertLambda(l: LambdaRecord): Promise<void> {
    await this.sql.query(
      `insert into lambdas (lambda_id, scope_id, account_id, definition, max_executions, executions, created_at)
       values ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
      [l.lambdaId, l.scopeId, l.accountId, JSON.stringify(l.definition), l.maxExecutions, l.executions, l.createdAt],
    );
  }

  async listLambdas(scopeId: ScopeId, accountId: AccountId): Promise<LambdaRecord[]> {
    const { rows } = await this.sql.query<LambdaRow>('select * from lambdas where scope_id = $1 and account_id = $2 order by created_at', [
      scopeId,
      accountId,
    ]);
    return rows.map(lambdaOf);
  }

  async getLambda(lambdaId: string): Promise<LambdaRecord | undefined> {
    const { rows } = await this.sql.query<LambdaRow>('select * from lambdas where lambda_id = $1', [lambdaId]);
    return rows[0] && lambdaOf(rows[0]);
  }

  async claimLambdaExecution(lambdaId: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      'update lambdas set executions = executions + 1 where lambda_id = $1 and executions < max_executions returning 1',
      [lambdaId],
    );
    return rows.length === 1;
  }

  async markSignatureUsed(digest: string, expiresAt: Date): Promise<boolean> {
    const { rows } = await this.sql.query(
      'insert into used_signatures (digest, expires_at) values ($1, $2) on conflict (digest) do nothing returning 1',
      [digest, expiresAt],
    );
    return rows.length === 1;
  }

  async sweep(now: Date): Promise<void> {
    await this.sql.query('delete from challenges where expires_at < $1', [now]);
    await this.sql.query('delete from sessions where expires_at < $1', [now]);
    await this.sql.query('delete from used_signatures where expires_at < $1', [now]);
  }

  close(): Promise<void> {
    return this.sql.close();
  }
}

interface AccountRow {
  account_id: string;
  scope_id: string;
  kind: AccountKind;
  username: string;
  display_name: string;
  user_handle: string;
  key_id: string | null;
  public_key: string | null;
  address: string | null;
}

function accountOf(r: AccountRow): AccountRecord {
  return {
    accountId: r.account_id,
    scopeId: r.scope_id,
    kind: r.kind,
    username: r.username,
    displayName: r.display_name,
    userHandle: r.user_handle,
    keyId: r.key_id,
    publicKey: r.public_key,
    address: r.address,
  };
}

interface LambdaRow {
  lambda_id: string;
  scope_id: string;
  account_id: string;
  definition: unknown;
  max_executions: number;
  executions: number;
  created_at: Date;
}

function lambdaOf(r: LambdaRow): LambdaRecord {
  return {
    lambdaId: r.lambda_id,
    scopeId: r.scope_id,
    accountId: r.account_id,
    definition: r.definition,
    maxExecutions: r.max_executions,
    executions: r.executions,
    createdAt: new Date(r.created_at),
  };
}

/** The gateway's database: embedded under its data directory, or its schema on PostgreSQL (shared by every copy). */
export async function openGatewayStore(db: DatabaseConfig): Promise<SqlGatewayStore> {
  return new SqlGatewayStore(await openDatabase(db, (sql) => runMigrations(sql, GATEWAY_MIGRATIONS)));
}
