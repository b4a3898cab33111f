"""Persistence: scoring runs, scores, review cases, API keys and the audit log.

Modules (import the one you need; this package imports nothing heavy so that
`riskscore.access` stays cheap for the API's auth path):

- `db`        make_engine, migrate, session_factory, StoreError translation, SQLite lock retries
- `models`    the SQLAlchemy ORM tables
- `runs`      transactional scoring runs and latest scores
- `cases`     review cases, status transitions with history, outcomes, worklists
- `keys`      API keys (only sha256 stored) and authentication
- `audit`     the append-only, hash-chained audit log and its verification
- `principal` Principal (role + scope) and scope parsing, without SQLAlchemy

Write functions commit their own transaction (one unit of work each) and raise StoreError when
the database is unavailable, read-only or stays locked; read functions never commit.
"""
