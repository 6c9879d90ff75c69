"""A run's output is mlplab's: the third-party noise every run used to print (torch's LeafSpec
deprecation from Lightning's _pytree, Lightning's litlogger tip, its note that the model summary
callback is configured already) is hidden, and
``ignore_warnings=false`` shows it again, as lightning-hydra-template's ``extras.ignore_warnings``."""

from __future__ import annotations

import pytest

RUN = ["data.train_subset=500", "data.val_size=100", "trainer.max_epochs=1", "model.net.hidden=[8]"]
NOISE = ("litlogger", "isinstance(treespec, LeafSpec)", "Trainer already configured with model summary")


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
