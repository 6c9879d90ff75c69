"""A network from outside the package, named by ``model.net._target_`` as lightning-hydra-template
does: ``tests/nets/residual.py`` on PYTHONPATH, nothing of ``src/`` touched. It trains as one run,
is scored by ``mlplab-eval``, resumes, sweeps, and runs alone under the batched launcher; the
settings it cannot apply are refused in one line."""

from __future__ import annotations

import json
import os

import pytest
import torch
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main

NETS = REPO / "tests" / "nets"
RESIDUAL = ["model.net._target_=residual.ResidualMLP", "model.net.hidden=[32,32]"]
SMALL = ["data.train_subset=2000", "data.val_size=1000"]


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


@pytest.fixture
def on_path(monkeypatch):
    """``tests/nets`` importable in this process, as PYTHONPATH makes it for a user's command."""
    monkeypatch.syspath_prepend(str(NETS))


@pytest.mark.slow
@pytest.mark.dataset
def test_a_network_from_outside_trains_is_scored_by_mlplab_eval_and_resumes(tmp_path, cli, on_path):
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(NETS), os.environ.get("PYTHONPATH")]))}
    run = tmp_path / "run"
    trained = cli("mlplab-train", *RESIDUAL, "data.train_subset=10000", "data.val_size=1000",
                  "trainer.max_epochs=2", f"hydra.run.dir={run}", cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = metrics(run)
    assert result["status"] == "finished" and result["epochs"] == 2
    assert result["hparams"]["model"]["net"] == {"_target_": "residual.ResidualMLP", "hidden": [32, 32],
                                                 "init_std": 0.01}
    assert result["metrics"]["val/acc"] > 0.4  # it learns (chance: 0.1): 78 updates reach about 0.53
    state = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert {"net.stem.weight", "net.blocks.1.weight", "net.head.bias"} <= state.keys()

    scored = cli("mlplab-eval", f"ckpt_path={run}/checkpoints/best.ckpt",
                 f"hydra.run.dir={tmp_path}/eval", cwd=tmp_path, env=env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated["metrics"]["test/acc"] == pytest.approx(result["metrics"]["test/acc"], abs=1e-6)
    elsewhere = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # the class's folder left off
    refused = cli("mlplab-eval", f"ckpt_path={run}/checkpoints/best.ckpt", f"hydra.run.dir={tmp_path}/eval2",
                  cwd=tmp_path, env=elsewhere)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (f"error: ckpt_path={run}/checkpoints/best.ckpt holds a residual.ResidualMLP network, which "
            f"cannot be imported here (ModuleNotFoundError: No module named 'residual'); put the folder of "
            f"its module on PYTHONPATH, as for the run that wrote it: PYTHONPATH=<that folder> mlplab-eval "
            f"ckpt_path={run}/checkpoints/best.ckpt") in refused.stderr

    code, _, stderr = run_main(train_main, *RESIDUAL, "data.train_subset=10000", "data.val_size=1000",
                               "trainer.max_epochs=3", f"ckpt_path={run}/checkpoints/last.ckpt", cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    resumed = metrics(run)  # a resumed run continues in its checkpoint's folder
    assert resumed["epochs"] == 3 and resumed["resumed_from"] == f"{run}/checkpoints/last.ckpt"
    assert resumed["history"][:2] == result["history"]


@pytest.mark.slow
@pytest.mark.dataset
def test_the_same_class_named_with_model_any_and_its_own_arguments(tmp_path, on_path):
    code, _, stderr = run_main(train_main, "model=any", "model.net._target_=residual.ResidualMLP",
                               "+model.net.hidden=[16]", "regularizer.dropout=0.2", *SMALL,
                               "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    result = metrics(tmp_path / "run")
    assert result["status"] == "finished"
    assert result["hparams"]["model"]["net"] == {"_target_": "residual.ResidualMLP", "hidden": [16]}
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    # the checkpoint's settings: every argument of the class, its defaults included
    assert checkpoint["hyper_parameters"]["model"]["net"] == {"_target_": "residual.ResidualMLP",
                                                              "hidden": [16], "init_std": 0.01}


@pytest.mark.slow
@pytest.mark.dataset
def test_a_two_job_sweep_and_the_batched_launcher_run_it_each_job_alone(tmp_path, on_path):
    said = {}
    for launcher, sweep in (("basic", tmp_path / "basic"), ("batched", tmp_path / "batched")):
        code, stdout, stderr = run_main(train_main, "-m", f"hydra/launcher={launcher}", *RESIDUAL, *SMALL,
                                        "trainer.max_epochs=1", "regularizer.dropout=0,0.3",
                                        f"hydra.sweep.dir={sweep}", cwd=REPO)
        assert code == 0, stderr[-3000:]
        said[launcher] = stdout + stderr
        jobs = [metrics(sweep / str(n)) for n in range(2)]
        assert [job["status"] for job in jobs] == ["finished", "finished"]
        assert [job["hparams"]["regularizer"]["dropout"] for job in jobs] == [0, 0.3]
        assert all(job["batched"] is None for job in jobs)
    assert "0 batched group(s)" in said["batched"]
    assert ("model.net._target_=residual.ResidualMLP: a stack holds mlplab.nets.ScratchMLP or "
            "mlplab.nets.ConciseMLP only") in said["batched"]
    # the same jobs, the same numbers, whichever launcher ran them
    for n in range(2):
        basic, batched = (metrics(tmp_path / launcher / str(n)) for launcher in ("basic", "batched"))
        assert basic["metrics"] == batched["metrics"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["activation=tanh"], "activation.name=tanh: model.net._target_=residual.ResidualMLP takes no "
                          "`activation` argument, so it cannot apply it"),
    (["regularizer.dropout_style=classic", "regularizer.dropout=0.5"],
     "regularizer.dropout_style=classic: model.net._target_=residual.ResidualMLP takes no `dropout_style`"),
    (["model.net._target_=residual.PlainLinear", "~model.net.hidden", "~model.net.init_std",
      "regularizer.dropout=0.5"],
     "regularizer.dropout=0.5: model.net._target_=residual.PlainLinear takes no `dropout` argument"),
    (["model.net.hidden=[32,16]"], "model.net.hidden=[32,16] has [32, 16]; a residual layer keeps its width: "
                                   "give equal widths (residual.ResidualMLP)"),
    (["model.net.width=3"], "model.net.width is not a key of model.net (its keys: hidden, init_std); to add "
                            "it as a new key: +model.net.width=3"),
    (["+model.net.width=3"], "model.net.width is not a setting of ResidualMLP (its settings: hidden, "
                             "init_std)"),
])
def test_what_the_network_cannot_apply_is_refused_in_one_line(overrides, message, tmp_path, on_path):
    net = [] if any("_target_" in o for o in overrides) else ["model.net._target_=residual.ResidualMLP"]
    code, _, stderr = run_main(train_main, *net, *overrides, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], stderr[-2000:]
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_network_of_ones_own_gets_no_example_input(on_path):
    """Lightning's summary runs ``example_input_array`` through the network: a flat 1×784 image suits
    mlplab's MLPs, not a network that wants another shape (a Conv2d), so only mlplab's get one."""
    from mlplab.training.module import MLPModule

    own = MLPModule(model={"net": {"_target_": "residual.ResidualMLP", "hidden": [8]}})
    assert own.example_input_array is None
    preset = MLPModule(model={"net": {"_target_": "mlplab.nets.ConciseMLP", "hidden": [8]}})
    assert preset.example_input_array.shape == (1, 784)


@pytest.mark.slow  # --help composes the whole config
def test_help_lists_the_networks_own_arguments_from_its_docstring(tmp_path, on_path):
    """``--help`` with the network named: its ``Args:`` block, with the values this command gives."""
    code, stdout, _ = run_main(train_main, *RESIDUAL, "--help", cwd=tmp_path)
    assert code == 0
    section = stdout.split("\n model.net: residual.ResidualMLP\n")[1].split("\n\n")[0]
    rows = {line.split()[0]: line for line in section.splitlines()}
    assert set(rows) == {"model.net.hidden", "model.net.init_std"}  # num_inputs, activation…: mlplab's
    assert "[32,32]" in rows["model.net.hidden"] and "the width of h₀ and of each residual layer" in \
        rows["model.net.hidden"]

