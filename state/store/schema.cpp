// Schema migrations of the SQLite store (schema.hpp). Step N brings user_version N-1 to N; a
// new step is appended, never edited once released. All steps missing from a database run in
// one IMMEDIATE transaction together with the user_version bump, so a crash leaves either the
// old schema or the new one.
#include "state/store/schema.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace cashier::store {
namespace {

// 'CASH': marks the file as a cashierd database, so a foreign SQLite file is refused.
constexpr std::int64_t application_id = 0x43415348;

// Version 1. Times are epoch milliseconds, money is integer minor units, statuses and pending
// actions are their public names ('' = no pending action). Logs are append-only (triggers).
// Enumerations are checked with OR chains, never `IN (...)` lists of more than two constants:
// for those SQLite builds an ephemeral index each time a statement runs, and a CHECK runs on
// every write of its column (measured: a notify's payment update took ~10x longer).
constexpr const char* schema_v1 = R"sql(
CREATE TABLE payments (
  id                   INTEGER PRIMARY KEY,
  version              INTEGER NOT NULL CHECK (version >= 1),
  payment_request_id   TEXT NOT NULL UNIQUE,
  merchant_id          TEXT NOT NULL,
  status               TEXT NOT NULL
                       CHECK (status = 'INIT' OR status = 'IN_PROCESS' OR status = 'SUCCESS'
                              OR status = 'FAIL' OR status = 'CANCELLED'),
  pending              TEXT NOT NULL
                       CHECK (pending = '' OR pending = 'PAY' OR pending = 'INQUIRY'
                              OR pending = 'CANCEL'),
  cancel_abandoned     INTEGER NOT NULL CHECK (cancel_abandoned IN (0, 1)),
  attempt              INTEGER NOT NULL,
  event_seq            INTEGER NOT NULL,
  amount_minor         INTEGER NOT NULL,
  currency             TEXT NOT NULL CHECK (length(currency) = 3),
  expiry_at            INTEGER NOT NULL,
  poll_deadline_at     INTEGER NOT NULL,
  next_action_at       INTEGER NOT NULL,
  last_hint_inquiry_at INTEGER NOT NULL,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL,
  pay_request          BLOB NOT NULL,
  merchant_request     BLOB NOT NULL,
  merchant_notify_url  TEXT NOT NULL,
  aplus_payment_id     TEXT NOT NULL,
  normal_url           TEXT NOT NULL,
  payment_data         TEXT NOT NULL,
  wallet_brand_name    TEXT NOT NULL,
  customer_id          TEXT NOT NULL,
  payment_time         TEXT NOT NULL,
  settlement_minor     INTEGER,
  settlement_currency  TEXT,
  result_code          TEXT,
  result_status        TEXT CHECK (result_status = 'S' OR result_status = 'F' OR result_status = 'U'),
  result_message       TEXT,
  cancel_reason        TEXT NOT NULL,
  CHECK ((settlement_minor IS NULL) = (settlement_currency IS NULL)),
  CHECK ((result_code IS NULL) = (result_status IS NULL)
         AND (result_code IS NULL) = (result_message IS NULL)),
  -- An open payment always waits on something; a final one at most on a cancel.
  CHECK (status NOT IN ('INIT', 'IN_PROCESS') OR pending <> ''),
  CHECK (status IN ('INIT', 'IN_PROCESS') OR pending IN ('', 'CANCEL'))
) STRICT;
-- Recovery and overdue scans read only this small index (covering: the row id is in it).
CREATE INDEX payments_open ON payments (next_action_at, poll_deadline_at, status, pending)
  WHERE status IN ('INIT', 'IN_PROCESS') OR pending <> '';
CREATE INDEX payments_by_created ON payments (created_at);
-- Counts per status, kept by triggers: stats stay O(1), and no index on status is rewritten by
-- every update (SQLite rewrites an index entry whenever its column is SET, even to itself).
CREATE TABLE status_counts (
  status TEXT PRIMARY KEY,
  n      INTEGER NOT NULL CHECK (n >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO status_counts (status, n)
  VALUES ('INIT', 0), ('IN_PROCESS', 0), ('SUCCESS', 0), ('FAIL', 0), ('CANCELLED', 0);
CREATE TRIGGER payments_count_insert AFTER INSERT ON payments
  BEGIN UPDATE status_counts SET n = n + 1 WHERE status = NEW.status; END;
CREATE TRIGGER payments_count_update AFTER UPDATE OF status ON payments
  WHEN OLD.status <> NEW.status
  BEGIN
    UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
  END;

CREATE TABLE payment_events (
  id           INTEGER PRIMARY KEY,
  payment_id   INTEGER NOT NULL REFERENCES payments (id),
  version      INTEGER NOT NULL,
  at           INTEGER NOT NULL,
  from_status  TEXT,
  from_pending TEXT,
  to_status    TEXT NOT NULL,
  to_pending   TEXT NOT NULL,
  cause        TEXT NOT NULL,
  detail       TEXT NOT NULL
) STRICT;
-- One event per payment version: a transition writes exactly one version.
CREATE UNIQUE INDEX payment_events_by_payment ON payment_events (payment_id, version);

CREATE TABLE aplus_calls (
  id               INTEGER PRIMARY KEY,
  payment_id       INTEGER REFERENCES payments (id),
  api              TEXT NOT NULL,
  request_body     BLOB NOT NULL,
  request_headers  BLOB NOT NULL,
  http_status      INTEGER NOT NULL,
  response_body    BLOB NOT NULL,
  response_headers BLOB NOT NULL,
  outcome          TEXT NOT NULL,
  started_at       INTEGER NOT NULL,
  latency_us       INTEGER NOT NULL
) STRICT;
CREATE INDEX aplus_calls_by_payment ON aplus_calls (payment_id);

CREATE TABLE inbound_notifies (
  id                 INTEGER PRIMARY KEY,
  payment_id         INTEGER REFERENCES payments (id),
  payment_request_id TEXT NOT NULL,
  body               BLOB NOT NULL,
  headers            BLOB NOT NULL,
  verification       TEXT NOT NULL,
  received_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX inbound_notifies_by_payment ON inbound_notifies (payment_id);

-- AUTOINCREMENT: the row id is the events-feed cursor and must never be reused.
CREATE TABLE merchant_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id        TEXT NOT NULL UNIQUE,
  payment_id      INTEGER NOT NULL REFERENCES payments (id),
  seq             INTEGER NOT NULL,
  type            TEXT NOT NULL,
  payload         TEXT NOT NULL,
  target_url      TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'dead'),
  last_status     INTEGER NOT NULL,
  last_error      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (payment_id, seq)
) STRICT;
CREATE INDEX merchant_outbox_due ON merchant_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX merchant_outbox_dead ON merchant_outbox (id) WHERE state = 'dead';

CREATE TABLE webhook_attempts (
  id          INTEGER PRIMARY KEY,
  event_id    TEXT NOT NULL REFERENCES merchant_outbox (event_id),
  at          INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error       TEXT NOT NULL,
  latency_us  INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (event_id);

CREATE TABLE anomalies (
  id         INTEGER PRIMARY KEY,
  payment_id INTEGER REFERENCES payments (id),
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL,
  at         INTEGER NOT NULL
) STRICT;
CREATE INDEX anomalies_by_payment ON anomalies (payment_id);
CREATE INDEX anomalies_by_time ON anomalies (at);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER payment_events_append_only_u BEFORE UPDATE ON payment_events
  BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;
CREATE TRIGGER payment_events_append_only_d BEFORE DELETE ON payment_events
  BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;
CREATE TRIGGER aplus_calls_append_only_u BEFORE UPDATE ON aplus_calls
  BEGIN SELECT RAISE(ABORT, 'aplus_calls is append-only'); END;
CREATE TRIGGER aplus_calls_append_only_d BEFORE DELETE ON aplus_calls
  BEGIN SELECT RAISE(ABORT, 'aplus_calls is append-only'); END;
CREATE TRIGGER inbound_notifies_append_only_u BEFORE UPDATE ON inbound_notifies
  BEGIN SELECT RAISE(ABORT, 'inbound_notifies is append-only'); END;
CREATE TRIGGER inbound_notifies_append_only_d BEFORE DELETE ON inbound_notifies
  BEGIN SELECT RAISE(ABORT, 'inbound_notifies is append-only'); END;
CREATE TRIGGER webhook_attempts_append_only_u BEFORE UPDATE ON webhook_attempts
  BEGIN SELECT RAISE(ABORT, 'webhook_attempts is append-only'); END;
CREATE TRIGGER webhook_attempts_append_only_d BEFORE DELETE ON webhook_attempts
  BEGIN SELECT RAISE(ABORT, 'webhook_attempts is append-only'); END;
CREATE TRIGGER anomalies_append_only_u BEFORE UPDATE ON anomalies
  BEGIN SELECT RAISE(ABORT, 'anomalies is append-only'); END;
CREATE TRIGGER anomalies_append_only_d BEFORE DELETE ON anomalies
  BEGIN SELECT RAISE(ABORT, 'anomalies is append-only'); END;
CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments
  BEGIN SELECT RAISE(ABORT, 'payments are never deleted'); END;
)sql";

// Issue 14 (machine): how a pending action is pursued (last look, confirming inquiry, slow
// path, parked), when the slow path started, how often a cancel was refused, and whether the
// merchant is owed payment.pending. Rows settled by inquiry after CANCEL_WINDOW_EXCEED (the old
// "INQUIRY abandoned": pending INQUIRY with cancel_abandoned) enter the slow path, its 7 days
// counted from their last update; every other row keeps its course (track 'normal').
constexpr const char* step_settle_track = R"sql(
ALTER TABLE payments ADD COLUMN track TEXT NOT NULL DEFAULT 'normal'
  CHECK (track = 'normal' OR track = 'last_look' OR track = 'confirm_cancel'
         OR track = 'slow_path' OR track = 'parked');
ALTER TABLE payments ADD COLUMN slow_path_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN cancel_refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN pending_notice INTEGER NOT NULL DEFAULT 0
  CHECK (pending_notice >= 0 AND pending_notice <= 2);
UPDATE payments SET track = 'slow_path', slow_path_since = updated_at
  WHERE cancel_abandoned = 1 AND pending = 'INQUIRY'
    AND (status = 'INIT' OR status = 'IN_PROCESS');
UPDATE payments SET cancel_abandoned = 0 WHERE cancel_abandoned = 1 AND track = 'normal';
)sql";

// Notify budget and retention (issue 14, item 2; guarantee 6). inbound_notifies gains a digest
// (an identical re-sent notify is counted on its row: times_received, last_received_at), the
// size of the body as received (a rejected notify keeps only a prefix), and a partial index
// over rejected rows for the budget's eviction. Authentic notifies ('ok', and 'garbled': signed
// by Alipay+ but not decodable) are audit rows; every other verdict is a rejected notify. The
// append-only triggers are redefined so that only deliberate paths delete: a rejected notify may
// be evicted by the budget; authentic notifies, calls, webhook attempts and events only while `cashierctl prune` holds the
// 'prune_in_progress' meta row, which it inserts and deletes inside its own transaction (no
// other connection ever sees it). Updates of inbound_notifies may touch only the two counters.
constexpr const char* notify_budget_step = R"sql(
DROP TRIGGER inbound_notifies_append_only_u;
DROP TRIGGER inbound_notifies_append_only_d;
ALTER TABLE inbound_notifies ADD COLUMN digest BLOB;
ALTER TABLE inbound_notifies ADD COLUMN body_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbound_notifies ADD COLUMN times_received INTEGER NOT NULL DEFAULT 1
  CHECK (times_received >= 1);
ALTER TABLE inbound_notifies ADD COLUMN last_received_at INTEGER NOT NULL DEFAULT 0;
UPDATE inbound_notifies SET body_bytes = length(body), last_received_at = received_at;
CREATE UNIQUE INDEX inbound_notifies_by_digest ON inbound_notifies (digest)
  WHERE digest IS NOT NULL;
CREATE INDEX inbound_notifies_rejected ON inbound_notifies (id)
  WHERE verification <> 'ok' AND verification <> 'garbled';
CREATE TRIGGER inbound_notifies_append_only_u BEFORE UPDATE OF id, payment_id,
  payment_request_id, body, headers, verification, received_at, digest, body_bytes
  ON inbound_notifies
  BEGIN SELECT RAISE(ABORT, 'inbound_notifies is append-only'); END;
CREATE TRIGGER inbound_notifies_append_only_d BEFORE DELETE ON inbound_notifies
  WHEN (OLD.verification = 'ok' OR OLD.verification = 'garbled')
    AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'prune_in_progress')
  BEGIN SELECT RAISE(ABORT, 'inbound_notifies is append-only'); END;
DROP TRIGGER payment_events_append_only_d;
CREATE TRIGGER payment_events_append_only_d BEFORE DELETE ON payment_events
  WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = 'prune_in_progress')
  BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;
DROP TRIGGER aplus_calls_append_only_d;
CREATE TRIGGER aplus_calls_append_only_d BEFORE DELETE ON aplus_calls
  WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = 'prune_in_progress')
  BEGIN SELECT RAISE(ABORT, 'aplus_calls is append-only'); END;
DROP TRIGGER webhook_attempts_append_only_d;
CREATE TRIGGER webhook_attempts_append_only_d BEFORE DELETE ON webhook_attempts
  WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = 'prune_in_progress')
  BEGIN SELECT RAISE(ABORT, 'webhook_attempts is append-only'); END;
)sql";

// Issue 14, merchant identity and event ids: paymentRequestId is the merchant's key, unique per merchant; the
// id sent to Alipay+ is cashierd's own, unique across merchants. No table rebuild (other steps
// may add columns to payments): the old column, with its UNIQUE constraint, becomes the
// Alipay+ id, which for existing rows is exactly what was sent to Alipay+; the merchant's id
// becomes a new column, filled from it, unique per merchant. Its index leads with the
// paymentRequestId, so operators can also look an id up across merchants.
constexpr const char* step_merchant_scoped_ids = R"sql(
ALTER TABLE payments RENAME COLUMN payment_request_id TO alipay_payment_request_id;
ALTER TABLE payments ADD COLUMN payment_request_id TEXT NOT NULL DEFAULT '';
UPDATE payments SET payment_request_id = alipay_payment_request_id;
CREATE UNIQUE INDEX payments_by_request_id ON payments (payment_request_id, merchant_id);
-- The events feed is per merchant: its cursor is the merchant's own sequence, which reveals
-- nothing of other merchants' volume. Existing rows take their row id (the old cursor), so
-- cursors merchants hold stay valid; new rows continue from each merchant's last.
ALTER TABLE merchant_outbox ADD COLUMN merchant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE merchant_outbox ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
UPDATE merchant_outbox
  SET merchant_id = (SELECT p.merchant_id FROM payments p WHERE p.id = merchant_outbox.payment_id),
      feed_seq = id;
CREATE UNIQUE INDEX merchant_outbox_feed ON merchant_outbox (merchant_id, feed_seq);
)sql";

// The hosted payment page's id (PRODUCT.md "Client side"): 128 random bits as 32 lowercase hex
// digits, unique, looked up by the page's status endpoint. Rows from before this step get one
// here (SQLite's randomblob: ChaCha20 seeded from the OS). The index is partial because a
// payment written without one (store-level tests, tools) keeps '' and '' is not an id; lookups
// repeat its condition so that the planner uses it.
constexpr const char* checkout_id_step = R"sql(
ALTER TABLE payments ADD COLUMN checkout_id TEXT NOT NULL DEFAULT '';
UPDATE payments SET checkout_id = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX payments_by_checkout ON payments (checkout_id) WHERE checkout_id <> '';
)sql";

// Issue 16, refunds: one row per refund of a SUCCESS payment (state/machine/refund.hpp), unique
// per (payment, merchant's refundRequestId) and by cashierd's own refundRequestId. The sum of a
// payment's refunds that are not FAIL never exceeds its amount: a trigger checks it inside the
// INSERT, in the writer's IMMEDIATE transaction, so two refunds created at the same time (even
// from two connections) cannot both pass. Only SUCCESS payments with no cancel pending take new
// refunds. A refund's Alipay+ calls are logged in aplus_calls with their refund_id.
constexpr const char* step_refunds = R"sql(
CREATE TABLE refunds (
  id                        INTEGER PRIMARY KEY,
  version                   INTEGER NOT NULL CHECK (version >= 1),
  payment_id                INTEGER NOT NULL REFERENCES payments (id),
  refund_request_id         TEXT NOT NULL
                            CHECK (length(refund_request_id) >= 1 AND length(refund_request_id) <= 64),
  alipay_refund_request_id  TEXT NOT NULL UNIQUE
                            CHECK (length(alipay_refund_request_id) >= 1
                                   AND length(alipay_refund_request_id) <= 64),
  origin                    TEXT NOT NULL
                            CHECK (origin = 'merchant' OR origin = 'operator' OR origin = 'cancel'),
  status                    TEXT NOT NULL
                            CHECK (status = 'PROCESSING' OR status = 'SUCCESS' OR status = 'FAIL'),
  track                     TEXT NOT NULL CHECK (track = 'send' OR track = 'confirm'),
  attempt                   INTEGER NOT NULL,
  amount_minor              INTEGER NOT NULL CHECK (amount_minor > 0),
  currency                  TEXT NOT NULL CHECK (length(currency) = 3),
  reason                    TEXT NOT NULL,
  next_action_at            INTEGER NOT NULL,
  created_at                INTEGER NOT NULL,
  updated_at                INTEGER NOT NULL,
  request                   BLOB NOT NULL,
  merchant_request          BLOB NOT NULL,
  refund_id                 TEXT NOT NULL,
  refund_time               TEXT NOT NULL,
  result_status             TEXT,
  result_code               TEXT,
  result_message            TEXT,
  UNIQUE (payment_id, refund_request_id)
);
CREATE INDEX refunds_open ON refunds (next_action_at) WHERE status = 'PROCESSING';
CREATE TRIGGER refunds_of_success_only BEFORE INSERT ON refunds
  WHEN NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = NEW.payment_id
                   AND p.status = 'SUCCESS' AND p.pending = '')
  BEGIN SELECT RAISE(ABORT, 'payment_not_refundable'); END;
CREATE TRIGGER refunds_within_amount BEFORE INSERT ON refunds
  WHEN NEW.currency <> (SELECT p.currency FROM payments p WHERE p.id = NEW.payment_id)
    OR NEW.amount_minor + (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds r
                           WHERE r.payment_id = NEW.payment_id AND r.status <> 'FAIL')
       > (SELECT p.amount_minor FROM payments p WHERE p.id = NEW.payment_id)
  BEGIN SELECT RAISE(ABORT, 'refund_amount_exceed'); END;
CREATE TRIGGER refunds_fixed BEFORE UPDATE OF payment_id, refund_request_id,
    alipay_refund_request_id, origin, amount_minor, currency, request, merchant_request ON refunds
  WHEN NEW.payment_id IS NOT OLD.payment_id OR NEW.refund_request_id IS NOT OLD.refund_request_id
    OR NEW.alipay_refund_request_id IS NOT OLD.alipay_refund_request_id
    OR NEW.origin IS NOT OLD.origin OR NEW.amount_minor IS NOT OLD.amount_minor
    OR NEW.currency IS NOT OLD.currency OR NEW.request IS NOT OLD.request
    OR NEW.merchant_request IS NOT OLD.merchant_request
  BEGIN SELECT RAISE(ABORT, 'a refund''s request is immutable'); END;
CREATE TRIGGER refunds_final BEFORE UPDATE OF status ON refunds
  WHEN OLD.status <> 'PROCESSING' AND NEW.status <> OLD.status
  BEGIN SELECT RAISE(ABORT, 'a final refund does not change'); END;
CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds
  BEGIN SELECT RAISE(ABORT, 'refunds are never deleted'); END;
ALTER TABLE aplus_calls ADD COLUMN refund_id INTEGER REFERENCES refunds (id);
CREATE INDEX aplus_calls_by_refund ON aplus_calls (refund_id) WHERE refund_id IS NOT NULL;
)sql";

// Issue 18, cluster mode (proto-docs/cluster.md): the shard count, fixed here for good (meta
// `shard_count`); each payment's shard, the FNV-1a hash of its Alipay+ id mod that count
// (cashier_shard, the SQL face of store::shard_of, registered on every connection), computed
// here for existing rows and bound by the store on insert, never changed after; the recovery
// index per shard (a takeover reads one shard's open payments); the shard table with one row per
// shard (owner NULL = free; epoch bumped by every claim; lease_until on the database's clock, epoch
// ms); instances' presence (how many share the shards); and the inbox of inputs for payments of a
// shard another instance owns (deleted by the owner in the commit that applies them; AUTOINCREMENT:
// an id is never reused after a delete, so an instance can remember which rows it has taken).
constexpr const char* step_cluster = R"sql(
INSERT OR IGNORE INTO meta (key, value) VALUES ('shard_count', '64');
ALTER TABLE payments ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET shard = cashier_shard(
  CASE WHEN alipay_payment_request_id = '' THEN payment_request_id ELSE alipay_payment_request_id END,
  (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'shard_count'));
CREATE TRIGGER payments_shard_fixed BEFORE UPDATE OF shard ON payments
  WHEN NEW.shard IS NOT OLD.shard
  BEGIN SELECT RAISE(ABORT, 'a payment''s shard is fixed'); END;
CREATE INDEX payments_open_by_shard ON payments (shard, next_action_at, pending, poll_deadline_at)
  WHERE status IN ('INIT', 'IN_PROCESS') OR pending <> '';
CREATE TABLE cluster_shards (
  shard       INTEGER PRIMARY KEY,
  owner       TEXT,
  epoch       INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),
  lease_until INTEGER NOT NULL DEFAULT 0
) STRICT;
WITH RECURSIVE s(n) AS (
  SELECT 0 UNION ALL
  SELECT n + 1 FROM s WHERE n + 1 < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'shard_count'))
INSERT INTO cluster_shards (shard) SELECT n FROM s;
CREATE TRIGGER cluster_epoch_forward BEFORE UPDATE OF epoch ON cluster_shards
  WHEN NEW.epoch < OLD.epoch
  BEGIN SELECT RAISE(ABORT, 'a shard''s epoch never goes back'); END;
CREATE TABLE cluster_instances (
  instance   TEXT PRIMARY KEY,
  seen_until INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE inbox (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  shard      INTEGER NOT NULL,
  payment_id INTEGER NOT NULL REFERENCES payments (id),
  kind       TEXT NOT NULL,
  body       BLOB NOT NULL,
  posted_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX inbox_by_shard ON inbox (shard, id);
)sql";

/// A migration step and the name tests find it by.
struct step {
  const char* name;
  const char* sql;
};

// The migration steps, oldest first: steps[i] brings version i to i + 1.
constexpr std::array<step, 7> steps = {{{"v1", schema_v1},
                                         {"settle_track", step_settle_track},
                                         {"notify_budget", notify_budget_step},
                                         {"merchant_scoped_ids", step_merchant_scoped_ids},
                                         {"refunds", step_refunds},
                                         {"checkout_id", checkout_id_step},
                                         {"cluster", step_cluster}}};

std::int64_t pragma_value(sqlite_db& db, const char* sql) {
  auto q = db.query(sql);
  return q.step() ? q.int64(0) : 0;
}

// Refuses files that are not ours and schemas newer than this build.
void check_known(sqlite_db& db, std::int64_t version) {
  if (version > latest_schema_version()) {
    throw store_error(store_failure::schema, "database schema version " + std::to_string(version) +
                                                 " is newer than this build knows (" +
                                                 std::to_string(latest_schema_version()) +
                                                 "); upgrade cashierd");
  }
  if (version > 0 && pragma_value(db, "PRAGMA application_id") != application_id) {
    throw store_error(store_failure::corrupt, "not a cashierd database (application_id)");
  }
}

}  // namespace

int latest_schema_version() { return static_cast<int>(steps.size()); }

int schema_version_after(std::string_view step_name) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (step_name == steps[i].name) return static_cast<int>(i + 1);
  }
  return 0;
}

void migrate(sqlite_db& db) { migrate_to(db, latest_schema_version()); }

void migrate_to(sqlite_db& db, int target) {
  db.exec("BEGIN IMMEDIATE");
  try {
    std::int64_t version = pragma_value(db, "PRAGMA user_version");
    check_known(db, version);
    if (version == 0 && pragma_value(db, "SELECT count(*) FROM sqlite_schema") != 0) {
      throw store_error(store_failure::corrupt,
                        "not a cashierd database (foreign tables, no version)");
    }
    const auto last = static_cast<std::size_t>(std::min(target, latest_schema_version()));
    for (auto v = static_cast<std::size_t>(version); v < last; ++v) db.exec(steps[v].sql);
    if (version < static_cast<std::int64_t>(last)) {
      std::string bump = "PRAGMA application_id = " + std::to_string(application_id) +
                         "; PRAGMA user_version = " + std::to_string(last);
      db.exec(bump.c_str());
    }
    db.exec("COMMIT");
  } catch (...) {
    db.rollback_quietly();
    throw;
  }
}

void check_schema(sqlite_db& db) {
  std::int64_t version = pragma_value(db, "PRAGMA user_version");
  check_known(db, version);
  if (version < latest_schema_version()) {
    throw store_error(
        store_failure::schema,
        "database schema version " + std::to_string(version) +
            " is older than this build's; open it read-write once (cashierd) to migrate");
  }
}

}  // namespace cashier::store
