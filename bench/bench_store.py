"""Store benchmark: generate 100k demo contacts, then measure the database size and global search
per keystroke.

Run with ``python -m bench store``. ``CRM_BENCH_CONTACTS`` changes the size (default 100,000);
``CRM_BENCH_KEEP=1`` keeps the generated profile in ``bench/out/store-<N>/`` instead of a
temporary folder.

Figures (targets from DESIGN.md and issue 2):

* generation time of ``demo-data --contacts N`` (target: well under a minute for 100k), wall
  and CPU time (the CPU figure is the one that does not depend on what else the machine runs),
  with the number of records made;
* database size on disk after a checkpoint, and the largest tables and indexes;
* search latency per keystroke (target 20 ms): real generated names typed one character at a time
  (a Latin name, a common Latin name with many matches, Chinese, Japanese and Korean names), an
  e-mail address and a phone number's digits. Each sequence runs once cold (right after the
  store is opened) and then several times warm; median and p95 are per keystroke, over every
  keystroke of the warm runs. The slowest keystrokes are listed with their hit counts.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import percentile, summary_ms, verdict
from crm_desktop.models import Contact
from crm_desktop.services import demo_data
from crm_desktop.store import Store, open_store
from crm_desktop.store.search import search

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = int(os.environ.get("CRM_BENCH_CONTACTS", "100000"))
KEEP = os.environ.get("CRM_BENCH_KEEP") == "1"
SEED = 1
WARM_RUNS = 5
LIMIT = 50  # what the global search popup asks for
TARGET_KEYSTROKE_MS = 20.0
TARGET_GENERATION_S = 60.0


@contextmanager
def _profile_folder() -> Iterator[Path]:
    if KEEP:
        folder = ROOT / "bench" / "out" / f"store-{CONTACTS}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="crm-bench-store-") as tmp:
        yield Path(tmp)


def _generate(folder: Path) -> tuple[Store, demo_data.DemoSummary, float, float, float]:
    """Open (migrate) a new store and fill it; returns the store, summary, migrate s, wall s, CPU s."""
    started = time.perf_counter()
    store = open_store(folder / "crm.sqlite3", backup_dir=folder / "backups")
    migrated = time.perf_counter() - started
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with store.sessions.begin() as session:
        summary = demo_data.generate(session=session, contacts=CONTACTS, seed=SEED)
    return store, summary, migrated, time.perf_counter() - wall0, time.process_time() - cpu0


def _sizes(store: Store) -> tuple[float, list[tuple[str, float]]]:
    """Database size in MB after folding the WAL back in, and the largest objects in it."""
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = store.path
    total = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6
    largest: list[tuple[str, float]] = []
    with sqlite3.connect(path) as raw:
        try:
            rows = raw.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"
            ).fetchall()
            largest = [(name, size / 1e6) for name, size in rows]
        except sqlite3.OperationalError:  # SQLite built without the dbstat table
            pass
    return total, largest


def _first(session: Session, *where: object) -> Contact:
    contact = session.scalars(
        select(Contact).where(Contact.deleted.is_(False), *where).order_by(Contact.id).limit(1)  # type: ignore[arg-type]
    ).first()
    if contact is None:
        raise RuntimeError("the generated data has no contact of the kind wanted")
    return contact


def _sequences(store: Store) -> dict[str, str]:
    """What gets typed: names, an address and phone digits of real generated contacts."""
    with store.sessions() as session:
        latin = _first(session, Contact.language == "de", Contact.email.is_not(None))
        chinese = _first(session, Contact.language == "zh")
        japanese = _first(session, Contact.language == "ja")
        korean = _first(session, Contact.language == "ko")
        with_phone = _first(session, Contact.phone.is_not(None), Contact.language == "en")
    assert latin.email is not None and with_phone.phone is not None
    return {
        f"Latin name ({latin.full_name})": latin.full_name,
        "common Latin name (john smith)": "john smith",
        f"Chinese name ({chinese.full_name})": chinese.full_name,
        f"Japanese name ({japanese.full_name})": japanese.full_name,
        f"Korean name ({korean.full_name})": korean.full_name,
        f"e-mail ({latin.email})": latin.email,
        f"phone digits ({with_phone.phone})": "".join(c for c in with_phone.phone if c.isdigit()),
    }


def _keystrokes(text: str) -> list[str]:
    # A trailing space searches exactly what the text before it did: not a keystroke of interest.
    return [text[:i] for i in range(1, len(text) + 1) if not text[:i].endswith(" ")]


def _measure(
    store: Store, sequences: dict[str, str]
) -> dict[str, list[list[tuple[str, float, int]]]]:
    """Per sequence, per run: (typed text, ms, hits) for each keystroke. Run 0 is the cold one."""
    runs: dict[str, list[list[tuple[str, float, int]]]] = {label: [] for label in sequences}
    for _ in range(1 + WARM_RUNS):
        for label, text in sequences.items():
            timings: list[tuple[str, float, int]] = []
            # One session per typed word, as the search box's worker uses one per query burst.
            with store.sessions() as session:
                for typed in _keystrokes(text):
                    started = time.perf_counter()
                    hits = search(session, typed, limit=LIMIT)
                    timings.append((typed, (time.perf_counter() - started) * 1000, len(hits)))
            runs[label].append(timings)
    return runs


def main() -> int:
    """Generate, measure and print; returns 0 (figures over target are printed, not failed)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"store benchmark: {CONTACTS:,} contacts, seed {SEED}, load average {load:.1f} at start")
    with _profile_folder() as folder:
        store, summary, migrated, wall, cpu = _generate(folder)
        try:
            records = sum(summary.counts.values())
            print(
                f"generation: {wall:.1f} s wall, {cpu:.1f} s CPU for {records:,} records"
                f" ({records / wall:,.0f} records/s wall; {summary.indexed:,} search entries),"
                f" after {migrated:.2f} s creating and migrating the store"
                f"  [target: well under {TARGET_GENERATION_S:.0f} s: {verdict(wall, TARGET_GENERATION_S)}]"
            )
            shown = ", ".join(f"{n:,} {name}" for name, n in summary.counts.items() if n >= 1000)
            print(f"    records: {shown}")
            total, largest = _sizes(store)
            print(f"database size: {total:.1f} MB ({total * 1e6 / records:,.0f} bytes per record)")
            if largest:
                print(
                    "    largest: " + ", ".join(f"{name} {size:.1f} MB" for name, size in largest)
                )

            sequences = _sequences(store)
            runs = _measure(store, sequences)
            every_warm: list[float] = []
            every_cold: list[float] = []
            per_prefix: list[tuple[float, str, int]] = []
            print(
                f"search per keystroke (limit {LIMIT}; cold = first run after opening,"
                f" warm = {WARM_RUNS} more runs)  [target {TARGET_KEYSTROKE_MS:.0f} ms]"
            )
            for label, label_runs in runs.items():
                cold = [ms for _, ms, _ in label_runs[0]]
                warm = [ms for run in label_runs[1:] for _, ms, _ in run]
                every_cold.extend(cold)
                every_warm.extend(warm)
                for i, (typed, _, hits) in enumerate(label_runs[0]):
                    median = statistics.median(run[i][1] for run in label_runs[1:])
                    per_prefix.append((median, typed, hits))
                print(
                    f"    {label}: {len(cold)} keystrokes, warm {summary_ms(warm)};"
                    f" cold max {max(cold):.2f} ms"
                    f"  [{verdict(percentile(warm, 0.95), TARGET_KEYSTROKE_MS)}]"
                )
            p95 = percentile(every_warm, 0.95)
            print(
                f"all keystrokes: warm {summary_ms(every_warm)}; cold {summary_ms(every_cold)}"
                f"  [target {TARGET_KEYSTROKE_MS:.0f} ms per keystroke (p95):"
                f" {verdict(p95, TARGET_KEYSTROKE_MS)}]"
            )
            slowest = sorted(per_prefix, reverse=True)[:6]
            print(
                "    slowest keystrokes (warm median): "
                + ", ".join(f"{typed!r} {ms:.1f} ms ({hits} hits)" for ms, typed, hits in slowest)
            )
        finally:
            store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
