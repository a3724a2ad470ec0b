"""botkit's benchmarks: `python -m bench [NAME ...] [--smoke]`.

The contract for a benchmark module `bench/<name>.py` (names starting with `_` are
skipped):

* `main(argv: list[str]) -> int` runs it with command-line arguments (the runner passes
  what follows the module names, e.g. `--smoke`) and prints its own report; or
* `run(smoke: bool) -> list[Row]` returns rows that the runner prints as a table.

`--smoke` means "a few iterations only": tests/test_bench_smoke.py runs every benchmark
that way so none of them can rot. Results worth keeping go into bench/RESULTS.md.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Row"]


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured value."""

    bench: str
    name: str
    value: float
    unit: str
    note: str = ""
