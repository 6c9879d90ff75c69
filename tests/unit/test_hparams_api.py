"""The helper that asks a real TensorBoard for its HParams tab leaves nothing behind: its server
stops, and no thread of it is left (an in-process server's reloader once logged into a later test's
``train.log``, and failed two unrelated tests in CI)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from helpers import hparams_api
from helpers.hparams_api import hparams_tab


@pytest.mark.slow
def test_the_hparams_tab_is_read_from_a_server_that_stops_and_leaves_no_thread(tmp_path, monkeypatch):
    before = set(threading.enumerate())
    urls = []
    monkeypatch.setattr(hparams_api, "post",
                        lambda url, body, post=hparams_api.post: (urls.append(url), post(url, body))[1])

    experiment, rows = hparams_tab(tmp_path, runs=0)

    assert rows == [] and urls, experiment
    with pytest.raises(urllib.error.URLError):  # the server is gone
        urllib.request.urlopen(urls[-1], timeout=5)
    assert not set(threading.enumerate()) - before  # the reader of its stderr was joined
