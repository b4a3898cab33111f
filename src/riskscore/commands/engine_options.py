"""The `--engine pandas|spark` options shared by `riskscore features`, `score` and `train`."""

from __future__ import annotations

from enum import StrEnum

from riskscore.errors import DataError


class Engine(StrEnum):
    pandas = "pandas"
    spark = "spark"


ENGINE_HELP = "pandas (this machine, in memory) | spark (PySpark: local[*], or the cluster spark-submit chose)."
SPARK_MASTER_HELP = "Spark master for --engine spark, e.g. local[2] (default: spark-submit's, else local[*])."
GROUPS_HELP = "--engine spark: pupil groups (one pandas call each; default: about 50,000 pupils per group)."
MAX_MEMORY_HELP = "--engine pandas: memory budget in GiB (default: what this machine has free); refuse beyond it."
MSG_BAD_ENGINE = "--engine must be one of pandas, spark: {engine!r}"


def check_engine(engine: str) -> str:
    """Checked here: the CLI shell turns typer's own choice errors into tracebacks."""
    if engine not in {e.value for e in Engine}:
        raise DataError(MSG_BAD_ENGINE.format(engine=engine))
    return engine
