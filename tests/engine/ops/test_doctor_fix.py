"""``doctor_fix``: the remedy of each finding, and what ``doctor --fix`` applies (issue 14)."""

from __future__ import annotations

from pathlib import Path

from lashdb.engine.ops import doctor, doctor_fix
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.session.leases import try_claim
from lashdb.engine.session.store import Store

CLOCK = 1_796_000_000_000


def report(root: Path, now_ms: int = CLOCK) -> doctor.DoctorReport:
    return doctor_fix.with_remedies(doctor.run([root], now_ms=now_ms))


def test_orphan_wal_and_shm_removed_only_when_not_a_dry_run(tmp_path):
    (tmp_path / "gone.db-wal").write_bytes(b"w" * 10)
    (tmp_path / "gone.db-shm").write_bytes(b"s" * 10)
    (tmp_path / "gone.db.host.json").write_text("{}")
    found = report(tmp_path)
    remedies = {x.check: x.remedy for f in found.files for x in f.findings}
    assert remedies["orphan_sidecar"].startswith("rm -- ") and remedies["session_sidecar"] == \
        f"rm -- {tmp_path / 'gone.db.host.json'}"
    backend = open_backend(tmp_path)
    dry = doctor_fix.fix(backend, found, dry_run=True)
    assert sorted(e.action for e in dry) == ["left", "would apply", "would apply"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone.db-shm", "gone.db-wal", "gone.db.host.json"]
    done = doctor_fix.fix(backend, found)
    assert sorted((e.check, e.action) for e in done) == [("orphan_sidecar", "applied"), ("orphan_sidecar", "applied"),
                                                         ("session_sidecar", "left")]
    assert [p.name for p in tmp_path.iterdir()] == ["gone.db.host.json"]  # a person decides about records
    assert [x.check for f in report(tmp_path).files for x in f.findings] == ["session_sidecar"]


def test_a_lease_reclaimed_after_the_report_is_not_released(tmp_path):
    summary = build_demo(tmp_path, 2, clock=lambda: CLOCK)  # the first session's runtime died; the newest lives
    session = Path(summary.root_sessions[0].path)
    found = report(tmp_path)
    [lease] = [x for f in found.files for x in f.findings if x.check == "execution_leases"]
    # A runtime takes the session over between the report and the fix: its lease is live now.
    with Store.open(session) as store:
        claimed = store.transaction(lambda tx: try_claim(tx, lease.subject, "lash@new", 10 * CLOCK, CLOCK))
    entries = {e.check: e for e in doctor_fix.fix(open_backend(tmp_path), found)}
    assert entries["execution_leases"].action == "failed"
    assert "lash@new" in entries["execution_leases"].detail
    with Store.open_readonly(session) as store:
        row = store.snapshot(lambda tx: tx.leases.get(lease.subject))
    assert row[:3] == ("lash@new", claimed.lease_token, claimed.fencing_token)
    assert entries["process_leases"].action == "applied"


def test_findings_without_a_fix_have_no_remedy(tmp_path):
    (tmp_path / "notes.db").write_bytes(b"")
    [entry] = report(tmp_path).files
    assert [(x.check, x.remedy) for x in entry.findings] == [("kind", None)]
