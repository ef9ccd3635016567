import type { Migration } from '../../db/migrate.js';

/** The gateway's own database; never shared with a signer node. */
export const GATEWAY_MIGRATIONS: readonly Migration[] = [
  {
    name: '0001_gateway_initial',
    sql: `
      create table settings (
        name text primary key,
        value bytea not null
      );

      create table scopes (
        scope_id text primary key,
        config jsonb not null,
        owner_public_key text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );

      create table accounts (
        account_id text primary key,
        scope_id text not null references scopes (scope_id),
        username text not null,
        display_name text not null,
        user_handle text not null,
        key_id text,
        public_key text,
        address text,
        created_at timestamptz not null default now(),
        unique (scope_id, username)
      );

      create table credentials (
        credential_id text primary key,
        account_id text not null references accounts (account_id) on delete cascade,
        public_key bytea not null,
        counter bigint not null,
        transports jsonb not null,
        created_at timestamptz not null default now()
      );
      create index credentials_account_idx on credentials (account_id);

      create table challenges (
        challenge_id text primary key,
        purpose text not null check (purpose in ('registration', 'authentication')),
        scope_id text not null,
        username text not null,
        key_binding text not null,
        challenge text not null,
        payload jsonb not null,
        expires_at timestamptz not null
      );

      create table sessions (
        session_id text primary key,
        account_id text not null references accounts (account_id) on delete cascade,
        expires_at timestamptz not null,
        revoked boolean not null default false
      );

      create table lambdas (
        lambda_id text primary key,
        scope_id text not null references scopes (scope_id),
        account_id text not null references accounts (account_id) on delete cascade,
        definition jsonb not null,
        max_executions int not null,
        executions int not null default 0,
        created_at timestamptz not null default now()
      );
      create index lambdas_owner_idx on lambdas (scope_id, account_id);

      create table used_signatures (
        digest text primary key,
        expires_at timestamptz not null
      );
    `,
  },
  {
    // Rows from before this migration carry no kind: one with a passkey credential was made
    // by completeRegistration, one without by delegatedRegistration (a passkey account gets
    // its credential before its key). The default is 'passkey' so that a row written by an
    // older gateway copy still running on the same database fails closed: no key-signed
    // request reaches it.
    name: '0002_account_kind',
    sql: `
      alter table accounts add column kind text not null default 'passkey' check (kind in ('passkey', 'delegated'));
      update accounts set kind = 'delegated'
        where not exists (select 1 from credentials c where c.account_id = accounts.account_id);
    `,
  },
  {
    // Pending challenges are bounded per client address and in all (issue 12: 6,439 stored
    // from one caller in 30 s). Rows from before carry no address and count only in all.
    name: '0003_challenge_bounds',
    sql: `
      alter table challenges add column client_address text;
      create index challenges_address_idx on challenges (client_address);
      create index challenges_expires_idx on challenges (expires_at);
    `,
  },
];
