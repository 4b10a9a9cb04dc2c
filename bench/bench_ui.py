"""Desktop UI benchmark over 100k contacts: list first paint, search per keystroke, cold start, memory.

Run with ``python -m bench ui`` (or ``python -m bench.bench_ui``). The data set is made once with
the demo generator (``crm demo-data --contacts 100000``) in ``bench/out/ui-<N>/`` and reused by
later runs; when the generator is not part of the checkout, a plain bulk fill of the same size
(accounts, contacts with Latin and CJK names, e-mails, phones; indexed for search) stands in, and
the output says so.

Figures (targets from DESIGN.md):

* opening the contacts view to first rows painted (150 ms): a new list view is built, shown and
  started; the clock stops at the first paint of its table with rows in it;
* global search per keystroke (20 ms): names typed one character at a time (Latin and CJK); the
  clock runs from the text change to the results shown;
* cold start to a usable window (1.5 s): a fresh ``python -m crm_desktop --exit-when-ready``
  process, from spawn to exit after the first rows are on screen;
* resident memory with the contacts list loaded (300 MB): after the first page, and after
  scrolling through all 100k rows (every page fetched).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = int(os.environ.get("CRM_BENCH_CONTACTS", "100000"))
SEARCH_WORDS = ["john smith", "garcia", "müller", "zoe", "王伟", "张", "c12345@", "555 12"]
TARGETS = {"first_rows_ms": 150.0, "keystroke_ms": 20.0, "cold_start_s": 1.5, "rss_mb": 300.0}


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --- data ---------------------------------------------------------------------------------------
def ensure_profile(contacts: int) -> tuple[Path, str]:
    """A profile with ``contacts`` contacts, made once; returns its folder and how it was made."""
    import importlib.util

    demo = importlib.util.find_spec("crm_desktop.services.demo_data") is not None
    folder = ROOT / "bench" / "out" / f"ui-{contacts}-{'demo' if demo else 'bulk'}"
    marker = folder / "made-by.txt"
    if marker.exists():
        return folder, marker.read_text().strip()
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if demo:
        made_by = f"demo generator (crm demo-data --contacts {contacts} --seed 1)"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from crm_desktop.cli import main; sys.exit(main(sys.argv[1:]))",
                "--profile",
                str(folder),
                "demo-data",
                "--contacts",
                str(contacts),
                "--seed",
                "1",
            ],
            check=True,
            cwd=ROOT,
        )
    else:
        made_by = f"bulk fill ({contacts} contacts; demo generator not in this checkout)"
        _bulk_fill(folder, contacts)
    marker.write_text(made_by + "\n")
    return folder, made_by


def _bulk_fill(folder: Path, contacts: int) -> None:
    from sqlalchemy import insert

    from crm_desktop.config import Profile
    from crm_desktop.models import Account, AccountContact, Contact, User, new_id
    from crm_desktop.store import open_store
    from crm_desktop.store.search import reindex

    rng = random.Random(1)
    latin_first = [
        "James",
        "Mary",
        "John",
        "Patricia",
        "Robert",
        "Jennifer",
        "Michael",
        "Linda",
        "Zoë",
        "José",
        "Anna",
        "Lukas",
        "Sofia",
    ]
    latin_last = [
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Müller",
        "Rossi",
        "Dubois",
        "Novak",
    ]
    cjk_first = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇"]
    cjk_last = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"]
    profile = Profile(folder).ensure()
    store = open_store(profile.database_path, backup_dir=profile.backup_directory)
    user_id = new_id()
    account_ids = [new_id() for _ in range(max(contacts // 10, 1))]
    with store.engine.begin() as connection:
        connection.execute(
            insert(User), [{"id": user_id, "username": "bench", "full_name": "Bench Rep"}]
        )
        connection.execute(
            insert(Account),
            [
                {
                    "id": a,
                    "name": f"{rng.choice(latin_last)} {rng.choice(['GmbH', 'Ltd', 'Inc', 'SA'])} {i}",
                    "owner_id": user_id,
                }
                for i, a in enumerate(account_ids)
            ],
        )
        rows, links = [], []
        for i in range(contacts):
            if i % 5 == 0:
                first, last = rng.choice(cjk_first), rng.choice(cjk_last)
                full = last + first
            else:
                first, last = rng.choice(latin_first), rng.choice(latin_last)
                full = f"{first} {last}"
            contact_id = new_id()
            rows.append(
                {
                    "id": contact_id,
                    "first_name": first,
                    "last_name": last,
                    "full_name": full,
                    "email": f"c{i}@example{i % 97}.com",
                    "phone": f"+1 555 {rng.randrange(10**6, 10**7)}",
                    "owner_id": user_id,
                }
            )
            links.append(
                {
                    "id": new_id(),
                    "account_id": account_ids[i % len(account_ids)],
                    "contact_id": contact_id,
                    "is_primary": True,
                }
            )
        connection.execute(insert(Contact), rows)
        connection.execute(insert(AccountContact), links)
        reindex(connection)
    store.dispose()
    settings = profile.settings()
    settings.current_user_id = user_id
    settings.save()


# --- measurements in this process ---------------------------------------------------------------
def _wait(app: object, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run the event loop until ``condition()`` holds, checking every millisecond.

    A local QEventLoop with a timer, never ``QApplication.processEvents()`` in a loop: on
    PySide6 6.12 with CPython 3.11 that static call drops a reference to None each time and
    aborts the interpreter after a few thousand calls.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    deadline = time.perf_counter() + timeout
    failed: list[bool] = []

    def check() -> None:
        if condition():
            loop.quit()
        elif time.perf_counter() > deadline:
            failed.append(True)
            loop.quit()

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if failed:
        raise TimeoutError("benchmark step did not finish")


def _painted(watch: Any) -> bool:
    return watch.painted_at is not None


def _counted(view: Any) -> bool:
    return view.model.total is not None


def _caught_up(shown: list[str], painted: list[str]) -> bool:
    return len(painted) >= len(shown)


def _last_is(shown: list[str], text: str) -> bool:
    return bool(shown) and shown[-1] == text


def measure_in_process(folder: Path) -> dict[str, object]:
    """List first paint, search keystrokes and memory, in this process."""
    from PySide6.QtCore import QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication, QWidget

    from crm_desktop.config import Profile
    from crm_desktop.store import open_store
    from crm_desktop.ui.context import AppContext
    from crm_desktop.ui.global_search import GlobalSearchPopup
    from crm_desktop.ui.list_views import RecordListView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    profile = Profile(folder)
    store = open_store(profile.database_path, backup_dir=profile.backup_directory)
    context = AppContext(
        store=store, profile=profile, current_user_id=profile.settings().current_user_id
    )
    settings = QSettings(str(folder / "bench-ui-state.ini"), QSettings.Format.IniFormat)
    results: dict[str, object] = {"rss_before_mb": rss_mb()}

    class PaintWatch(QObject):
        def __init__(self, view: RecordListView) -> None:
            super().__init__()
            self.view = view
            self.painted_at: float | None = None
            self.painted_cpu = 0.0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if (
                event.type() == QEvent.Type.Paint
                and self.painted_at is None
                and self.view.model.rowCount()
            ):
                self.painted_at = time.perf_counter()
                self.painted_cpu = time.process_time()
            return False

    first_rows: list[float] = []
    first_rows_cpu: list[float] = []
    views: list[RecordListView] = []
    for sort_column in (0, 0, 0, 2, 0):
        started = time.perf_counter()
        started_cpu = time.process_time()
        view = RecordListView(context, "contact", settings)
        view.table.horizontalHeader().setSortIndicator(
            sort_column, view.table.horizontalHeader().sortIndicatorOrder()
        )
        watch = PaintWatch(view)
        view.table.viewport().installEventFilter(watch)
        view.resize(1100, 700)
        view.show()
        view.start()
        _wait(app, partial(_painted, watch))
        assert watch.painted_at is not None
        first_rows.append((watch.painted_at - started) * 1000)
        first_rows_cpu.append((watch.painted_cpu - started_cpu) * 1000)
        _wait(app, partial(_counted, view))
        view.table.viewport().removeEventFilter(watch)
        views.append(view)
    results["first_rows_ms"] = first_rows
    results["first_rows_cpu_ms"] = first_rows_cpu
    results["total_contacts"] = views[0].model.total
    results["rss_list_mb"] = rss_mb()

    # Search as you type: from the text change to the results painted.
    host = QWidget()
    host.resize(1000, 700)
    host.show()
    popup = GlobalSearchPopup(context, host)
    popup.popup()
    shown: list[str] = []
    painted: list[str] = []

    class ResultsPaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and len(painted) < len(shown):
                painted.append(shown[-1])
            return False

    results_watch = ResultsPaintWatch()
    popup.results.viewport().installEventFilter(results_watch)
    popup.results_shown.connect(lambda text, _n: shown.append(text))
    per_key: dict[str, list[float]] = {}
    key_cpu: list[float] = []
    for word in SEARCH_WORDS:
        popup.edit.clear()
        _wait(app, partial(_caught_up, shown, painted))
        times = per_key.setdefault(word, [])
        for text in _prefixes(word):
            started = time.perf_counter()
            started_cpu = time.process_time()
            popup.edit.setText(text)
            _wait(app, partial(_last_is, painted, text))
            times.append((time.perf_counter() - started) * 1000)
            key_cpu.append((time.process_time() - started_cpu) * 1000)
    results["keystroke_ms"] = per_key
    results["keystroke_cpu_ms"] = key_cpu

    # Scroll through everything: the worst case for memory.
    view = views[0]
    started = time.perf_counter()
    while view.model.canFetchMore() or view.model.is_loading:
        view.table.scrollToBottom()
        _wait(app, lambda: not view.model.is_loading)
    results["scroll_all_s"] = time.perf_counter() - started
    results["rows_loaded"] = view.model.rowCount()
    results["rss_all_rows_mb"] = rss_mb()
    context.runner.shutdown()
    store.dispose()
    return results


def measure_cold_start(folder: Path, runs: int = 5) -> list[tuple[float, float, float]]:
    """Per run: seconds from spawn to the first rows on screen, of that inside main(), and the
    CPU seconds the process had used by then (what an idle machine would take).

    The clock stops when the app prints its ready line, not when the process has exited:
    tearing down is not part of starting.
    """
    out: list[tuple[float, float, float]] = []
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "crm_desktop", "--profile", str(folder), "--exit-when-ready"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        wall = time.perf_counter() - started
        process.communicate(timeout=60)
        if not line.startswith("ready "):
            raise RuntimeError(f"cold start did not report ready (exit {process.returncode})")
        fields = line.split()
        out.append((wall, float(fields[1]), float(fields[3])))
    return out


def measure_store_search(folder: Path, words: list[str]) -> list[float]:
    """Milliseconds of the store search alone for every prefix of ``words`` (no Qt)."""
    from crm_desktop.store import open_store
    from crm_desktop.store.search import search

    store = open_store(folder / "crm.sqlite3")
    times: list[float] = []
    with store.sessions() as session:
        for word in words:
            for text in _prefixes(word):
                started = time.perf_counter()
                search(session, text, limit=40)
                times.append((time.perf_counter() - started) * 1000)
    store.dispose()
    return times


def _prefixes(word: str) -> list[str]:
    # A trailing space searches the same as the text without it: not a keystroke worth timing.
    return [
        word[:i]
        for i in range(1, len(word) + 1)
        if word[:i].strip() and word[:i] == word[:i].rstrip()
    ]


def measure_in_child(folder: Path) -> dict[str, Any]:
    """Run :func:`measure_in_process` in a fresh process and return its figures.

    A child of its own keeps Qt out of the ``python -m bench`` process (other benchmarks run
    there), and its memory figure is that of the UI alone.
    """
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_ui", "--measure-in-process", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
        check=False,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        print(result.stderr, file=sys.stderr)
        raise RuntimeError(f"UI measurement process failed (exit {result.returncode})")
    figures: dict[str, Any] = json.loads(line)
    return figures


def _child_main(folder: Path) -> None:
    print(json.dumps(measure_in_process(folder)), flush=True)
    # Skip interpreter teardown: PySide6 6.12 on Python 3.11 can abort there (refcount bug),
    # and the figures are already out.
    os._exit(0)


def main() -> int:
    """Print the UI figures for ``CRM_BENCH_CONTACTS`` (default 100,000) contacts."""
    started = time.perf_counter()
    folder, made_by = ensure_profile(CONTACTS)
    print(
        f"UI benchmark: {CONTACTS:,} contacts, data by {made_by} (ready in {time.perf_counter() - started:.1f} s)"
    )

    cold = measure_cold_start(folder)
    store_only = measure_store_search(folder, SEARCH_WORDS)
    results = measure_in_child(folder)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"(machine load average {load:.1f} on {os.cpu_count()} cores; wall-clock figures grow"
        " with load, CPU figures are what an idle machine would take)"
    )
    first = [float(x) for x in results["first_rows_ms"]]
    first_cpu = [float(x) for x in results["first_rows_cpu_ms"]]
    print(
        f"contacts view opened to first rows painted: median {statistics.median(first):.0f} ms wall"
        f" ({statistics.median(first_cpu):.0f} ms CPU), first open {first[0]:.0f} ms,"
        f" sorted by e-mail {first[3]:.0f} ms, over {len(first)} opens"
        f"  [target {TARGETS['first_rows_ms']:.0f} ms: {_verdict(statistics.median(first), TARGETS['first_rows_ms'])}]"
    )
    keys: dict[str, list[float]] = results["keystroke_ms"]
    every = [t for times in keys.values() for t in times]
    key_cpu = [float(x) for x in results["keystroke_cpu_ms"]]
    detail = ", ".join(
        f"{word!r} {statistics.median(t):.1f}/{max(t):.1f}" for word, t in keys.items() if t
    )
    p95 = sorted(every)[int(0.95 * (len(every) - 1))]
    print(
        f"global search per keystroke (text changed to results painted): median"
        f" {statistics.median(every):.1f} ms wall ({statistics.median(key_cpu):.1f} ms CPU),"
        f" p95 {p95:.1f} ms, max {max(every):.1f} ms over {len(every)} keystrokes"
        f"  [target {TARGETS['keystroke_ms']:.0f} ms: {_verdict(statistics.median(every), TARGETS['keystroke_ms'])}]"
    )
    print(f"    per word (median/max ms wall): {detail}")
    print(
        f"    of which the store search alone (store/search.py, same keystrokes): median "
        f"{statistics.median(store_only):.1f} ms, max {max(store_only):.1f} ms"
    )
    walls = [w for w, _, _ in cold]
    cpus = [c for _, _, c in cold]
    print(
        f"cold start to usable window (process spawn to first rows painted): median"
        f" {statistics.median(walls):.2f} s wall ({statistics.median(cpus):.2f} s CPU),"
        f" runs {', '.join(f'{w:.2f}' for w in walls)} s;"
        f" {statistics.median(r for _, r, _ in cold):.2f} s of it after the app's modules were imported"
        f"  [target {TARGETS['cold_start_s']} s: {_verdict(statistics.median(walls), TARGETS['cold_start_s'])}]"
    )
    rss_list = float(results["rss_list_mb"])
    rss_all = float(results["rss_all_rows_mb"])
    print(
        f"resident memory: {rss_list:.0f} MB with the contacts list open (5 list views, search ready);"
        f" {rss_all:.0f} MB after scrolling through all {results['rows_loaded']:,} rows"
        f" ({results['scroll_all_s']:.1f} s)  [target {TARGETS['rss_mb']:.0f} MB: {_verdict(max(rss_list, rss_all), TARGETS['rss_mb'])}]"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure-in-process":
        _child_main(Path(sys.argv[2]))
    sys.exit(main())
