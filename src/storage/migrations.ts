import type { SqlClient } from '../db/sql.js';
import { runMigrations, type Migration } from '../db/migrate.js';

/** Plain PostgreSQL, so the embedded and server backends share one schema history. */
export const NODE_MIGRATIONS: readonly Migration[] = [
  {
    name: '0001_initial',
    sql: `
      create table settings (
        name text primary key,
        value text not null
      );

      create table users (
        user_id text primary key,
        api_key_hash bytea not null,
        created_at timestamptz not null
      );

      create table keys (
        key_id text primary key,
        family text not null check (family in ('bip340', 'ecdsa', 'ed25519')),
        owner_user_id text not null references users (user_id),
        public_key bytea not null,
        threshold int not null,
        parties jsonb not null,
        public_package jsonb not null,
        share_ciphertext bytea not null,
        created_at timestamptz not null
      );

      create index keys_owner_user_id_idx on keys (owner_user_id);
    `,
  },
  {
    // Policies (rules, policies, bindings), the rule counters and the audit log: see
    // sql-policy-store.ts and audit-log.ts. Rules and policies are per node.
    name: '0002_policies_and_audit',
    sql: `
      create table rules (
        rule_id text primary key,
        name text not null unique,
        definition jsonb not null,
        created_at timestamptz not null
      );

      create table policies (
        policy_id text primary key,
        name text not null unique,
        created_at timestamptz not null
      );

      -- A policy's rules in order. Deleting a policy takes its list with it; a rule still
      -- listed can't be deleted (no cascade from rules).
      create table policy_rules (
        policy_id text not null references policies (policy_id) on delete cascade,
        rule_id text not null references rules (rule_id),
        position int not null,
        primary key (policy_id, rule_id),
        unique (policy_id, position)
      );
      create index policy_rules_rule_id_idx on policy_rules (rule_id);

      -- Bindings go with their user or key; a policy still bound can't be deleted.
      create table user_policies (
        user_id text primary key references users (user_id) on delete cascade,
        policy_id text not null references policies (policy_id)
      );
      create index user_policies_policy_id_idx on user_policies (policy_id);

      create table key_policies (
        key_id text primary key references keys (key_id) on delete cascade,
        policy_id text not null references policies (policy_id)
      );
      create index key_policies_policy_id_idx on key_policies (policy_id);

      -- Sliding-window rate limits: one row per use still inside its window.
      create table rule_rate_events (
        counter_key text not null,
        at timestamptz not null
      );
      create index rule_rate_events_key_at_idx on rule_rate_events (counter_key, at);

      -- Daily value caps: wei totals need up to 78 decimal digits (2^256 - 1).
      create table rule_daily_totals (
        counter_key text not null,
        day date not null,
        total numeric(78, 0) not null check (total >= 0),
        primary key (counter_key, day)
      );

      -- Append-only, hash-chained (see audit-log.ts). detail is the canonical JSON text
      -- that was hashed, so verification recomputes exactly what was signed off.
      create table audit_log (
        seq bigint primary key check (seq >= 1),
        ts timestamptz not null,
        request_id text not null,
        actor text not null,
        operation text not null,
        key_id text,
        rule_id text,
        result text not null check (result in ('ok', 'refused', 'failed')),
        detail text,
        prev_hash text not null,
        hash text not null unique
      );
    `,
  },
  {
    name: '0003_signed_requests',
    sql: `
      -- A user's request-signing public key (Ed25519 or P-256), the alternative to its API key.
      create table user_request_keys (
        user_id text primary key references users (user_id) on delete cascade,
        key_type text not null check (key_type in ('ed25519', 'p256')),
        public_key bytea not null
      );

      -- Nonces of signed requests this node has accepted, kept past their freshness window.
      create table request_nonces (
        user_id text not null,
        nonce text not null,
        expires_at timestamptz not null,
        primary key (user_id, nonce)
      );
      create index request_nonces_expiry_idx on request_nonces (expires_at);
    `,
  },
  {
    name: '0004_rooms',
    sql: `
      -- A room: one future ceremony in which client parties (a device, an app backend) take
      -- part beside nodes. Every node keeps its own copy; each copy is used once.
      create table rooms (
        room_uuid text primary key,
        owner_user_id text not null references users (user_id) on delete cascade,
        num_parties integer not null check (num_parties >= 2),
        -- [{ "party_id", "public_key" }]: the clients' X25519 channel keys (hex).
        clients jsonb not null,
        relay_address text not null,
        expires_at timestamptz not null,
        used_at timestamptz
      );
      create index rooms_expiry_idx on rooms (expires_at);

      -- The channel keys of a key's client parties, pinned at keygen: a later room that
      -- signs with the key must name the same client with the same key.
      create table key_clients (
        key_id text not null references keys (key_id) on delete cascade,
        party_id text not null,
        public_key bytea not null,
        primary key (key_id, party_id)
      );
    `,
  },
  {
    name: '0005_key_bans',
    sql: `
      -- Parties this node never runs a ceremony with again on a key (a failed DKLs23
      -- OT-extension, mu or Gamma check: see src/ceremony/bans.ts). Lifted only by replacing
      -- the key material. Release 0.1.0 kept them as settings named dkls23-ban:<key>:<party>.
      create table key_bans (
        key_id text not null,
        party_id text not null,
        reason text not null,
        created_at timestamptz not null,
        primary key (key_id, party_id)
      );
      create index key_bans_created_idx on key_bans (created_at);
      insert into key_bans (key_id, party_id, reason, created_at)
        select split_part(name, ':', 2), split_part(name, ':', 3), value, now()
        from settings where name like 'dkls23-ban:%:%';
      delete from settings where name like 'dkls23-ban:%:%';
    `,
  },
  {
    name: '0006_seen_invitations',
    sql: `
      -- Ceremonies this node was invited to and acted on, kept until their invitations are
      -- too old to pass the age check: a replay is refused after a restart too (see
      -- InvitationLedger in src/node/peer-network.ts).
      create table seen_invitations (
        ceremony_id text primary key,
        expires_at timestamptz not null
      );
      create index seen_invitations_expiry_idx on seen_invitations (expires_at);
    `,
  },
  {
    name: '0007_key_passkeys',
    sql: `
      -- A key bound to its end user's passkey at key generation: this node signs with it
      -- only on that passkey's assertion over the request (src/node/passkey-owner.ts).
      create table key_passkeys (
        key_id text primary key references keys (key_id) on delete cascade,
        owner jsonb not null
      );
    `,
  },
];

/** Brings a signer node's schema up to date; see `runMigrations`. */
export function migrate(sql: SqlClient): Promise<string[]> {
  return runMigrations(sql, NODE_MIGRATIONS);
}
