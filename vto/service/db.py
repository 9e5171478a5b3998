"""The service's database: one SQLAlchemy engine per process (SQLite by default, PostgreSQL when
distributed), the shared ``metadata`` of vto's tables, and the one place database errors become
vto errors (an unreachable database is a 503 with Retry-After, never a 500).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeout

from vto.errors import Unavailable

metadata = MetaData()

RETRY_AFTER_S = 5


@contextmanager
def db_errors() -> Iterator[None]:
    """Convert the driver's "cannot reach / cannot use the database" errors into Unavailable."""
    try:
        yield
    except (OperationalError, PoolTimeout) as exc:
        raise Unavailable("the job database cannot be reached; retry shortly",
                          retry_after_s=RETRY_AFTER_S) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the job database connection was lost; retry shortly",
                              retry_after_s=RETRY_AFTER_S) from exc
        raise


F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """A table method whose database errors surface as :func:`db_errors` says."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with db_errors():
            return method(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite runs in WAL mode with a busy timeout, and a transaction
    opened with ``immediate=True`` (execution option) takes the write lock at BEGIN, so a
    read-then-write (the queue bound) cannot interleave with another writer."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False,
                                                  "isolation_level": None},
                               pool_size=8, max_overflow=16)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: readers never block the writer; NORMAL sync is durable across process crashes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # The driver runs in autocommit mode (isolation_level=None); we open transactions.
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # SQLAlchemy 2.1 defaults to v3
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16, pool_timeout=10,
                         connect_args={"connect_timeout": 5})
