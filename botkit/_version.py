"""botkit's version: the one place it is written (pyproject.toml reads it from here).

A literal, not `importlib.metadata.version()`: that lookup costs ~20 ms at every start,
a fifth of `botkit --help` (bench/startup.py).
"""

__version__ = "0.1.0"
