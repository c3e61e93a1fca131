"""The embedded task store: one SQLite file, shared by the processes of one machine."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError
from gateway.jobs import ABANDONED, MAX_ATTEMPTS, Claim, Job, now_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    data TEXT,
    error TEXT,
    date_created TEXT NOT NULL,
    date_updated TEXT NOT NULL,
    updated REAL NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    payload BLOB,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated);
CREATE TABLE IF NOT EXISTS workers (owner TEXT PRIMARY KEY, seen REAL NOT NULL);
"""
# Columns added since the first release, for files written before them.
ADDED_COLUMNS = {
    "client": "TEXT NOT NULL DEFAULT ''",
    "kind": "TEXT NOT NULL DEFAULT ''",
    "payload": "BLOB",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
}
QUEUE_INDEX = "CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, owner, id)"
# Pending tasks whose owner has not heartbeated within the timeout (given as ?).
ORPHANS = (
    "status = 'pending' AND owner != '' AND owner NOT IN "
    "(SELECT owner FROM workers WHERE seen >= ?)"
)


class SqliteJobStore:
    """Tasks in a SQLite file (WAL mode: readers do not block the writer)."""

    def __init__(self, path: Path, ttl: float = 86400.0, worker_timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        for name, definition in ADDED_COLUMNS.items():
            if name not in columns:
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {definition}")
        self._db.execute(QUEUE_INDEX)
        self._lock = threading.Lock()
        self.ttl = ttl
        self.worker_timeout = worker_timeout

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock, self._db:
            return self._db.execute(sql, args)

    def _read(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def create(self, kind: str, payload: bytes, client: str = "") -> Job:
        stamp = now_iso()
        self._write("DELETE FROM tasks WHERE updated < ?", (time.time() - self.ttl,))
        cursor = self._write(
            "INSERT INTO tasks (status, owner, client, kind, payload, date_created, "
            "date_updated, updated) VALUES ('pending', '', ?, ?, ?, ?, ?, ?)",
            (client, kind, payload, stamp, stamp, time.time()),
        )
        if cursor.lastrowid is None:
            raise GatewayError("the task store did not return the new task's id")
        return Job(cursor.lastrowid, "pending", stamp, stamp, client=client)

    def queued(self) -> int:
        row = self._read("SELECT count(*) FROM tasks WHERE status = 'pending' AND owner = ''", ())
        return int(row[0])

    def claim(self, owner: str) -> Claim | None:
        # One statement, so two processes can never claim the same task.
        with self._lock, self._db:
            row = self._db.execute(
                "UPDATE tasks SET owner = ?, attempts = attempts + 1 WHERE id = "
                "(SELECT id FROM tasks WHERE status = 'pending' AND owner = '' ORDER BY id "
                "LIMIT 1) RETURNING id, kind, payload",
                (owner,),
            ).fetchone()
        return None if row is None else Claim(row[0], row[1], bytes(row[2] or b""))

    def _end(self, job_id: int, status: str, data: Any, error: str | None) -> None:
        self._write(
            "UPDATE tasks SET status = ?, data = ?, error = ?, owner = '', payload = NULL, "
            "date_updated = ?, updated = ? WHERE id = ? AND status = 'pending'",
            (status, json.dumps(data), error, now_iso(), time.time(), job_id),
        )

    def finish(self, job_id: int, data: Any) -> None:
        self._end(job_id, "success", data, None)

    def fail(self, job_id: int, error: str) -> None:
        self._end(job_id, "error", None, error)

    def release(self, job_id: int) -> None:
        # Not counted as an attempt; ordered by id, it is claimed before newer tasks.
        self._write(
            "UPDATE tasks SET owner = '', attempts = max(attempts - 1, 0) "
            "WHERE id = ? AND status = 'pending'",
            (job_id,),
        )

    def recover(self, max_attempts: int = MAX_ATTEMPTS) -> int:
        alive_since = time.time() - self.worker_timeout
        self._write(
            "UPDATE tasks SET status = 'error', error = ?, owner = '', payload = NULL, "
            f"date_updated = ?, updated = ? WHERE {ORPHANS} AND attempts >= ?",
            (ABANDONED, now_iso(), time.time(), alive_since, max_attempts),
        )
        cursor = self._write(f"UPDATE tasks SET owner = '' WHERE {ORPHANS}", (alive_since,))
        self._write("DELETE FROM workers WHERE seen < ?", (time.time() - self.ttl,))
        return cursor.rowcount

    def heartbeat(self, owner: str) -> None:
        self._write(
            "INSERT INTO workers (owner, seen) VALUES (?, ?) "
            "ON CONFLICT(owner) DO UPDATE SET seen = excluded.seen",
            (owner, time.time()),
        )

    def get(self, job_id: int) -> Job | None:
        row = self._read(
            "SELECT id, status, date_created, date_updated, owner, data, error, client "
            "FROM tasks WHERE id = ? AND updated >= ?",
            (job_id, time.time() - self.ttl),
        )
        if row is None:
            return None
        return Job(row[0], row[1], row[2], row[3], row[4], json.loads(row[5] or "null"), *row[6:])

    def close(self) -> None:
        with self._lock:
            self._db.close()
