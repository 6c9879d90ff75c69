"""CPU threads per job when a launcher runs several jobs at once on one machine.

Each torch process starts one thread per core; two such processes on two cores spin against each
other (OpenMP busy-waits) and both run several times slower. A job gets its share instead:

    joblib          threads = cpus // n_jobs      (n_jobs = -1: one job per cpu; -2: all but one)
    submitit        threads = cpus_per_task       (when the launcher config sets it)
    anything else   torch's default
"""

from __future__ import annotations

import os
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which cgroups and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_job(launcher: Any, cpus: int) -> int | None:
    """The torch thread count for one job under ``launcher`` (Hydra's launcher config)."""
    if not launcher:
        return None
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher"):
        n_jobs = int(launcher.get("n_jobs") or 1)
        jobs = cpus + 1 + n_jobs if n_jobs < 0 else n_jobs  # joblib's meaning of negative n_jobs
        return max(1, cpus // max(1, jobs))
    if "submitit" in target and launcher.get("cpus_per_task"):
        return max(1, int(launcher.cpus_per_task))
    return None


def set_job_threads() -> None:
    """Give this job its share of the CPUs when a launcher runs jobs side by side."""
    if HydraConfig.initialized():
        threads = threads_per_job(HydraConfig.get().launcher, usable_cpus())
        if threads:
            torch.set_num_threads(threads)
