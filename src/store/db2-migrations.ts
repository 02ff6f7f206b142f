/**
 * DB2, the archive node's store (server 2). Applied with migrate() of
 * migrations.ts; released entries are never edited, a change is a new one.
 * Timestamps are integer milliseconds since the epoch.
 */
import type { Migration } from './migrations.js';

export const DB2_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'subscriptions, change feed, archived messages and parts, subscribers from server 1, sync positions, CDRs, thumbnails',
    sql: `
      CREATE TABLE subscriptions (
        -- 128 random bits, base64url: unguessable, it is what the album token names
        id            TEXT PRIMARY KEY NOT NULL,
        address       TEXT NOT NULL,
        plan          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        ended_at      INTEGER,
        -- bumped to revoke every album/confirmation link issued so far
        token_version INTEGER NOT NULL DEFAULT 0
      );
      -- One live subscription per address.
      CREATE UNIQUE INDEX subscriptions_live_address ON subscriptions (address) WHERE ended_at IS NULL;

      -- The feed server 1 pulls into DB1: one row per change, seq = the position.
      CREATE TABLE subscription_changes (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        address         TEXT NOT NULL,
        -- NULL when the address's subscription ended
        subscription_id TEXT,
        plan            TEXT,
        at              INTEGER NOT NULL
      );

      CREATE TABLE messages (
        rowid_          INTEGER PRIMARY KEY,
        archive_id      TEXT NOT NULL UNIQUE,
        original_id     TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        subscription_id TEXT,
        sender          TEXT NOT NULL,
        subject         TEXT,
        date            INTEGER,
        received_at     INTEGER NOT NULL,
        content_type    TEXT NOT NULL,
        release         TEXT NOT NULL,
        -- 'server1' | 'server2' | NULL (the plan keeps everything)
        extracted_on    TEXT,
        -- JSON: [{contentType, contentId?, reason}]
        dropped         TEXT NOT NULL,
        -- JSON: what the plan cut (audio trimmed)
        trimmed         TEXT NOT NULL,
        -- JSON: enrichment (archive link, notice, geolocation), {} when none
        additional      TEXT NOT NULL,
        size            INTEGER NOT NULL,
        -- the idempotency key of the forward: at-least-once delivery stores once
        UNIQUE (original_id, recipient)
      );
      CREATE INDEX messages_recipient ON messages (recipient, rowid_);
      CREATE INDEX messages_subscription ON messages (subscription_id, rowid_);

      CREATE TABLE parts (
        message          INTEGER NOT NULL REFERENCES messages (rowid_) ON DELETE CASCADE,
        seq              INTEGER NOT NULL,
        content_type     TEXT NOT NULL,
        content_id       TEXT,
        content_location TEXT,
        data             BLOB NOT NULL,
        PRIMARY KEY (message, seq)
      ) WITHOUT ROWID;

      CREATE TABLE thumbnails (
        message INTEGER NOT NULL REFERENCES messages (rowid_) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (message, seq)
      ) WITHOUT ROWID;

      -- Server 1's subscriber data (address, terminal profile), pulled from its feed.
      CREATE TABLE subscribers (
        address    TEXT PRIMARY KEY NOT NULL,
        profile    TEXT,
        seq        INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      -- Where each feed consumer is: 'subscribers' = our pull of server 1.
      CREATE TABLE sync_positions (
        feed         TEXT PRIMARY KEY NOT NULL,
        position     INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
      );

      CREATE TABLE cdrs (
        id              INTEGER PRIMARY KEY,
        subscription_id TEXT NOT NULL,
        archive_id      TEXT NOT NULL,
        event           TEXT NOT NULL,
        at              INTEGER NOT NULL,
        -- decimal text as the plan states it ("0.05"): no float rounding in billing
        amount          TEXT NOT NULL,
        currency        TEXT NOT NULL
      );
      CREATE INDEX cdrs_at ON cdrs (at);
    `,
  },
];
