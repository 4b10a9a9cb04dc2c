"""Run benchmarks: ``python -m bench [NAME ...]``.

Without names, every ``bench/bench_*.py`` module runs in name order; ``NAME`` is the part after
``bench_`` (``store``, ``ui``, ``server``, ``sync``...) or the full module name. A new benchmark
needs no registration: drop a ``bench_<name>.py`` with a ``main()`` next to this file. One
benchmark failing (an exception, or a non-zero return) is reported and the others still run; the
exit code is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

PREFIX = "bench_"


def discover() -> dict[str, str]:
    """Benchmark short names mapped to their module names, in name order."""
    folder = Path(__file__).resolve().parent
    found = {
        info.name.removeprefix(PREFIX): f"{__package__ or 'bench'}.{info.name}"
        for info in pkgutil.iter_modules([str(folder)])
        if info.name.startswith(PREFIX) and not info.ispkg
    }
    return dict(sorted(found.items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks (all by default); returns the process exit code."""
    available = discover()
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Print performance figures against DESIGN.md targets."
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(available)}"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, module in available.items():
            print(f"{name:10} {module}")
        return 0
    chosen: list[str] = []
    for name in args.names or list(available):
        short = name.removeprefix(PREFIX).removesuffix(".py")
        if short not in available:
            parser.error(f"no benchmark {name!r} (have: {', '.join(available) or 'none'})")
        chosen.append(short)

    failed: list[str] = []
    for short in chosen:
        print(f"=== {short} ({available[short]}) ===", flush=True)
        started = time.perf_counter()
        # Each benchmark runs with its defaults: one parsing its own options must not see
        # this runner's benchmark names on the command line.
        saved_argv, sys.argv = sys.argv, [available[short]]
        try:
            result = importlib.import_module(available[short]).main()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            result = 1
        finally:
            sys.argv = saved_argv
        if isinstance(result, int) and result != 0:
            failed.append(short)
        print(f"=== {short}: {time.perf_counter() - started:.1f} s ===\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
