"""The embedded task store: one SQLite file, shared by the processes of one machine."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError
from gateway.jobs import ORPHANED, Job, now_iso

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
    client TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated);
CREATE TABLE IF NOT EXISTS workers (owner TEXT PRIMARY KEY, seen REAL NOT NULL);
"""


class SqliteJobStore:
    """Tasks in a SQLite file (WAL mode: readers do not block the writer)."""

    def __init__(self, path: Path, ttl: float = 86400.0, worker_timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        if "client" not in columns:  # a file written before tasks were scoped to keys
            self._db.execute("ALTER TABLE tasks ADD COLUMN client TEXT NOT NULL DEFAULT ''")
        self._lock = threading.Lock()
        self.ttl = ttl
        self.worker_timeout = worker_timeout

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock, self._db:
            return self._db.execute(sql, args)

    def create(self, owner: str, client: str = "") -> Job:
        stamp = now_iso()
        self._write("DELETE FROM tasks WHERE updated < ?", (time.time() - self.ttl,))
        cursor = self._write(
            "INSERT INTO tasks (status, owner, client, date_created, date_updated, updated) "
            "VALUES ('pending', ?, ?, ?, ?, ?)",
            (owner, client, stamp, stamp, time.time()),
        )
        if cursor.lastrowid is None:
            raise GatewayError("the task store did not return the new task's id")
        return Job(cursor.lastrowid, "pending", stamp, stamp, owner, client=client)

    def _end(self, job_id: int, status: str, data: Any, error: str | None) -> None:
        self._write(
            "UPDATE tasks SET status = ?, data = ?, error = ?, date_updated = ?, updated = ? "
            "WHERE id = ? AND status = 'pending'",
            (status, json.dumps(data), error, now_iso(), time.time(), job_id),
        )

    def finish(self, job_id: int, data: Any) -> None:
        self._end(job_id, "success", data, None)

    def fail(self, job_id: int, error: str) -> None:
        self._end(job_id, "error", None, error)

    def heartbeat(self, owner: str) -> None:
        self._write(
            "INSERT INTO workers (owner, seen) VALUES (?, ?) "
            "ON CONFLICT(owner) DO UPDATE SET seen = excluded.seen",
            (owner, time.time()),
        )

    def _owner_alive(self, owner: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT seen FROM workers WHERE owner = ?", (owner,)).fetchone()
        return row is not None and time.time() - row[0] < self.worker_timeout

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, status, date_created, date_updated, owner, data, error, client "
                "FROM tasks WHERE id = ? AND updated >= ?",
                (job_id, time.time() - self.ttl),
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row[5] or "null")
        job = Job(row[0], row[1], row[2], row[3], row[4], data, row[6], row[7])
        if job.status == "pending" and not self._owner_alive(job.owner):
            self.fail(job.id, ORPHANED)
            return self.get(job_id)
        return job

    def close(self) -> None:
        with self._lock:
            self._db.close()
