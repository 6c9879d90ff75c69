"""The helper that asks a real TensorBoard for its HParams tab leaves nothing behind: its server
stops, and no thread of it is left to log into a later test's ``train.log`` (an in-process server
once did, and failed two unrelated tests in CI)."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request

import pytest
from helpers.hparams_api import hparams_tab


class Heard(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.slow
def test_the_hparams_tab_is_read_from_a_server_that_stops_and_logs_nothing_here(tmp_path, monkeypatch):
    heard, root = Heard(), logging.getLogger()
    monkeypatch.setattr(root, "handlers", [*root.handlers, heard])
    monkeypatch.setattr(root, "level", logging.DEBUG)
    before = set(threading.enumerate())
    urls = []
    import helpers.hparams_api as api
    monkeypatch.setattr(api, "post", lambda url, body, post=api.post: (urls.append(url), post(url, body))[1])

    experiment, rows = hparams_tab(tmp_path, runs=0)

    assert rows == [] and urls, experiment
    with pytest.raises(urllib.error.URLError):  # the server is gone
        urllib.request.urlopen(urls[-1], timeout=5)
    deadline = time.monotonic() + 10
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.1)  # the thread that drains its stderr ends once the process has
    assert not set(threading.enumerate()) - before
    time.sleep(1.5)  # longer than its --reload_interval: a reloader left here would have logged by now
    assert [r.name for r in heard.records if r.name.startswith("tensorboard")] == []
