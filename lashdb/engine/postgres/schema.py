"""The PostgreSQL schema of lashdb and its cutover rule (postgres.md §2).

Contract:
- One database holds every session. Tables are named ``lash_*``; every per-session table carries
  ``session_id``, every registry/trigger table ``root_session_id`` (the scope one SQLite sidecar
  file has), so per-session work (GC, vacuum, delete) never touches another session's rows.
  Blobs belong to their session: primary key ``(session_id, hash)``. ``lash_artifact_refs`` is
  also indexed on ``(session_id, blob_ref)``, so a GC batch asks which of its rows a ref names
  without reading every ref.
- ``lash_sessions`` holds meta, head and what ``sessions list`` needs of the graph in one row
  (meta columns are NULL until meta is saved): ``live_nodes``, ``dead_nodes``, ``user_nodes``,
  ``first_user_seq`` (SPEC §5's picker rule, :data:`USER_NODE`) and ``node_bytes``, kept exact
  by every graph write in its own transaction, so a listing row never scans the graph. It is
  indexed on ``parent_session_id`` and ``session_id text_pattern_ops`` (prefix lookup without a
  scan) and not on ``updated_at_ms``: every commit changes that column, and an index on it would
  make every commit's update of the row non-HOT (a new entry in every index, dead ones piling up
  until autovacuum), so a commit's cost would grow with the session. ``fillfactor`` 70 leaves
  room on each page for the new row version of such a HOT update.
- :func:`ensure_schema` runs in one transaction under ``pg_advisory_xact_lock`` on two fixed keys
  (the same keys upstream's store takes, so an upstream creator and lashdb never interleave):
  no ``lash_*`` table and no version row → create everything and stamp ``lashdb = VERSION``;
  version row ``lashdb = VERSION`` → create what is missing (``IF NOT EXISTS``); an older lashdb
  version (:data:`UPGRADES`) → upgrade it step by step in the same transaction (columns added and
  filled from the graph, index dropped) and stamp the new version; anything else (a newer
  version, upstream's ``lash-postgres-store`` component, lash tables without a version row) →
  roll back and raise the cutover error, having changed nothing. A read-only open never
  upgrades: it refuses an older version with :class:`SchemaUpgradeRequired`.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.errors import SchemaUpgradeRequired, SchemaVersionError, UnrecognisedSchema

COMPONENT = "lashdb"
VERSION = 2
UPSTREAM_COMPONENT = "lash-postgres-store"
KIND = "postgres store"
# Upstream's schema lock keys: sharing them serialises our cutover with an upstream creator.
SCHEMA_LOCK = (715421, 907001)

DDL = """
CREATE TABLE IF NOT EXISTS lash_schema_versions (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS lash_sessions (
    session_id        TEXT PRIMARY KEY,
    session_name      TEXT,
    created_at        TEXT,
    model             TEXT,
    cwd               TEXT,
    relation_json     TEXT,
    parent_session_id TEXT,
    head_session_id   TEXT,
    head_json         TEXT,
    head_revision     BIGINT NOT NULL DEFAULT 0,
    checkpoint_ref    TEXT,
    live_nodes        BIGINT NOT NULL DEFAULT 0,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    dead_nodes        BIGINT NOT NULL DEFAULT 0,
    user_nodes        BIGINT NOT NULL DEFAULT 0,
    first_user_seq    BIGINT,
    node_bytes        BIGINT NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS idx_lash_sessions_parent ON lash_sessions(parent_session_id);
CREATE INDEX IF NOT EXISTS idx_lash_sessions_prefix ON lash_sessions(session_id text_pattern_ops);

CREATE TABLE IF NOT EXISTS lash_blobs (
    session_id TEXT NOT NULL,
    hash       TEXT NOT NULL,
    content    BYTEA NOT NULL,
    PRIMARY KEY (session_id, hash)
);

CREATE TABLE IF NOT EXISTS lash_graph_nodes (
    session_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    node_id    TEXT NOT NULL,
    node_json  TEXT NOT NULL,
    tombstoned BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (session_id, node_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_lash_graph_nodes_seq ON lash_graph_nodes(session_id, seq);

CREATE TABLE IF NOT EXISTS lash_usage_deltas (
    session_id          TEXT NOT NULL,
    seq                 BIGINT NOT NULL,
    source              TEXT NOT NULL,
    model               TEXT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE IF NOT EXISTS lash_runtime_turn_commits (
    session_id       TEXT NOT NULL,
    turn_id          TEXT NOT NULL,
    turn_commit_hash TEXT NOT NULL,
    result_json      TEXT NOT NULL,
    committed_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (session_id, turn_id)
);

CREATE TABLE IF NOT EXISTS lash_session_execution_leases (
    session_id          TEXT PRIMARY KEY,
    lease_owner_id      TEXT,
    lease_token         TEXT,
    lease_fencing_token BIGINT NOT NULL DEFAULT 0,
    lease_claimed_at_ms BIGINT NOT NULL DEFAULT 0,
    lease_expires_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS lash_queued_work_batches (
    session_id          TEXT NOT NULL,
    enqueue_seq         BIGINT NOT NULL,
    batch_id            TEXT NOT NULL,
    source_key          TEXT,
    delivery_policy     TEXT NOT NULL,
    slot_policy         TEXT NOT NULL,
    merge_key_json      TEXT NOT NULL,
    available_at_ms     BIGINT NOT NULL,
    enqueued_at_ms      BIGINT NOT NULL,
    claim_id            TEXT,
    claim_owner_id      TEXT,
    claim_token         TEXT,
    claim_fencing_token BIGINT NOT NULL DEFAULT 0,
    claim_claimed_at_ms BIGINT NOT NULL DEFAULT 0,
    claim_expires_at_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, batch_id),
    UNIQUE (session_id, enqueue_seq),
    UNIQUE (session_id, source_key)
);
CREATE INDEX IF NOT EXISTS idx_lash_queued_work_ready
    ON lash_queued_work_batches(session_id, available_at_ms, enqueue_seq);
CREATE INDEX IF NOT EXISTS idx_lash_queued_work_claim
    ON lash_queued_work_batches(session_id, claim_id, claim_token);

CREATE TABLE IF NOT EXISTS lash_queued_work_items (
    session_id   TEXT NOT NULL,
    batch_id     TEXT NOT NULL,
    item_index   INTEGER NOT NULL,
    item_id      TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    PRIMARY KEY (session_id, batch_id, item_index),
    FOREIGN KEY (session_id, batch_id)
        REFERENCES lash_queued_work_batches(session_id, batch_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS lash_attachment_manifest (
    session_id      TEXT NOT NULL,
    attachment_id   TEXT NOT NULL,
    canonical_uri   TEXT NOT NULL,
    intent_at_ms    BIGINT NOT NULL,
    committed_at_ms BIGINT,
    PRIMARY KEY (session_id, attachment_id)
);
CREATE INDEX IF NOT EXISTS idx_lash_attachment_manifest_uncommitted
    ON lash_attachment_manifest(session_id, intent_at_ms) WHERE committed_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS idx_lash_attachment_manifest_uncommitted_all
    ON lash_attachment_manifest(intent_at_ms) WHERE committed_at_ms IS NULL;

CREATE TABLE IF NOT EXISTS lash_artifact_refs (
    session_id   TEXT NOT NULL,
    artifact_ref TEXT NOT NULL,
    blob_ref     TEXT NOT NULL,
    PRIMARY KEY (session_id, artifact_ref)
);
CREATE INDEX IF NOT EXISTS idx_lash_artifact_refs_blob ON lash_artifact_refs(session_id, blob_ref);

CREATE TABLE IF NOT EXISTS lash_effect_replay (
    session_id          TEXT NOT NULL,
    scope_id            TEXT NOT NULL,
    replay_key          TEXT NOT NULL,
    envelope_hash       TEXT NOT NULL,
    status              TEXT NOT NULL,
    outcome_json        TEXT,
    error_json          TEXT,
    lease_owner_id      TEXT,
    lease_token         TEXT,
    lease_expires_at_ms BIGINT NOT NULL DEFAULT 0,
    due_at_ms           BIGINT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL,
    PRIMARY KEY (session_id, scope_id, replay_key)
);
CREATE INDEX IF NOT EXISTS idx_lash_effect_replay_lease
    ON lash_effect_replay(session_id, status, lease_expires_at_ms);

CREATE TABLE IF NOT EXISTS lash_processes (
    root_session_id   TEXT NOT NULL,
    process_id        TEXT NOT NULL,
    registration_hash TEXT NOT NULL,
    owner_scope_id    TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    status            TEXT NOT NULL,
    record_json       TEXT NOT NULL,
    PRIMARY KEY (root_session_id, process_id)
);
CREATE INDEX IF NOT EXISTS idx_lash_processes_status ON lash_processes(root_session_id, status);

CREATE TABLE IF NOT EXISTS lash_process_events (
    root_session_id TEXT NOT NULL,
    process_id      TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    payload_hash    TEXT NOT NULL,
    idempotency_key TEXT,
    occurred_at_ms  BIGINT NOT NULL,
    event_json      TEXT NOT NULL,
    PRIMARY KEY (root_session_id, process_id, sequence),
    FOREIGN KEY (root_session_id, process_id)
        REFERENCES lash_processes(root_session_id, process_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_lash_process_events_key
    ON lash_process_events(root_session_id, process_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS lash_process_wake_acks (
    root_session_id TEXT NOT NULL,
    process_id      TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    PRIMARY KEY (root_session_id, process_id, sequence),
    FOREIGN KEY (root_session_id, process_id)
        REFERENCES lash_processes(root_session_id, process_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS lash_process_handle_grants (
    root_session_id TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    scope_id        TEXT NOT NULL,
    process_id      TEXT NOT NULL,
    descriptor_json TEXT NOT NULL,
    PRIMARY KEY (root_session_id, scope_id, process_id),
    FOREIGN KEY (root_session_id, process_id)
        REFERENCES lash_processes(root_session_id, process_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_lash_process_handle_grants_session
    ON lash_process_handle_grants(root_session_id, session_id);
CREATE INDEX IF NOT EXISTS idx_lash_process_handle_grants_process
    ON lash_process_handle_grants(root_session_id, process_id);

CREATE TABLE IF NOT EXISTS lash_process_leases (
    root_session_id     TEXT NOT NULL,
    process_id          TEXT NOT NULL,
    lease_owner_id      TEXT,
    lease_token         TEXT,
    lease_fencing_token BIGINT NOT NULL DEFAULT 0,
    lease_claimed_at_ms BIGINT NOT NULL DEFAULT 0,
    lease_expires_at_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (root_session_id, process_id),
    FOREIGN KEY (root_session_id, process_id)
        REFERENCES lash_processes(root_session_id, process_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS lash_trigger_subscription_seq (
    root_session_id TEXT PRIMARY KEY,
    last_number     BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS lash_trigger_subscriptions (
    root_session_id     TEXT NOT NULL,
    subscription_id     TEXT NOT NULL,
    registrant_scope_id TEXT NOT NULL,
    handle              TEXT NOT NULL,
    source_type         TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    enabled             BOOLEAN NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL,
    record_json         TEXT NOT NULL,
    PRIMARY KEY (root_session_id, subscription_id),
    UNIQUE (root_session_id, registrant_scope_id, handle)
);
CREATE INDEX IF NOT EXISTS idx_lash_trigger_subscriptions_source
    ON lash_trigger_subscriptions(root_session_id, source_type, source_key, enabled);

CREATE TABLE IF NOT EXISTS lash_trigger_occurrences (
    root_session_id TEXT NOT NULL,
    occurrence_id   TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    source_type     TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    occurred_at_ms  BIGINT NOT NULL,
    record_json     TEXT NOT NULL,
    PRIMARY KEY (root_session_id, occurrence_id),
    UNIQUE (root_session_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS idx_lash_trigger_occurrences_source
    ON lash_trigger_occurrences(root_session_id, source_type, source_key, occurred_at_ms);

CREATE TABLE IF NOT EXISTS lash_trigger_deliveries (
    root_session_id TEXT NOT NULL,
    occurrence_id   TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    process_id      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (root_session_id, occurrence_id, subscription_id),
    FOREIGN KEY (root_session_id, occurrence_id)
        REFERENCES lash_trigger_occurrences(root_session_id, occurrence_id) ON DELETE CASCADE,
    FOREIGN KEY (root_session_id, subscription_id)
        REFERENCES lash_trigger_subscriptions(root_session_id, subscription_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_lash_trigger_deliveries_process
    ON lash_trigger_deliveries(root_session_id, process_id);
"""

# SPEC §5's picker rule over a lash_graph_nodes row (alias n): a conversation event whose role is
# User (liveness is the caller's). strpos spares the JSON parse of nodes that cannot match.
USER_NODE = ("(strpos(n.node_json, '\"User\"') > 0 AND n.node_json::jsonb ->> 'kind' = 'event' "
             "AND n.node_json::jsonb #>> '{event,Conversation,role}' = 'User')")

# The listing columns of lash_sessions as the graph says they are, per session (a full scan of the
# sessions' nodes: the upgrade, an import and doctor use it; a commit keeps them by arithmetic).
GRAPH_COUNTS = f"""
SELECT n.session_id, count(*) FILTER (WHERE NOT n.tombstoned) AS live_nodes,
       count(*) FILTER (WHERE n.tombstoned) AS dead_nodes,
       count(*) FILTER (WHERE NOT n.tombstoned AND {USER_NODE}) AS user_nodes,
       min(n.seq) FILTER (WHERE NOT n.tombstoned AND {USER_NODE}) AS first_user_seq,
       coalesce(sum(octet_length(n.node_json)), 0) AS node_bytes
FROM lash_graph_nodes n"""
COUNT_COLUMNS = ("live_nodes", "dead_nodes", "user_nodes", "first_user_seq", "node_bytes")


def recount(where: str = "") -> str:
    """The statement setting the listing columns from the graph for the sessions ``where`` (a clause
    over ``lash_graph_nodes n``) selects; a session without nodes keeps what it has."""
    return ("UPDATE lash_sessions s SET " + ", ".join(f"{c} = g.{c}" for c in COUNT_COLUMNS)
            + f" FROM ({GRAPH_COUNTS} {where} GROUP BY n.session_id) g WHERE g.session_id = s.session_id")


# Version N-1 → N, in order; each runs inside ensure_schema's transaction.
UPGRADES: dict[int, str] = {
    1: f"""
ALTER TABLE lash_sessions ADD COLUMN IF NOT EXISTS dead_nodes BIGINT NOT NULL DEFAULT 0,
                          ADD COLUMN IF NOT EXISTS user_nodes BIGINT NOT NULL DEFAULT 0,
                          ADD COLUMN IF NOT EXISTS first_user_seq BIGINT,
                          ADD COLUMN IF NOT EXISTS node_bytes BIGINT NOT NULL DEFAULT 0;
{recount()};
DROP INDEX IF EXISTS idx_lash_sessions_updated;
ALTER TABLE lash_sessions SET (fillfactor = 70);
""",
}

TABLES = tuple(
    line.split()[5] for line in DDL.splitlines() if line.startswith("CREATE TABLE IF NOT EXISTS ")
)


def _lash_tables(conn: Any) -> set[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
        "AND tablename LIKE %s", ("lash\\_%",)).fetchall()
    return {r[0] for r in rows}


def _versions(conn: Any, tables: set[str]) -> dict[str, int]:
    if "lash_schema_versions" not in tables:
        return {}
    return {c: v for c, v in conn.execute("SELECT component, version FROM lash_schema_versions").fetchall()}


def refusal(tables: set[str], versions: dict[str, int], where: str, *, upgrading: bool = False) -> Exception | None:
    """The cutover error for a database holding ``tables`` and ``versions``, or None if usable
    (``upgrading``: an older lashdb version counts as usable, since the caller upgrades it)."""
    if UPSTREAM_COMPONENT in versions:
        return UnrecognisedSchema(KIND, versions[UPSTREAM_COMPONENT],
                                  f"it holds upstream's {UPSTREAM_COMPONENT!r} schema "
                                  f"(version {versions[UPSTREAM_COMPONENT]}), not lashdb's", where,
                                  tuple(sorted(tables)))
    if COMPONENT in versions:
        found = versions[COMPONENT]
        if found == VERSION or (upgrading and found in UPGRADES):
            return None
        if found in UPGRADES:
            return SchemaUpgradeRequired(KIND, VERSION, found, where)
        return SchemaVersionError(KIND, VERSION, found, where)
    if tables:
        return UnrecognisedSchema(KIND, 0, "it has lash_* tables but no lashdb version row", where,
                                  tuple(sorted(tables)))
    return None


def ensure_schema(conn: Any, where: str) -> bool:
    """Apply the cutover rule in one transaction on ``conn``; True when this call created the schema."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
        tables = _lash_tables(conn)
        versions = _versions(conn, tables)
        problem = refusal(tables, versions, where, upgrading=True)
        if problem is not None:
            raise problem
        found = versions.get(COMPONENT)
        if found == VERSION and set(TABLES) <= tables:
            return False
        conn.execute(DDL)  # first: an upgrade step may alter a table this creates
        if found is not None:
            for step in range(found, VERSION):
                conn.execute(UPGRADES[step])
        conn.execute("INSERT INTO lash_schema_versions (component, version) VALUES (%s, %s) "
                     "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (COMPONENT, VERSION))
        return found is None


def inspect_schema(conn: Any, where: str) -> tuple[set[str], dict[str, int], Exception | None]:
    """Read-only: the lash tables, version rows and the cutover verdict (never writes)."""
    tables = _lash_tables(conn)
    versions = _versions(conn, tables)
    return tables, versions, refusal(tables, versions, where)
