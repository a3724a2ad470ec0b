"""Run benchmarks: `python -m bench` (all), `python -m bench session --smoke`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from bench import Row


def discover() -> list[str]:
    """Names of the benchmark modules beside this file."""
    folder = str(Path(__file__).parent)
    return sorted(
        info.name for info in pkgutil.iter_modules([folder]) if not info.name.startswith("_")
    )


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        note = f"  {row.note}" if row.note else ""
        print(f"{row.bench:<12} {row.name:<60} {row.value:>10.4f} {row.unit}{note}")


def main(argv: list[str]) -> int:
    available = discover()
    names = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available)}")
        return 2
    status = 0
    for name in names or available:
        module = importlib.import_module(f"bench.{name}")
        print(f"== bench {name}", flush=True)
        if hasattr(module, "main"):
            status = max(status, int(module.main(options) or 0))
        elif hasattr(module, "run"):
            print_rows(module.run("--smoke" in options))
        else:
            print(f"bench/{name}.py has neither main(argv) nor run(smoke)")
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
