"""The study's storage (``hydra.sweeper.storage``), checked before any trial starts: a URL
SQLAlchemy cannot read, a driver that is not installed, a server that does not answer, a database
that does not exist or refuses the user each end in one line (``StorageError``) that names the URL
as written, its password hidden, and the fix.

The check opens one connection and closes it, as Optuna would open the study, waiting at most
``CONNECT_TIMEOUT_S`` for a server to answer; the driver's own
first line of the reason (libpq's, MySQL's, SQLite's) is quoted, and the fix is chosen by its words.
"""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from mlplab.errors import UserError

# The fix for a connection that failed, by words of the driver's reason (lower case), first match wins:
# a missing role also "does not exist", so the user's rule comes before the database's.
FIXES = (
    (("password authentication failed", "role \"", "access denied"),
     "fix the URL's user and password, or give that user access to the database"),
    (("does not exist", "unknown database"),
     "create the database (PostgreSQL: createdb <name>) or name one that exists"),
    (("unable to open database file",),
     "the SQLite file's folder must exist and be writable by this user: create it, or name another path"),
    (("connection refused", "could not connect", "can't connect", "could not translate host name",
      "name or service not known", "no such file or directory", "timeout expired", "timed out"),
     "start the database server, or fix the URL's host and port"),
)
ANY_FAILURE = "check that the server runs and the URL's host, port, database, user and password"
# pip's name for a driver module whose own name differs
PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
            "pymysql": "PyMySQL"}
EXAMPLE = "e.g. hydra.sweeper.storage=postgresql://user:password@host/db or sqlite:////abs/path/optuna.db"
# How long the check waits for a server to answer. Without it a host that drops packets holds the
# sweep for TCP's two minutes, and one that takes the connection and stays silent for good (libpq
# was still waiting after 40 s here). A URL's own ?connect_timeout= wins.
CONNECT_TIMEOUT_S = 10
DRIVERS_WITH_CONNECT_TIMEOUT = ("psycopg2", "psycopg", "pymysql", "mysqldb")  # others name it otherwise


class StorageError(UserError):
    """``hydra.sweeper.storage`` cannot hold the study: the message names the URL and the fix."""


def shown(url: str) -> str:
    """``url`` as written, or with its password replaced by ``***`` when it has one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def check_storage(url: str, written: str) -> None:
    """Open and close one connection to ``url`` (``written`` with its driver resolved,
    ``mlplab.runtime.trial.storage_url``); raise ``StorageError`` naming ``written`` if it fails."""
    where = f"hydra.sweeper.storage={shown(written)}"
    try:
        parsed = make_url(url)
        bounded = (parsed.get_driver_name() in DRIVERS_WITH_CONNECT_TIMEOUT
                   and "connect_timeout" not in parsed.query)
        waits = {"connect_timeout": CONNECT_TIMEOUT_S} if bounded else {}
        engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=waits)
    except NoSuchModuleError:  # an ArgumentError too: first
        raise StorageError(f"{where} names a database or driver SQLAlchemy does not know; "
                           f"{EXAMPLE}") from None
    except ArgumentError:
        raise StorageError(f"{where} is not a database URL SQLAlchemy can read; {EXAMPLE}") from None
    except ImportError as err:  # SQLAlchemy imports the driver (DB-API module) here
        package = PACKAGES.get(err.name or "", err.name)
        raise StorageError(f"{where} needs the driver {err.name}, which is not installed here: "
                           f"pip install '{package}'") from None
    try:
        with engine.connect():
            pass
    except DBAPIError as err:
        raise StorageError(f"{where} cannot be opened: {reason(err)}; {fix(reason(err))}") from None
    finally:
        engine.dispose()


def reason(err: DBAPIError) -> str:
    """The driver's first line of why (libpq goes on with hints over several lines)."""
    lines = [" ".join(line.split()) for line in str(err.orig).splitlines() if line.strip()]
    return lines[0] if lines else type(err.orig).__name__


def fix(why: str) -> str:
    return next((f for words, f in FIXES if any(w in why.lower() for w in words)), ANY_FAILURE)
