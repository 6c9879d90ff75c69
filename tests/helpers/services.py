"""Real services the tests start themselves: a throw-away PostgreSQL cluster, the local SLURM
cluster (``scripts/slurm_local.sh``). Each is skipped, with the reason, only where it cannot start."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import REPO, unavailable

POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["su", "-s", "/bin/sh", "postgres", "-c", shlex.join(command)]


@contextmanager
def postgres_database(name: str = "optuna") -> Iterator[str]:
    """A PostgreSQL cluster in a temporary folder, reached through a Unix socket only (no TCP), with
    one database; yields its SQLAlchemy URL and removes everything afterwards."""
    if not POSTGRES_BINS:
        unavailable("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin); apt-get install postgresql")
    binaries = POSTGRES_BINS[-1]
    home = Path(tempfile.mkdtemp(prefix="mlplab-pg-"))
    home.chmod(0o777)
    data, port = home / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        subprocess.run(as_postgres(initdb), check=True, capture_output=True)
        options = f"-k {home} -p {port} -c listen_addresses=''"  # pg_ctl hands them to postgres through sh
        subprocess.run(as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                    "-l", str(home / "log"), "start"]), check=True, capture_output=True)
        subprocess.run(as_postgres([str(binaries / "createdb"), "-h", str(home), "-p", str(port), "-U",
                                    "postgres", name]), check=True, capture_output=True)
    except subprocess.CalledProcessError as err:
        said = " ".join(err.stderr.decode(errors="replace").split())[-200:]
        server_log = home / "log"  # pg_ctl's "Examine the log output": its last lines, before it goes
        logged = server_log.read_text(errors="replace") if server_log.is_file() else ""
        shutil.rmtree(home, ignore_errors=True)
        tail = f" (its log: {' '.join(logged.split())[-300:]})" if logged.strip() else ""
        unavailable(f"a PostgreSQL cluster could not start here: {said}{tail}")
    try:
        yield f"postgresql+psycopg2://postgres@/{name}?host={home}&port={port}"
    finally:
        subprocess.run(as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_is_up() -> str | None:
    """None when the local SLURM cluster answers with an idle node; else why not."""
    if not shutil.which("sinfo"):
        return "SLURM is not installed here (run scripts/slurm_local.sh up as root)"
    status = subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "status"], capture_output=True,
                            text=True)
    if status.returncode != 0:
        said = " ".join((status.stdout + status.stderr).split())[-200:]
        return f"the local SLURM cluster is not up (scripts/slurm_local.sh up): {said}"
    return None


class RequeueRelease:
    """Lets a requeued SLURM job start again early. SLURM holds a requeued job for two minutes (a
    guard against requeue loops); ``scontrol update StartTime=now`` lifts that, which changes
    nothing else, but not within 2 s of the requeue: SLURM revokes the job's credential at the
    requeue, to the second, and kills a run started in that second as "non-startable" (exit 1)."""

    WAIT_S = 2.0

    def __init__(self) -> None:
        self.pending_since: dict[str, float] = {}
        self.released: set[str] = set()

    def see(self, job_id: str, job_state: str | None) -> None:
        """Call with each requeued job's state as it is polled; releases it when its time comes."""
        if job_id in self.released or job_state != "PENDING":
            return
        now = time.monotonic()
        if now - self.pending_since.setdefault(job_id, now) >= self.WAIT_S:
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                           capture_output=True)  # refused if it started meanwhile: fine
            self.released.add(job_id)
