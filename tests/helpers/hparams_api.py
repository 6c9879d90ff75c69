"""TensorBoard's HParams tab as its front end reads it: a real ``tensorboard`` server, started as a
user starts it (its own process, on a free port), asked over HTTP (``/data/plugin/hparams/experiment``
and ``/session_groups``), then stopped.

Its own process, not ``tensorboard.program`` in pytest's: an in-process server's reload thread
never stops, and it logs through the root logger into whatever ``train.log`` a later in-process run
of the same worker has opened (two CI failures came from that)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def server_url(said: queue.Queue, wait_s: float) -> str:
    """The address TensorBoard prints on stderr once it serves ("TensorBoard 2.x at http://…/
    (Press CTRL+C…)"), from its lines as a thread reads them (``None``: it closed stderr); a
    TensorBoard that says nothing fails the test after ``wait_s`` instead of hanging it."""
    deadline, seen = time.monotonic() + wait_s, []
    try:
        while (line := said.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
            seen.append(line)
            if found := re.search(r"(http://\S+?)/? \(Press CTRL\+C", line):
                return found.group(1)
    except queue.Empty:
        pass
    raise AssertionError(f"tensorboard did not start serving: {''.join(seen)[-2000:]}")


def hparams_tab(logdir: Path, runs: int, wait_s: float = 60) -> tuple[dict, list[dict]]:
    """(the experiment: its hparam and metric columns, one row per run: ``{"hparams": {name: value},
    "status": "STATUS_…", "metrics": {tag: value}}``), as the HParams tab shows them once
    TensorBoard has read ``runs`` runs (it reads the folder in the background after it starts)."""
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", "0",
         "--host", "127.0.0.1", "--load_fast", "false", "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said: queue.Queue[str | None] = queue.Queue()  # its stderr read to the end: a full pipe would stall it
    reader = threading.Thread(target=lambda: [*map(said.put, board.stderr), said.put(None)], daemon=True)
    reader.start()
    try:
        url = server_url(said, wait_s) + "/data/plugin/hparams/"
        deadline = time.monotonic() + wait_s
        while True:
            experiment = post(url + "experiment", {"experimentName": ""})
            groups = post(url + "session_groups", {"experimentName": "", "allowedStatuses": [
                "STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                "colParams": [], "startIndex": 0, "sliceSize": 1000}).get("sessionGroups", [])
            if len(groups) >= runs or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # polling TensorBoard's loader, not timing the code under test
    finally:
        board.terminate()
        try:
            board.wait(timeout=30)
        except subprocess.TimeoutExpired:
            board.kill()
            board.wait()
        reader.join(timeout=30)  # at the end of its stderr, which the ended process closed
        board.stderr.close()
    rows = [{"hparams": dict(group["hparams"]), "status": group["sessions"][0]["status"],
             "metrics": {m["name"]["tag"]: m["value"] for m in group.get("metricValues", [])}}
            for group in groups]
    return experiment, rows
