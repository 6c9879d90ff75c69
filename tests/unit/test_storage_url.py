"""Storage URLs as users write them (mlplab.runtime.trial.with_driver, mlplab.sweeps.storage): a
URL without a driver gets an installed one, a password is never shown, and a URL that cannot be
used is one line naming it and the fix. The real servers are in tests/e2e/test_optuna_search.py."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from mlplab.runtime.trial import with_driver
from mlplab.sweeps import storage
from mlplab.sweeps.storage import StorageError, check_storage, fix, shown


def without(monkeypatch, *modules: str) -> None:
    """Make ``import <module>`` fail here, as it does where the package is not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_a_postgresql_url_without_a_driver_gets_psycopg2_when_psycopg_is_missing(monkeypatch):
    without(monkeypatch, "psycopg")  # SQLAlchemy 2.1's default for postgresql://
    assert with_driver("postgresql://u:p@h:5/db") == "postgresql+psycopg2://u:p@h:5/db"


def test_a_url_that_names_its_driver_or_needs_none_is_kept(monkeypatch):
    without(monkeypatch, "psycopg")
    for url in ("postgresql+psycopg://u@h/db", "sqlite:////tmp/optuna.db", "not a url", "nosuch://h/db"):
        assert with_driver(url) == url


def test_a_url_without_any_installed_driver_is_kept_for_the_error_to_name(monkeypatch):
    without(monkeypatch, "psycopg", "psycopg2")
    assert with_driver("postgresql://u@h/db") == "postgresql://u@h/db"


def test_a_password_is_hidden_and_a_url_without_one_is_shown_as_written():
    assert shown("postgresql://bob:s3cret@db.lan:5432/optuna") == "postgresql://bob:***@db.lan:5432/optuna"
    assert shown("postgresql://bob@/optuna?host=/tmp/pg") == "postgresql://bob@/optuna?host=/tmp/pg"


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", "is not a database URL SQLAlchemy can read; e.g. hydra.sweeper.storage=postgresql://"),
    ("nosuch://bob:s3cret@h/db", "names a database or driver SQLAlchemy does not know"),
    ("sqlite:////no/such/folder/optuna.db", "cannot be opened: unable to open database file; the SQLite "
                                            "file's folder must exist"),
])
def test_a_storage_that_cannot_be_used_is_one_line_naming_it(url, words):
    with pytest.raises(StorageError) as raised:
        check_storage(url, url)
    message = str(raised.value)
    assert message.startswith(f"hydra.sweeper.storage={shown(url)} ") and words in message
    assert "\n" not in message and "s3cret" not in message


@pytest.fixture
def silent_server():
    """A TCP port whose listener takes connections (the kernel answers the handshake) and never says
    a word: a server that hangs. (A host that drops packets differs only before the handshake, which
    the same connect_timeout bounds.)"""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.slow  # it waits out the 2 s timeout
def test_a_server_that_never_answers_is_given_up_after_the_connect_timeout(silent_server, monkeypatch):
    monkeypatch.setattr(storage, "CONNECT_TIMEOUT_S", 2)  # libpq's least
    url = f"postgresql+psycopg2://bob:s3cret@127.0.0.1:{silent_server}/db"
    raised: list[BaseException] = []

    def check() -> None:
        try:
            check_storage(url, url)
        except StorageError as err:
            raised.append(err)

    start = time.monotonic()
    checker = threading.Thread(target=check, daemon=True)  # a check that hangs fails the test, not CI
    checker.start()
    checker.join(30)
    waited = time.monotonic() - start
    assert not checker.is_alive(), "no answer in 30 s: without the bound, libpq was still waiting after 40 s"
    assert waited >= 2 and len(raised) == 1
    port = silent_server
    assert str(raised[0]) == (
        f"hydra.sweeper.storage=postgresql+psycopg2://bob:***@127.0.0.1:{port}/db cannot be opened: "
        f"connection to server at \"127.0.0.1\", port {port} failed: timeout expired; start the database "
        f"server, or fix the URL's host and port")


@pytest.mark.parametrize(("url", "given"), [
    ("postgresql+psycopg2://u@h/db", {"connect_timeout": 10}),
    ("postgresql+psycopg://u@h/db", {"connect_timeout": 10}),
    ("mysql+pymysql://u@h/db", {"connect_timeout": 10}),
    ("postgresql+psycopg2://u@h/db?connect_timeout=30", {}),  # the URL's own wins
    ("postgresql+pg8000://u@h/db", {}),  # pg8000 calls it timeout: given connect_timeout, it fails
    ("sqlite:////tmp/optuna.db", {}),
])
def test_the_connect_timeout_goes_only_to_drivers_that_take_it(url, given, monkeypatch):
    seen = {}

    def engine(url, **kwargs):
        seen.update(kwargs["connect_args"])
        raise ImportError("stop here", name="driver")

    monkeypatch.setattr(storage.sqlalchemy, "create_engine", engine)
    with pytest.raises(StorageError):
        check_storage(url, url)
    assert seen == given


def test_a_missing_driver_names_the_package_to_install(monkeypatch):
    without(monkeypatch, "psycopg")
    with pytest.raises(StorageError, match=r"=postgresql\+psycopg://bob:\*\*\*@h/db needs the driver "
                                           r"psycopg, which is not installed here: pip install "
                                           r"'psycopg\[binary\]'"):
        check_storage("postgresql+psycopg://bob:s3cret@h/db", "postgresql+psycopg://bob:s3cret@h/db")


@pytest.mark.parametrize(("reason", "advice"), [
    ('connection to server at "127.0.0.1", port 1 failed: Connection refused', "start the database server"),
    ('database "nope" does not exist', "create the database"),
    ('role "nobody" does not exist', "fix the URL's user and password"),
    ('password authentication failed for user "bob"', "fix the URL's user and password"),
    ("something else entirely", "check that the server runs"),
])
def test_the_fix_follows_the_drivers_reason(reason, advice):
    assert fix(reason).startswith(advice)
