"""TensorBoard's HParams tab as its front end reads it: a real TensorBoard server on a free port,
asked over HTTP (``/data/plugin/hparams/experiment`` and ``/session_groups``)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def hparams_tab(logdir: Path, runs: int, wait_s: float = 60) -> tuple[dict, list[dict]]:
    """(the experiment: its hparam and metric columns, one row per run: ``{"hparams": {name: value},
    "status": "STATUS_…", "metrics": {tag: value}}``), as the HParams tab shows them once
    TensorBoard has read ``runs`` runs (it reads the folder in the background after it starts)."""
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", str(logdir), "--port", "0", "--host", "127.0.0.1",
                          "--load_fast", "false", "--reload_interval", "1"])
    url = board.launch().rstrip("/") + "/data/plugin/hparams/"
    deadline = time.monotonic() + wait_s
    while True:
        experiment = post(url + "experiment", {"experimentName": ""})
        groups = post(url + "session_groups", {"experimentName": "", "allowedStatuses": [
            "STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [], "startIndex": 0, "sliceSize": 1000}).get("sessionGroups", [])
        if len(groups) >= runs or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling TensorBoard's loader, not timing the code under test
    rows = [{"hparams": dict(group["hparams"]), "status": group["sessions"][0]["status"],
             "metrics": {m["name"]["tag"]: m["value"] for m in group.get("metricValues", [])}}
            for group in groups]
    return experiment, rows
