"""Ingest: DUO's files and the school systems' absence exports into the raw store, at the door
pseudonymised, allow-listed, merged by natural key and recorded in a ledger.

Modules: formats (encodings, delimiters, dates, decimal comma), pseudonym (key, HMAC, identifiers),
duo (DUO file types), profiles (school-system mapping profiles, data/profiles/*.yaml), store (staging
merge and derived contract tables), ledger (import log, volume checks), run (one import).
"""
