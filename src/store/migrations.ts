/**
 * Versioned schemas for the SQLite stores (STYLE.md: undici's SQLite cache
 * store keeps a schema version; ours lives in `PRAGMA user_version`).
 *
 * A migration is applied once, in its own IMMEDIATE transaction that also
 * bumps `user_version`, so a crash leaves the file at the old version or the
 * new one, never between. Released migrations are never edited: a change is
 * a new, higher-numbered entry.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3, ...: the `user_version` the file has once this one is applied. */
  version: number;
  name: string;
  sql: string;
}

export interface MigrationResult {
  from: number;
  to: number;
}

/** A file written by a newer release: opening it could corrupt what that release relies on. */
export class SchemaTooNewError extends Error {
  readonly code = 'DB_SCHEMA_TOO_NEW';
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`database schema version ${found} is newer than this release knows (${known})`);
    this.name = 'SchemaTooNewError';
  }
}

/** DB1, the MMS-C's TTL store. Timestamps are integer milliseconds since the epoch. */
export const DB1_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, parts, recipients, events, idempotency, subscribers, vasps',
    sql: `
      CREATE TABLE messages (
        message_id       TEXT PRIMARY KEY NOT NULL,
        sender           TEXT NOT NULL,
        subject          TEXT,
        date             INTEGER NOT NULL,
        expires_at       INTEGER NOT NULL,
        origin_interface TEXT NOT NULL,
        -- 'mm7:<VASPID>' or 'mm1:<MSISDN>': who may cancel it
        source           TEXT NOT NULL,
        content_type     TEXT NOT NULL,
        size             INTEGER NOT NULL,
        destroyed        INTEGER NOT NULL DEFAULT 0,
        destroyed_at     INTEGER,
        -- 'expired' | 'cancelled'
        destroyed_reason TEXT,
        -- the whole MessageEnvelope, dates as integer ms
        envelope         TEXT NOT NULL
      );
      -- The sweeper's index: live messages only, so tombstones never slow it down.
      CREATE INDEX messages_expires_at ON messages (expires_at) WHERE destroyed = 0;

      CREATE TABLE parts (
        message_id       TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        seq              INTEGER NOT NULL,
        content_type     TEXT NOT NULL,
        content_id       TEXT,
        content_location TEXT,
        data             BLOB NOT NULL,
        PRIMARY KEY (message_id, seq)
      );

      CREATE TABLE recipients (
        message_id TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        address    TEXT NOT NULL,
        kind       TEXT NOT NULL,
        state      TEXT NOT NULL,
        token      TEXT NOT NULL UNIQUE,
        reason     TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (message_id, address)
      );
      CREATE INDEX recipients_address ON recipients (address);

      CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        -- NULL for an event of the whole message
        address    TEXT,
        at         INTEGER NOT NULL,
        type       TEXT NOT NULL,
        detail     TEXT
      );
      CREATE INDEX events_message ON events (message_id, id);

      CREATE TABLE idempotency (
        source         TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        message_id     TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        created_at     INTEGER NOT NULL,
        PRIMARY KEY (source, transaction_id)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_message ON idempotency (message_id);

      CREATE TABLE subscribers (
        address                 TEXT PRIMARY KEY NOT NULL,
        profile                 TEXT,
        archive_subscription_id TEXT,
        created_at              INTEGER NOT NULL
      );

      CREATE TABLE vasps (
        vasp_id TEXT PRIMARY KEY NOT NULL,
        config  TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'outbox: durable jobs for everything that leaves server 1',
    sql: `
      CREATE TABLE outbox (
        -- AUTOINCREMENT: an id is never reused after its job is deleted, so a
        -- new job is never mistaken for one still finishing in the worker.
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        kind          TEXT NOT NULL,
        key           TEXT NOT NULL,
        message_id    TEXT,
        address       TEXT,
        payload       TEXT NOT NULL,
        -- 'pending' until a handler says done (the row is deleted) or failed
        state         TEXT NOT NULL DEFAULT 'pending',
        attempts      INTEGER NOT NULL DEFAULT 0,
        due_at        INTEGER NOT NULL,
        give_up_at    INTEGER,
        holds_message INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        UNIQUE (kind, key)
      );
      CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending';
      -- The retention guard: does a pending job hold this message?
      CREATE INDEX outbox_holds ON outbox (message_id) WHERE holds_message = 1 AND state = 'pending';
    `,
  },
  {
    version: 3,
    name: 'archive: subscription associations, the subscriber change feed, sync positions',
    sql: `
      -- Step b of the archive flow: which subscription a recipient's copy goes to, and how far it got.
      CREATE TABLE archive_links (
        message_id      TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        address         TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        -- 'pending' until server 2 answered DeliverRsp 1000, then 'archived'
        state           TEXT NOT NULL,
        archive_id      TEXT,
        -- the subscriber's archive (album) link, as server 2 gave it in its DeliverRsp
        archive_link    TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (message_id, address)
      );
      CREATE INDEX archive_links_address ON archive_links (address, created_at);

      ALTER TABLE subscribers ADD COLUMN archive_plan TEXT;

      -- DB1's feed of subscriber data for server 2: every change to subscribers, in order.
      CREATE TABLE subscriber_changes (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL,
        profile TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        at      INTEGER NOT NULL
      );
      CREATE TRIGGER subscribers_feed_insert AFTER INSERT ON subscribers BEGIN
        INSERT INTO subscriber_changes (address, profile, deleted, at) VALUES (NEW.address, NEW.profile, 0, CAST(unixepoch('subsec') * 1000 AS INTEGER));
      END;
      -- Only what server 2 takes from DB1 (the terminal profile) makes a change; the
      -- subscription columns come from server 2 and must not echo back.
      CREATE TRIGGER subscribers_feed_update AFTER UPDATE OF profile ON subscribers WHEN OLD.profile IS NOT NEW.profile BEGIN
        INSERT INTO subscriber_changes (address, profile, deleted, at) VALUES (NEW.address, NEW.profile, 0, CAST(unixepoch('subsec') * 1000 AS INTEGER));
      END;
      CREATE TRIGGER subscribers_feed_delete AFTER DELETE ON subscribers BEGIN
        INSERT INTO subscriber_changes (address, profile, deleted, at) VALUES (OLD.address, NULL, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER));
      END;

      -- The sweeper's purge of old tombstones.
      CREATE INDEX messages_destroyed_at ON messages (destroyed_at) WHERE destroyed = 1;

      -- How far this node has read another node's feed.
      CREATE TABLE sync_positions (
        feed       TEXT PRIMARY KEY NOT NULL,
        position   INTEGER NOT NULL,
        head       INTEGER,
        pulled_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'smtp: MM3/MM4 interworking (SMTP helper)',
    sql: `
      -- MM4_forward.REQ sent to a peer, by X-Mms-Transaction-ID, so its
      -- MM4_forward.RES (which copies only the transaction id) finds the
      -- message and recipient it answers.
      CREATE TABLE mm4_transactions (
        transaction_id TEXT PRIMARY KEY NOT NULL,
        message_id     TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        address        TEXT NOT NULL,
        peer_domain    TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        -- X-Mms-Request-Status-Code of the .RES, once it came
        result         TEXT
      ) WITHOUT ROWID;
      CREATE INDEX mm4_transactions_message ON mm4_transactions (message_id, address);
    `,
  },
  {
    version: 5,
    name: 'transcoder: adapted content cache (transcoder helper)',
    sql: `
      -- Adapted parts per (content hash, profile id, transcoder version): the
      -- key is content-addressed, so messages with the same content share a row.
      CREATE TABLE transcode_cache (
        key        TEXT PRIMARY KEY NOT NULL,
        profile_id TEXT NOT NULL,
        -- serializeAdaptation(): header length, JSON header, the parts' octets
        content    BLOB NOT NULL,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- Pruning by size deletes the oldest rows first.
      CREATE INDEX transcode_cache_created ON transcode_cache (created_at);
    `,
  },
  {
    version: 6,
    name: 'parts longer than a piece stored in pieces (accept path)',
    sql: `
      -- SQLite builds a row whole in memory: a copy of the bound blob, then the
      -- record, so a 7 MB part cost two more 7 MB buffers at once on the accept
      -- path. A part longer than a piece (db1.ts PART_PIECE_OCTETS) keeps its
      -- first piece in parts.data and the rest here, in order.
      ALTER TABLE parts ADD COLUMN pieces INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE part_pieces (
        message_id TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        piece      INTEGER NOT NULL,
        data       BLOB NOT NULL,
        PRIMARY KEY (message_id, seq, piece)
      );
    `,
  },
];

/** Brings `db` up to the last of `migrations`; a no-op on a file that is already there. */
export function migrate(db: Database, migrations: readonly Migration[]): MigrationResult {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: version ${m.version}, expected ${i + 1}`);
  });
  const latest = migrations.length;
  const version = (): number => Number(db.pragma('user_version', { simple: true }));
  const from = version();
  if (from > latest) throw new SchemaTooNewError(from, latest);
  for (const m of migrations.slice(from)) {
    // IMMEDIATE takes the write lock first, then re-reads the version: a
    // second process opening the same file at the same moment waits
    // (busy_timeout) and then finds the work done.
    db.transaction(() => {
      if (version() >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: version() };
}
