"""``mlplab-eval ckpt_path=…``: score a checkpoint written by mlplab-train on the test set
(``mlplab.runtime.evaluate``), into ``logs/evals/<time>/metrics.json``."""

from __future__ import annotations

from functools import partial

import hydra
from omegaconf import DictConfig

from mlplab.cli.errors import one_line_errors, run_guarded, show_config
from mlplab.config.store import config_dir
from mlplab.runtime.evaluate import evaluate
from mlplab.runtime.job_log import close_job_log
from mlplab.runtime.quiet import quiet_third_party


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
def eval_job(cfg: DictConfig) -> None:
    try:
        quiet_third_party(cfg.ignore_warnings)
        metrics = run_guarded(partial(evaluate, announce=show_config), cfg)
        shown = [f"{k}={metrics[k]:.4f}" for k in ("test/acc", "test/loss") if k in metrics]
        print(f"{'  '.join(shown)}  from {cfg.ckpt_path}")
    finally:
        close_job_log()


def main() -> None:
    with one_line_errors():
        eval_job()


if __name__ == "__main__":
    main()
