"""A run's output is mlplab's: the third-party noise every run used to print (torch's LeafSpec
deprecation from Lightning's _pytree, Lightning's litlogger tip, its note that the model summary
callback is configured already, its hint to add loader workers) is hidden, and
``ignore_warnings=false`` shows it again, as lightning-hydra-template's ``extras.ignore_warnings``."""

from __future__ import annotations

import shutil
import warnings

import pytest

from mlplab.runtime.quiet import quiet_third_party

RUN = ["data.train_subset=500", "data.val_size=100", "trainer.max_epochs=1", "model.net.hidden=[8]"]
# (the loader-workers hint too, but Lightning gives it only on a machine of more than 2 CPUs: the unit test)
NOISE = ("litlogger", "isinstance(treespec, LeafSpec)", "Trainer already configured with model summary",
         # Lightning's hint wherever SLURM is installed (CI starts a local cluster: srun is there)
         *(("The `srun` command is available on your system",) if shutil.which("srun") else ()))


def test_lightnings_srun_and_workers_hints_and_checkpoint_folder_warning_are_hidden_and_others_are_not():
    """The texts as Lightning 2.6 words them (its rank_zero_warn: a UserWarning subclass)."""
    from lightning.pytorch.utilities.warnings import PossibleUserWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_third_party(True)
        warnings.warn("The `srun` command is available on your system but is not used. HINT: …",
                      PossibleUserWarning, stacklevel=1)
        warnings.warn("Checkpoint directory /r/checkpoints exists and is not empty.", UserWarning,
                      stacklevel=1)
        warnings.warn("The 'train_dataloader' does not have many workers which may be a bottleneck.",
                      PossibleUserWarning, stacklevel=1)
        warnings.warn("Precision bf16-mixed is not supported by the model summary.  Estimated model size in "
                      "MB will not be accurate. Using 32 bits instead.", UserWarning, stacklevel=1)
        other = "The number of training batches (3) is smaller than the logging interval"
        warnings.warn(other, UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == [other]


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize("ignore", [True, False])
def test_the_noise_is_hidden_unless_asked_for(ignore, tmp_path, cli):
    done = cli("mlplab-train", *RUN, f"ignore_warnings={str(ignore).lower()}",
               f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr
    assert "test/acc=" in said  # the run's own line is there either way
    assert "transfer_batch_to_device" not in said  # mlplab's data module moves its batches itself
    for noise in NOISE:
        assert (noise in said) is not ignore, noise


def test_a_submitit_warning_is_one_line_and_its_info_lines_stay():
    """submitit's config printed each warning on stdout and stderr, and Hydra's root handler a third
    time: after ``submitit_lines_once`` (a SLURM sweep's start) one handler takes each line."""
    import logging

    from mlplab.runtime.quiet import submitit_lines_once

    submitit_lines_once()
    logger = logging.getLogger("submitit")

    def handlers_taking(level: int) -> int:
        record = logger.makeRecord("submitit", level, __file__, 0, "Bypassing sacct error", None, None)
        return sum(record.levelno >= h.level and bool(h.filter(record)) for h in logger.handlers)

    assert not logger.propagate
    assert handlers_taking(logging.WARNING) == 1 and handlers_taking(logging.INFO) == 1
