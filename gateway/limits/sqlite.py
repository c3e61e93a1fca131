"""Per-key limits in the SQLite file the tasks use: the processes of one machine."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from gateway.limits import ADMITTED, Limits, Verdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS key_rate (name TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS key_leases (
    lease TEXT PRIMARY KEY, name TEXT NOT NULL, expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS key_leases_name ON key_leases (name, expires);
"""


class SqliteLimitStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each acquire is one explicit BEGIN IMMEDIATE ... COMMIT, so the
        # read and the write of a key's counters happen under one write lock.
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, timeout=10.0, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def acquire(self, name: str, limits: Limits, lease: str, lease_seconds: float) -> Verdict:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                verdict = self._acquire(name, limits, lease, lease_seconds, time.time())
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return verdict

    def _acquire(
        self, name: str, limits: Limits, lease: str, lease_seconds: float, now: float
    ) -> Verdict:
        db = self._db
        if limits.concurrency > 0:
            db.execute("DELETE FROM key_leases WHERE name = ? AND expires < ?", (name, now))
            (held,) = db.execute(
                "SELECT count(*) FROM key_leases WHERE name = ?", (name,)
            ).fetchone()
            if held >= limits.concurrency:
                return Verdict(False, "concurrency", 1.0)
        if limits.rate > 0:
            row = db.execute("SELECT tat FROM key_rate WHERE name = ?", (name,)).fetchone()
            tat = max(row[0] if row else now, now) + limits.interval
            allowed_at = tat - limits.capacity * limits.interval
            if now < allowed_at:
                return Verdict(False, "rate", allowed_at - now)
            db.execute(
                "INSERT INTO key_rate (name, tat) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET tat = excluded.tat",
                (name, tat),
            )
        if limits.concurrency > 0:
            db.execute(
                "INSERT INTO key_leases (lease, name, expires) VALUES (?, ?, ?)",
                (lease, name, now + lease_seconds),
            )
        return ADMITTED

    def release(self, name: str, lease: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM key_leases WHERE lease = ?", (lease,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
