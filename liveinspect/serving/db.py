"""One small database layer over SQLite (default) and PostgreSQL (psycopg 3).

Queries are written once with `?` placeholders and portable SQL (`ON
CONFLICT ... DO NOTHING`, `RETURNING`); the few differences live here: how
to connect, the placeholder style, column types, and how a worker claims a
row. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several processes
split the queue without waiting on each other; SQLite serialises writers
with `BEGIN IMMEDIATE`, which is the same guarantee for processes on one
host. Connections come from a bounded pool, one per thread at a time.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError

POOL_SIZE = 16


class Connection:
    """A connection lent from the pool; `?` placeholders work for both backends."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self._sql(sql), tuple(params))

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.execute(sql, params)
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    @property
    def skip_locked(self) -> str:
        """Appended to the SELECT that picks rows to claim."""
        return " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""


class Database:
    """A pool of connections to one database and the transactions over them."""

    def __init__(self, url: str | None, data_dir: Path) -> None:
        self.url = url
        if url:
            try:
                import psycopg  # noqa: F401
            except ImportError as error:
                raise LiveInspectError(
                    "PostgreSQL needs psycopg: pip install 'liveinspect[serve]'"
                ) from error
            self.dialect = "postgresql"
            self.display = _redact(url)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.path = data_dir / "liveinspect.sqlite3"
            self.dialect = "sqlite"
            self.display = str(self.path)
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._closed = False

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> Connection:
        if self.dialect == "postgresql":
            import psycopg

            try:
                raw = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as error:
                raise LiveInspectError(f"cannot connect to {self.display}: {error}") from error
            return Connection(raw, self.dialect)
        # isolation_level=None: autocommit, so transactions are exactly the BEGINs below.
        raw = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        raw.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        raw.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA busy_timeout=30000")
        return Connection(raw, self.dialect)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        if self._closed:
            raise LiveInspectError("database is closed")
        self._slots.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            healthy = True
            try:
                yield conn
            except BaseException:
                healthy = _still_usable(conn)
                raise
            finally:
                if healthy and not self._closed:
                    self._pool.put(conn)
                else:
                    _close_quietly(conn)
        finally:
            self._slots.release()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction; SQLite takes the write lock at once (no upgrade deadlocks)."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                _close_quietly(self._pool.get_nowait())
            except queue.Empty:
                return

    # -- schema ------------------------------------------------------------------------

    def create_schema(self, statements: Sequence[str]) -> None:
        types = {
            "postgresql": {
                "blob": "BYTEA",
                "float": "DOUBLE PRECISION",
                "autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            },
            "sqlite": {"blob": "BLOB", "float": "REAL", "autoid": "INTEGER PRIMARY KEY AUTOINCREMENT"},
        }
        with self.connection() as conn:
            if self.dialect == "postgresql":
                # Two processes starting at once would race on CREATE TABLE IF NOT EXISTS.
                conn.execute("SELECT pg_advisory_lock(7261301)")
            try:
                for statement in statements:
                    conn.execute(statement.format(**types[self.dialect]))
            finally:
                if self.dialect == "postgresql":
                    conn.execute("SELECT pg_advisory_unlock(7261301)")


def _still_usable(conn: Connection) -> bool:
    try:
        if conn.dialect == "sqlite":
            return not conn.raw.in_transaction
        return not conn.raw.closed and conn.raw.info.transaction_status == 0  # idle
    except Exception:  # noqa: BLE001 - a broken connection is simply not reused
        return False


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail too
        conn.raw.close()


def _redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)
