"""PostgreSQL store operations: lashdb vs LangGraph's PostgresSaver per turn, `sessions list`, `migrate`.

Target server: ``$LASHDB_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Each part creates its own throwaway database ``lashdb_bench_<pid>_<part>`` there and every one is
dropped at the end. With no server or no psycopg it prints one line saying why and exits 0.
``LASHDB_BENCH_QUICK=1`` shrinks sizes (120 turns, 2,000 listed sessions, 100 migrated sessions).

1. Persistence cost per agent turn, at turn 10 and at the last turn (the turn of ``bench_commit.py``:
   4 messages of ~1 KB, 3 state values of ~8 KB changing every turn, one usage entry):
   - lashdb: one ``Store.commit_runtime_state`` of the turn on a store from
     ``open_backend(url).factory().create_store(...)``, under one long lease, compare-and-set;
   - LangGraph: a ``StateGraph`` agent loop (agent -> tool -> agent, a deterministic fake model; the
     conversation is the ``messages`` channel, the three state values and the usage are channels
     of their own) invoked once per turn. Its persistence cost is the invoke with ``PostgresSaver``
     on the same server minus the same invoke compiled without a checkpointer (given the whole
     state as input, as a checkpointer would have loaded it), per turn. Measured at LangGraph's
     default durability (a checkpoint after every step, written beside the next step) and at
     ``durability="exit"`` (one checkpoint per invoke: its cheapest, like lashdb's one commit).
   Bench-only dependency: ``pip install langgraph langgraph-checkpoint-postgres``; skipped without it.
   Every writer takes its turn in one round robin, Python's cyclic GC paused inside each timed step
   (as ``bench_commit.py`` does). Then, untimed, the work of lashdb's commit: the buffer pages one
   commit transaction touches in the ``lash_*`` tables and indexes (PostgreSQL's per-transaction
   block counters, read inside the transaction before and after the commit), at turn 10 and at the
   last turn — a measure of growth that the machine's load does not move.
2. ``sessions list --json`` over 10,000 sessions (one real session, copied server-side under
   10,000 ids): ``open_backend(url).list_sessions(sort="modified")`` vs one bare psycopg query
   returning the same columns; the same with ``--limit 20``; and the ``lashdb --store URL
   sessions list --json`` subprocess vs ``python -c`` running the bare query and printing JSON
   (so interpreter start-up cancels out).
3. ``migrate`` of a directory of demo sessions (``build_demo``) into an empty PostgreSQL database:
   rows/s and MB/s, vs a bare loop reading the same session files with apsw and ``COPY``-ing their
   rows into another empty database, one transaction per session.

Everything is a ratio of measurements taken in this one run; nothing here passes or fails.
"""

from __future__ import annotations

from _timing import timed
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_commit import CONFIG, EARLY, LATE, QUICK, TURNS, make_turns
from bench_postgres import DEFAULT_URL, _url_for

LIST_SESSIONS = 2_000 if QUICK else 10_000
LIST_REPEATS = 5 if QUICK else 7
CLI_REPEATS = 3 if QUICK else 5
MIGRATE_SESSIONS = 100 if QUICK else 1_000
LEASE_MS = 3_600_000
LASHDB = str(Path(sys.executable).parent / "lashdb")
# An installed package has its bytecode compiled: so do both sides of the subprocess comparison.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


# --- 1. persistence cost per turn vs LangGraph PostgresSaver ---------------------------------------------


class LashdbTurns:
    """The turn committed once through a store the postgres backend's factory created."""

    def __init__(self, url: str, sid: str, turns: list[dict]) -> None:
        from lashdb.engine import GraphDelta, HydratedCheckpoint, RuntimeCommit
        from lashdb.engine.ops.backend import open_backend
        from lashdb.engine.session.factory import SessionStoreCreateRequest

        self.backend = open_backend(url)
        self.store = self.backend.factory().create_store(SessionStoreCreateRequest(sid, "bench-model"))
        fence = self.store.try_claim_session_execution_lease(sid, "bench", LEASE_MS).fence()
        self.commits = [RuntimeCommit(
            sid, CONFIG, graph=GraphDelta.append(turn["nodes"], turn["nodes"][-1].node_id),
            checkpoint=HydratedCheckpoint(turn_state=turn["turn_state"], tool_state=turn["tool_state"],
                                          plugin_snapshot=turn["plugin_snapshot"], plugin_snapshot_revision=t,
                                          execution_state=turn["execution_state"]),
            usage_deltas=(turn["usage"],), expected_head_revision=t, session_execution_lease=fence)
            for t, turn in enumerate(turns)]

    def step(self, t: int) -> float:
        return timed(lambda: self.store.commit_runtime_state(self.commits[t]))

    def close(self) -> None:
        self.store.close()
        self.backend.close()


def _agent_graph(turns: list[dict], checkpointer):
    """agent -> tool -> agent: the fake model answers turn t's messages from ``turns`` by position."""
    import operator
    from typing import Annotated, Any, TypedDict

    from langgraph.graph import END, START, StateGraph

    # Functional form: this module's postponed annotations would leave the class form's hints unresolvable.
    AgentState = TypedDict("AgentState", {"messages": Annotated[list, operator.add], "tool_state": Any,
                                          "plugin_snapshot": Any, "execution_state": bytes, "usage": list})

    def message(node, role: str, **extra) -> dict:
        return {"id": node.node_id, "role": role, "content": node.text, **extra}

    def agent(state: dict) -> dict:
        t, k = divmod(len(state["messages"]), 4)
        turn = turns[t]
        if k == 1:  # the user's message is in: call a tool, and the turn's state changes
            return {"messages": [message(turn["nodes"][1], "assistant", tool_calls=[{"id": f"call-{t}", "name": "tool_0"}])],
                    "tool_state": turn["tool_state"], "plugin_snapshot": turn["plugin_snapshot"],
                    "execution_state": turn["execution_state"], "usage": [turn["usage"].to_json()]}
        return {"messages": [message(turn["nodes"][3], "assistant")]}

    def tool(state: dict) -> dict:
        t = len(state["messages"]) // 4
        return {"messages": [message(turns[t]["nodes"][2], "tool", tool_call_id=f"call-{t}")]}

    def route(state: dict) -> str:
        return "tool" if state["messages"][-1].get("tool_calls") else END

    graph = StateGraph(AgentState)
    graph.add_node("agent", agent)
    graph.add_node("tool", tool)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, {"tool": "tool", END: END})
    graph.add_edge("tool", "agent")
    return graph.compile(checkpointer=checkpointer)


def _user(turn: dict) -> dict:
    node = turn["nodes"][0]
    return {"id": node.node_id, "role": "user", "content": node.text}


class AgentLoopTurns:
    """One invoke per turn of the agent loop, with ``saver`` on ``conn`` (or, as the baseline, without
    one: the state is then carried between invokes by the caller, as LangGraph needs without a saver)."""

    def __init__(self, turns: list[dict], thread_id: str, saver: object, conn: object, mode: str | None) -> None:
        self.turns, self.mode, self.conn = turns, mode, conn
        self.config = {"configurable": {"thread_id": thread_id}}
        self.state: dict = {"messages": []}
        self.graph = _agent_graph(turns, saver)

    def step(self, t: int) -> float:
        user = _user(self.turns[t])
        if self.conn is not None:
            kwargs = {} if self.mode is None else {"durability": self.mode}
            return timed(lambda: self.graph.invoke({"messages": [user]}, self.config, **kwargs))
        inputs = dict(self.state, messages=[*self.state["messages"], user])
        out: list = []
        elapsed = timed(lambda: out.append(self.graph.invoke(inputs)))
        self.state = out[0]
        return elapsed

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class LangGraphTurns(AgentLoopTurns):
    """The agent loop with ``PostgresSaver`` (or, as the baseline, without one)."""

    def __init__(self, url: str | None, sid: str, turns: list[dict], *, durability: str | None = None) -> None:
        conn = saver = None
        if url is not None:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg import Connection
            from psycopg.rows import dict_row

            # As PostgresSaver.from_conn_string opens it.
            conn = Connection.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
            saver = PostgresSaver(conn)
            saver.setup()
        super().__init__(turns, sid, saver, conn, durability)


def have_langgraph() -> bool:
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None
                   for name in ("langgraph.graph", "langgraph.checkpoint.postgres"))
    except ImportError:  # no langgraph package at all
        return False


def _ms(values: list[float], window: range) -> float:
    return statistics.median(values[i] for i in window) * 1e3


def per_turn(url: str) -> None:
    if not have_langgraph():
        print("-- LangGraph comparison skipped: pip install langgraph langgraph-checkpoint-postgres (bench only)")
        return
    turns = make_turns(TURNS, all_state_changes=True)
    writers = {"lashdb": LashdbTurns(url, "lashdb-turns", turns),
               "LangGraph": LangGraphTurns(url, "lg-default", turns),
               "LangGraph exit": LangGraphTurns(url, "lg-exit", turns, durability="exit"),
               "no checkpointer": LangGraphTurns(None, "lg-none", turns)}
    samples: dict[str, list[float]] = {key: [] for key in writers}
    for t in range(TURNS):
        for key, writer in writers.items():
            samples[key].append(writer.step(t))
    for writer in writers.values():
        writer.close()
    base = samples["no checkpointer"]
    cost = {"lashdb": samples["lashdb"],
            "LangGraph": [a - b for a, b in zip(samples["LangGraph"], base)],
            "LangGraph exit": [a - b for a, b in zip(samples["LangGraph exit"], base)]}
    print(f"-- persistence cost per agent turn over {TURNS} turns (4 x ~1 KB messages + 3 x ~8 KB state + usage); "
          "median of 10 turns; LangGraph's = invoke with PostgresSaver minus invoke without")
    for label, window in (("turn 10", EARLY), (f"turn {TURNS}", LATE)):
        at = {key: statistics.median(values[i] for i in window) * 1e3 for key, values in cost.items()}
        lash = at["lashdb"]
        target = "target >= 3x" if window is EARLY else "target >= 50x"
        print(f"  {label:>9}: lashdb commit {lash:.3f} ms | LangGraph (default durability) {at['LangGraph']:.3f} ms "
              f"-> {at['LangGraph'] / lash:.1f}x ({target}) | LangGraph durability=exit {at['LangGraph exit']:.3f} ms "
              f"-> {at['LangGraph exit'] / lash:.1f}x | invoke without checkpointer {_ms(base, window):.3f} ms")
    growth = {key: statistics.median(v[i] for i in LATE) / statistics.median(v[i] for i in EARLY)
              for key, v in cost.items()}
    print(f"  growth turn {TURNS}/turn 10: " + ", ".join(f"{k} {g:.2f}x" for k, g in growth.items())
          + " (target: lashdb flat)")


_PAGES = ("SELECT coalesce(sum(pg_stat_get_xact_blocks_fetched(c.oid)), 0) FROM pg_class c "
          "WHERE (c.relname LIKE 'lash%%' OR c.relname LIKE 'idx_lash%%') AND c.relkind IN ('r', 'i')")


def commit_pages(url: str) -> None:
    """Buffer pages per commit transaction at turn 10 and at the last turn (untimed, deterministic)."""
    turns = make_turns(TURNS, all_state_changes=True)
    writer = LashdbTurns(url, "lashdb-pages", turns)
    db = writer.store._backend.db
    plain = db.write
    pages: list[int] = []

    def counted(scope, fn):
        def body(conn):
            before = int(conn.execute(_PAGES).fetchone()[0])
            result = fn(conn)
            pages.append(int(conn.execute(_PAGES).fetchone()[0]) - before)
            return result
        return plain(scope, body)

    db.write = counted
    try:
        for t in range(TURNS):
            mark = len(pages)
            writer.step(t)
            del pages[mark:-1]  # the commit's own transaction is the last write of the step
    finally:
        db.write = plain
        writer.close()
    early, late = statistics.median(pages[i] for i in EARLY), statistics.median(pages[i] for i in LATE)
    print(f"  lashdb commit's work: {early:.0f} buffer pages of lash_* tables and indexes at turn 10, {late:.0f} at "
          f"turn {TURNS} -> {late / early:.2f}x (read inside each commit's transaction; B-tree depth grows with "
          "the tables, the session row does not)")


# --- 2. sessions list over many sessions ---------------------------------------------------------------


BARE_LIST = """
SELECT s.session_id, s.session_name, s.model, s.cwd, s.created_at, s.relation_json, s.head_revision,
       s.head_session_id, s.created_at_ms, s.updated_at_ms, b.blobs, b.blob_bytes, s.live_nodes, s.dead_nodes,
       s.user_nodes,
       (SELECT node_json FROM lash_graph_nodes WHERE session_id = s.session_id AND seq = s.first_user_seq),
       b.blob_bytes + s.node_bytes AS size_bytes,
       EXISTS (SELECT 1 FROM lash_processes p WHERE p.root_session_id = s.session_id),
       EXISTS (SELECT 1 FROM lash_trigger_subscriptions t WHERE t.root_session_id = s.session_id)
         OR EXISTS (SELECT 1 FROM lash_trigger_occurrences o WHERE o.root_session_id = s.session_id),
       EXISTS (SELECT 1 FROM lash_effect_replay e WHERE e.session_id = s.session_id)
FROM (SELECT * FROM lash_sessions ORDER BY updated_at_ms DESC, session_id COLLATE "C" {limit}) s
LEFT JOIN LATERAL (SELECT count(*) AS blobs, coalesce(sum(octet_length(content)), 0) AS blob_bytes
                   FROM lash_blobs WHERE session_id = s.session_id) b ON true
ORDER BY s.updated_at_ms DESC, s.session_id COLLATE "C"
"""
"""The floor: the columns the listing shows, read as the schema keeps them (the graph's counts, node
bytes and first user message's seq in the session row; the head's revision and session id from their
columns), with the blobs counted per session."""

SCANNED_LIST = """
SELECT s.session_id, s.session_name, s.model, s.cwd, s.created_at, s.relation_json, s.head_json, s.head_revision,
       s.created_at_ms, s.updated_at_ms, b.blobs, b.blob_bytes, g.live, g.dead, g.users, g.first_user,
       b.blob_bytes + g.node_bytes AS size_bytes
FROM (SELECT * FROM lash_sessions ORDER BY updated_at_ms DESC, session_id COLLATE "C" {limit}) s
LEFT JOIN LATERAL (SELECT count(*) AS blobs, coalesce(sum(octet_length(content)), 0) AS blob_bytes
                   FROM lash_blobs WHERE session_id = s.session_id) b ON true
LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE NOT tombstoned) AS live, count(*) FILTER (WHERE tombstoned) AS dead,
                          count(*) FILTER (WHERE {user}) AS users,
                          (array_agg(node_json ORDER BY seq) FILTER (WHERE {user}))[1] AS first_user,
                          coalesce(sum(octet_length(node_json)), 0) AS node_bytes
                   FROM lash_graph_nodes WHERE session_id = s.session_id) g ON true
ORDER BY s.updated_at_ms DESC, s.session_id COLLATE "C"
"""
"""For reference: the same columns counted from each session's graph (how schema v1 listed)."""

# A live user message (SPEC §5), with the cheap text test first so most nodes skip the JSON parse.
_USER = ("NOT tombstoned AND strpos(node_json, '\"User\"') > 0 AND node_json::jsonb ->> 'kind' = 'event' "
         "AND node_json::jsonb #>> '{event,Conversation,role}' = 'User'")


def bare_list_sql(limit: int | None, template: str = BARE_LIST) -> str:
    """The bare listing statement, newest first, at most ``limit`` sessions."""
    return template.format(limit="" if limit is None else f"LIMIT {int(limit)}", user=_USER)


BARE_SCRIPT = """
import json, sys, psycopg
with psycopg.connect(sys.argv[1]) as conn:
    rows = conn.execute(sys.argv[2]).fetchall()
print(json.dumps([[v if v is None or isinstance(v, (int, str, bool)) else str(v) for v in r] for r in rows]))
"""


def _fill_sessions(url: str, count: int) -> tuple[str, int]:
    """One demo session migrated in, then its rows copied server-side under ``count`` ids; (template, bytes)."""
    import psycopg

    from lashdb.engine.ops.backend import open_backend
    from lashdb.engine.ops.demo import build_demo
    from lashdb.engine.ops.migrate import migrate_stores

    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo(Path(tmp) / "demo", 2)
        template = demo.sessions[1].session_id  # an ordinary session: turns, fork, tombstones, no runtime rows
        with open_backend(url) as dest:
            report = migrate_stores(open_backend(Path(tmp) / "demo"), dest, sessions=[template])
        assert report.sessions[0].status == "copied", report.to_json()
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name = 'session_id' AND table_name LIKE 'lash\\_%' ORDER BY table_name").fetchall()]
        for table in tables:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()]
            new_id = "'s' || lpad(i::text, 5, '0')"
            exprs = {"session_id": new_id, "head_session_id": f"CASE WHEN head_session_id IS NULL THEN NULL ELSE {new_id} END",
                     "head_json": f"replace(head_json, %(t)s, {new_id})",
                     "updated_at_ms": "updated_at_ms + i", "created_at_ms": "created_at_ms + i"}
            select = ", ".join(exprs.get(c, c) if table == "lash_sessions" or c == "session_id" else c for c in cols)
            conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table}, "
                         f"generate_series(1, %(n)s) i WHERE session_id = %(t)s", {"t": template, "n": count - 1})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM lash_sessions").fetchone()[0]
    assert n == count, (n, count)
    return template, size


def _median_pair(a, b, repeats: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run alternately ``repeats`` times (after one warm-up each)."""
    a(), b()
    xs, ys = [], []
    for _ in range(repeats):
        xs.append(timed(a))
        ys.append(timed(b))
    return statistics.median(xs), statistics.median(ys)


def sessions_list(url: str) -> None:
    import psycopg

    from lashdb.engine.ops.backend import open_backend

    t0 = time.monotonic()
    template, size = _fill_sessions(url, LIST_SESSIONS)
    print(f"-- sessions list over {LIST_SESSIONS:,} sessions (demo session {template[:8]}… copied server-side, "
          f"database {size / 1e6:.0f} MB, built in {time.monotonic() - t0:.1f} s); median of {LIST_REPEATS}")
    backend = open_backend(url)
    conn = psycopg.connect(url, autocommit=True)
    try:
        for limit in (None, 20):
            rows: list = []
            ops = lambda: rows.append(len(backend.list_sessions(sort="modified", limit=limit)))  # noqa: E731
            sql = bare_list_sql(limit)
            bare = lambda: rows.append(len(conn.execute(sql).fetchall()))  # noqa: E731
            mine, floor = _median_pair(ops, bare, LIST_REPEATS)
            assert len(set(rows)) == 1, rows
            scan_sql = bare_list_sql(limit, SCANNED_LIST)
            scanned = statistics.median(timed(lambda: conn.execute(scan_sql).fetchall()) for _ in range(LIST_REPEATS))
            print(f"  in process{'' if limit is None else f', --limit {limit}':>11}: open_backend(url).list_sessions "
                  f"{mine * 1e3:8.1f} ms | bare psycopg query {floor * 1e3:8.1f} ms -> {mine / floor:.2f}x "
                  f"({rows[0]:,} rows; target <= 1.5x) | the bare query counting each graph instead "
                  f"{scanned * 1e3:.1f} ms")
    finally:
        conn.close()
        backend.close()
    for limit in (None, 20):
        tail = [] if limit is None else ["--limit", str(limit)]
        sql = bare_list_sql(limit)
        out: list[bytes] = []

        def cli() -> None:
            out.append(subprocess.run([LASHDB, "--store", url, "sessions", "list", "--json", *tail],
                                      capture_output=True, check=True, env=_ENV).stdout)

        def bare_cli() -> None:
            out.append(subprocess.run([sys.executable, "-c", BARE_SCRIPT, url, sql],
                                      capture_output=True, check=True, env=_ENV).stdout)

        mine, floor = _median_pair(cli, bare_cli, CLI_REPEATS)
        listed = json.loads(out[-2])
        count = len(listed if isinstance(listed, list) else listed.get("sessions", []))
        print(f"  subprocess{'' if limit is None else f', --limit {limit}':>11}: lashdb --store URL sessions list "
              f"--json {mine * 1e3:8.1f} ms | python -c bare query + json {floor * 1e3:8.1f} ms -> "
              f"{mine / floor:.2f}x ({count:,} sessions, {len(out[-2]) / 1e6:.1f} MB of JSON; target <= 1.5x)")


# --- 3. migrate directory -> PostgreSQL ----------------------------------------------------------------


def _copy_floor(root: Path, url: str) -> tuple[int, int]:
    """Every session file's rows (apsw) COPY'd into ``url``, one transaction per session; (rows, bytes)."""
    import apsw
    import psycopg

    from lashdb.engine.postgres.transfer import _TABLES

    rows = nbytes = 0
    with psycopg.connect(url) as conn:
        for path in sorted(root.glob("*.db")):
            if path.name.count(".db") > 1:
                continue  # a sidecar
            src = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            try:
                src.execute("BEGIN")
                meta = list(src.execute("SELECT session_id, session_name, created_at, model, cwd, relation_json "
                                        "FROM session_meta"))
                head = list(src.execute("SELECT session_id, head_json, head_revision FROM session_head"))
                sid = meta[0][0] if meta else head[0][0]
                tables = {}
                for table, (pg, _scope, cols, _keeps) in _TABLES.items():
                    if "." in table:
                        continue
                    tables[pg] = (cols, list(src.execute(f"SELECT {', '.join(cols)} FROM {table}")))
                src.execute("COMMIT")
            finally:
                src.close()
            with conn.transaction(), conn.cursor() as cur:
                m = meta[0] if meta else (sid, None, None, None, None, None)
                h = head[0] if head else (None, None, 0)
                with cur.copy("COPY lash_sessions (session_id, session_name, created_at, model, cwd, relation_json, "
                              "head_session_id, head_json, head_revision, created_at_ms, updated_at_ms) "
                              "FROM STDIN") as copy:
                    now = int(time.time() * 1000)
                    copy.write_row((*m, *h, now, now))
                rows += len(meta) + len(head)  # counted as migrate counts: meta and head rows, then each table's
                for pg, (cols, values) in tables.items():
                    if not values:
                        continue
                    bools = [i for i, c in enumerate(cols) if c in ("tombstoned", "enabled")]
                    with cur.copy(f"COPY {pg} (session_id, {', '.join(cols)}) FROM STDIN") as copy:
                        for value in values:
                            if bools:
                                value = tuple(bool(v) if i in bools else v for i, v in enumerate(value))
                            copy.write_row((sid, *value))
                    rows += len(values)
                    if pg == "lash_blobs":  # bytes as migrate counts them: stored blob contents
                        nbytes += sum(len(v[cols.index("content")]) for v in values)
    return rows, nbytes


def migrate_bench(admin: str, make_db) -> None:
    from lashdb.engine.ops.backend import open_backend
    from lashdb.engine.ops.demo import build_demo
    from lashdb.engine.ops.migrate import migrate_stores

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        t0 = time.monotonic()
        demo = build_demo(root, MIGRATE_SESSIONS)
        built = time.monotonic() - t0
        files = sum(p.stat().st_size for p in root.iterdir())
        dest_url, floor_url = make_db("migrate"), make_db("copy")
        for url in (dest_url, floor_url):
            with open_backend(url) as backend:  # the schema, outside both clocks
                backend.session_store("schema").close()
        t0 = time.perf_counter()
        with open_backend(dest_url) as dest:
            report = migrate_stores(open_backend(root), dest, force=True)
        mine = time.perf_counter() - t0
        t0 = time.perf_counter()
        floor_rows, floor_bytes = _copy_floor(root, floor_url)
        floor = time.perf_counter() - t0
    totals = report.totals() if callable(getattr(report, "totals", None)) else report.totals
    copied, rows, nbytes = totals["copied"], totals["rows"], totals["bytes"]
    print(f"-- migrate of {len(demo.sessions):,} demo sessions ({files / 1e6:.1f} MB of SQLite files, built in "
          f"{built:.1f} s) directory -> PostgreSQL, --force (the demo holds a live lease)")
    print(f"  lashdb migrate: {mine:.2f} s, {copied:,} sessions copied and verified, {rows:,} rows, "
          f"{nbytes / 1e6:.1f} MB of blobs -> {rows / mine:,.0f} rows/s, {nbytes / 1e6 / mine:.2f} MB/s")
    print(f"  bare apsw read + COPY (session tables; no sidecars): {floor:.2f} s, {floor_rows:,} rows, "
          f"{floor_bytes / 1e6:.1f} MB of blobs -> {floor_rows / floor:,.0f} rows/s, {floor_bytes / 1e6 / floor:.2f} MB/s")
    print(f"  migrate / bare COPY: {mine / floor:.2f}x the time ({(mine / rows) / (floor / floor_rows):.2f}x per row)")


# --- main ----------------------------------------------------------------------------------------------


def main() -> None:
    admin = os.environ.get("LASHDB_BENCH_PG_URL", DEFAULT_URL)
    from lashdb.engine.base.errors import MissingExtra
    from lashdb.engine.base.urls import redact
    from lashdb.engine.postgres.connection import load_driver

    try:
        psycopg, _ = load_driver()
    except MissingExtra:
        print("PostgreSQL store bench skipped: psycopg is not installed (pip install 'lashdb[postgres]')")
        return
    created: list[str] = []

    def make_db(part: str) -> str:
        name = f"lashdb_bench_{os.getpid()}_{part}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _url_for(admin, name)

    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                        for name in ("fsync", "synchronous_commit", "shared_buffers")}
        first = make_db("turns")
    except psycopg.Error as exc:
        print(f"PostgreSQL store bench skipped: no usable server at {redact(admin)} "
              f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})")
        return
    from importlib.metadata import PackageNotFoundError, version as pkg_version

    try:
        lg = (f"; langgraph {pkg_version('langgraph')}, langgraph-checkpoint-postgres "
              f"{pkg_version('langgraph-checkpoint-postgres')}")
    except PackageNotFoundError:  # the comparison says it is skipped below
        lg = ""
    try:
        print(f"postgres: {version} at {redact(admin)} ({', '.join(f'{k}={v}' for k, v in settings.items())}); "
              f"psycopg {psycopg.__version__}{lg}; python {platform.python_version()}; {os.cpu_count()} cores")
        print(f"databases: lashdb_bench_{os.getpid()}_* (dropped at the end){' -- QUICK sizes' if QUICK else ''}")
        only_list = sys.argv[1:] == ["list"]  # `bench_store.py list`: just the listing part
        if not only_list:
            per_turn(first)
            commit_pages(first)
        sessions_list(make_db("list"))
        if not only_list:
            migrate_bench(admin, make_db)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
