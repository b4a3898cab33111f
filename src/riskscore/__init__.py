"""riskscore: early-warning signals against early school leaving (VSV), for human review."""

__version__ = "0.1.0"
