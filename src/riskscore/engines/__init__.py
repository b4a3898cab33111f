"""Engines that build features, evaluate the rules and score: the single-machine pandas engine (the
library itself) and the same code distributed with PySpark (``engines.spark``).

``engines.sizing`` tells, before anything is read, whether the pandas engine fits in this machine's
memory; ``engines.spark`` imports pyspark only when it is used.
"""

from __future__ import annotations

ENGINES = ("pandas", "spark")
