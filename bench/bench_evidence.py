"""Evidence files: the cost of an upload (store + row + audit event, one transaction each) and of the
re-hash `audit verify` does over every stored file, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_evidence.py [--n 1000] [--size 102400]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite  # noqa: E402
from complaints.config import load_config  # noqa: E402
from domain.calendar import WorkingCalendar  # noqa: E402
from flows.intake import run_intake  # noqa: E402
from models.evidence_store import DirectoryStore  # noqa: E402
from models.submission import submit  # noqa: E402
from models.workbench import files_problem  # noqa: E402
from services import workbench  # noqa: E402
from services.unit_of_work import Runtime  # noqa: E402
from tests.factories import complaint  # noqa: E402


def run(label: str, engine: Engine, n: int, size: int) -> None:
    config, now = load_config(), datetime.now(UTC)
    (r,) = submit(engine, [complaint(received_at=now.isoformat())], config=config, calendar=WorkingCalendar(), now=now)
    run_intake(engine, config)
    store = DirectoryStore(Path(tempfile.mkdtemp(prefix="bench-evidence-")))
    rt = Runtime(config, engine)
    t0 = time.perf_counter()
    for i in range(n):
        with rt.unit() as uow:
            workbench.attach(uow, store, case_no=r.case_no, filename=f"f{i}.pdf", data=os.urandom(size), actor="bench")
    t1 = time.perf_counter()
    checked, _, problem = files_problem(engine, store)
    t2 = time.perf_counter()
    print(f"{label}: attach {n} x {size} B: {(t1 - t0) / n * 1000:.1f} ms each; "
          f"verify re-hash of {checked} files ({n * size / 1e6:.0f} MB): {t2 - t1:.2f} s; problem: {problem}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100 * 1024)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = fresh_sqlite(Path(tmp) / "evidence.db")
        run("SQLite", sqlite, args.n, args.size)
        sqlite.dispose()
    pg = fresh_postgres("bench_evidence")
    try:
        run("PostgreSQL", pg, args.n, args.size)
    finally:
        pg.dispose()
        drop_postgres("bench_evidence")


if __name__ == "__main__":
    main()
