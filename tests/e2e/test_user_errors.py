"""Bad input ends in one clear message, a non-zero exit and no traceback, before any training."""

from __future__ import annotations

import pytest
from helpers import run_main

from mlplab.cli.evaluate import main as eval_main
from mlplab.cli.train import main as train_main


def one_line(code: int, stderr: str, *needles: str) -> str:
    """The run stopped with exit status 2 and one ``error:`` line holding every needle."""
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    (line,) = [row for row in stderr.strip().splitlines() if row.startswith("error: ")]
    for needle in needles:
        assert needle in stderr, stderr[-2000:]
    return line


def no_config(stdout: str) -> bool:
    """The composed config was not printed (its tree starts with a line ``config``). stdout may hold
    other lines: a logger of an earlier test in this worker can write through Hydra's handler."""
    return "config" not in stdout.splitlines() and "├── seed" not in stdout


def test_unknown_group_option_lists_the_choices(tmp_path):
    code, _, stderr = run_main(train_main, "activation=swish", cwd=tmp_path)
    one_line(code, stderr, "activation=swish is not an option of the activation group; choose one of "
                           "identity, relu, sigmoid, tanh")
    assert not (tmp_path / "logs").exists()


def test_missing_data_names_all_three_ways(tmp_path):
    code, _, stderr = run_main(train_main, f"data.data_dir={tmp_path}/nothing", "data.download=false",
                               f"data.debian_dir={tmp_path}/no-debian", f"hydra.run.dir={tmp_path}/run",
                               cwd=tmp_path)
    assert code == 2 and "Traceback" not in stderr
    for needle in ("Fashion-MNIST not found", "data.data_dir=", "apt-get install dataset-fashion-mnist",
                   "torchvision's download"):
        assert needle in stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_eval_of_a_missing_checkpoint(tmp_path):
    code, _, stderr = run_main(eval_main, f"ckpt_path={tmp_path}/nope.ckpt", f"hydra.run.dir={tmp_path}/e",
                               cwd=tmp_path)
    one_line(code, stderr, f"ckpt_path={tmp_path}/nope.ckpt does not exist")


def test_eval_of_a_file_that_is_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    code, stdout, stderr = run_main(eval_main, f"ckpt_path={bogus}", f"hydra.run.dir={tmp_path}/e",
                                    cwd=tmp_path)
    line = one_line(code, stderr, "is not a readable mlplab checkpoint")
    assert no_config(stdout), stdout[:300]
    # torch's reason in its own few words, not its advice to load with weights_only=False
    assert "weights_only" not in stderr and line.endswith("); give a .ckpt written by mlplab-train"), line


@pytest.mark.parametrize(("override", "message"), [
    ("optimizer.lr=fast", "optimizer.lr=fast is not a number or a Tensor; e.g. optimizer.lr=0.001"),
    ("model.net.hidden=[a]", "model.net.hidden=[a] is not a list of integers; e.g. model.net.hidden=[256]"),
    ("data.batch_size=1.5", "data.batch_size=1.5 is not an integer; e.g. data.batch_size=256"),
    ("trainer.max_epochs=x", "trainer.max_epochs=x is not an integer or null; e.g. trainer.max_epochs="),
    ("regularizer.dropout=1.0", "regularizer.dropout=1.0 must be in [0, 1); e.g. regularizer.dropout=0.5"),
    ("regularizer.dropout=-0.1", "regularizer.dropout=-0.1 must be in [0, 1)"),
    ("regularizer.dropout=[0.2,0.5]", "has 2 values but the network has 1 hidden layers"),
    ("regularizer.weight_decay=-0.001", "regularizer.weight_decay=-0.001 must be ≥ 0"),
    ("model.net.hidden=256", "model.net.hidden=256 is not a list of integers"),
    ("optimizer.lr=-1", "optimizer.lr=-1 must be a finite number > 0 (an update must move the weights); e.g. "
                        "optimizer.lr=0.1"),
    ("optimizer.nesterov=true", "optimizer: Nesterov momentum requires a momentum and zero dampening"),
    ("optimizer.weight_decay=0.1", "λ is regularizer.weight_decay, which decays the weights, not the biases"),
    ("optimizer=any", "optimizer._target_ is required: the torch.optim.Optimizer class to use"),
    ("model=any", "model.net._target_ is required: the torch.nn.Module class to use"),
    ("model.net._target_=nowhere.Net", "model.net._target_=nowhere.Net cannot be imported "
                                       "(ModuleNotFoundError: No module named 'nowhere'); name a class as "
                                       "module.Class, with its folder on PYTHONPATH"),
    ("data.val_size=-5", "data.val_size=-5 must be in [0, 59999]"),
    ("data.batch_size=0", "data.batch_size=0 must be ≥ 1"),
    ("data.val_size=0", "test_ckpt=best would pick the checkpoint on the test set"),
    ("test_ckpt=first", "test_ckpt=first is not one of best, last; e.g. test_ckpt=best"),
    # a typo gets its fix only: "+model.net.hiden" would be refused by ScratchMLP's signature in turn
    ("model.net.hiden=[64]", "model.net.hiden is not a key of model.net (its keys: hidden, init_std); did "
                             "you mean model.net.hidden?"),
    ("hydra.run.dri=out", "hydra.run.dri is not a key of hydra.run (its keys: dir); did you mean "
                          "hydra.run.dir?"),  # "+hydra.run.dri" was accepted, and the run wrote elsewhere
    # a callback's key before its preset is composed
    ("callbacks.early_stopping.patience=3",
     "callbacks.early_stopping is not a key of callbacks (its keys: checkpoint, last_checkpoint, "
     "progress_bar, model_summary, dashboard); compose its preset first: "
     "'callbacks=[default,early_stopping]' callbacks.early_stopping.patience=3"),
    ("optimizer=any optimizer._target_=torch.optim.RMSprop optimizer.alpha=0.9",
     "optimizer.alpha is not a key of optimizer (it names torch.optim.RMSprop and no arguments yet); to add "
     "it as a new key: +optimizer.alpha=0.9"),
    ("trainer.max_epoch=3", "reload_dataloaders_every_n_epochs, default_root_dir, enable_autolog_hparams, "
                            "model_registry); did you mean trainer.max_epochs?"),
    ("optimizer.lrr=0.1", "optimizer.lrr is not a setting of SGD (its settings: lr, momentum, dampening, "
                          "nesterov, maximize, foreach, differentiable, fused); did you mean optimizer.lr?"),
    ("scheduler.gamma=0.5", "scheduler.gamma: scheduler has no settings in this composition; choose an "
                            "option of the scheduler group that has it"),
    ("scheduler=cosine scheduler.gamma=0.5", "scheduler.gamma is not a setting of Cosine (its settings: "
                                             "interval"),
    ("optimizer=adamw optimizer.momentum=0.9", "optimizer.momentum is not a setting of AdamW (its "
                                               "settings: lr"),
    ("data.nonsense=1", "data.nonsense is not a setting of FashionMNISTSettings"),
    ("model.net.hidden=[256", "no viable alternative at input '[256'"),
    # a Hydra plugin's class takes no key it lacks: no "+" to offer, but the plugin that has it
    ("hydra.launcher.n_jobs=2",
     "hydra.launcher.n_jobs is not a key of hydra.launcher (BasicLauncher; it takes none); choose a launcher "
     "that takes it first: hydra/launcher=joblib"),
    ("hydra.launcher.partition=gpu", "choose a launcher that takes it first: hydra/launcher=slurm or "
                                     "hydra/launcher=slurm_gpu or hydra/launcher=submitit_slurm"),
    ("hparams_search=optuna hydra.sweeper.n_trial=2", "did you mean hydra.sweeper.n_trials?"),
    ("hparams_search=optuna hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 must be ≥ 1"),
    # a setting with no hidden layer to act on (d2l 4.5's model is linear)
    ("experiment=d2l_weight_decay activation=tanh", "activation.name=tanh: model.net.hidden=[] has no hidden "
                                                    "layer to apply it to"),
    ("experiment=d2l_weight_decay regularizer.dropout=0.5",
     "regularizer.dropout=0.5: model.net.hidden=[] has no hidden layer to apply it to"),
    # … or a network that takes no such argument (4.4's is the book's torch.nn.Linear)
    ("experiment=d2l_polynomial activation=tanh", "activation.name=tanh: model.net._target_=torch.nn.Linear "
                                                  "takes no `activation` argument"),
    # a group chosen with "+" as if it had no default (Hydra's fix is in its YAML's terms)
    ("+model=concise", "+model=concise adds a second model; choose the model without +: model=concise"),
    # an optional group's option misspelt: Hydra would skip it, and the run train without it
    ("local=exampel", "local=exampel is not an option of the local group; choose one of example"),
    # a regression's loss on a classification
    ("model.regression_loss=mse", "model.regression_loss=mse is a regression's loss, but this data set is a "
                                  "classification"),
])
def test_bad_settings_stop_before_training_with_one_line_and_exit_2(override, message, tmp_path):
    code, stdout, stderr = run_main(train_main, *override.split(), f"hydra.run.dir={tmp_path}/run",
                                    cwd=tmp_path)
    line = one_line(code, stderr)
    assert message.replace("1.0", "1") in line.replace("1.0", "1"), line
    assert no_config(stdout), stdout[:300]  # the one line alone: the config is printed once it passes
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_two_of_hydras_commands_at_once_is_one_line(tmp_path):
    """``-m … --cfg hydra``: Hydra's ValueError was a traceback."""
    code, stdout, stderr = run_main(train_main, "-m", "--cfg", "hydra", f"hydra.sweep.dir={tmp_path}/sweep",
                                    "optimizer.lr=0.1,0.2", cwd=tmp_path)
    one_line(code, stderr, "Only one of --run, --multirun, --cfg, --info and --shell_completion can be "
                           "specified; give one: -m runs a sweep")
    assert not (tmp_path / "sweep").exists()


def test_shell_completion_without_its_subcommand_is_one_line(tmp_path):
    code, _, stderr = run_main(train_main, "--shell-completion", cwd=tmp_path)
    one_line(code, stderr, "Expecting one subcommand from ['install', 'uninstall', 'query'] to be set; "
                           'e.g. tab completion in bash: eval "$(mlplab-train -sc install=bash)"')


@pytest.mark.parametrize("name", ["hpc", "registry", "best"])
def test_lightnings_own_checkpoint_names_are_refused_for_what_they_are(name, tmp_path):
    code, _, stderr = run_main(train_main, f"ckpt_path={name}", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    one_line(code, stderr, f"ckpt_path={name} names a checkpoint as Lightning's fit(ckpt_path=…) would find "
                           "it; mlplab resumes a run's own file, or the newest run of the same command: "
                           "ckpt_path=last")


@pytest.mark.slow
def test_the_installed_command_gives_the_same_line_and_keeps_the_traceback_on_request(tmp_path, cli):
    result = cli("mlplab-train", "optimizer.lr=fast", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: optimizer.lr=fast is not a number or a Tensor; e.g. "
                                     "optimizer.lr=0.001")
    full = cli("mlplab-train", "optimizer.lr=fast", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1 and "Traceback" in full.stderr and "optimizer.lr" in full.stderr


@pytest.mark.slow  # the whole --help
def test_help_lists_every_setting_with_its_type_default_and_range(tmp_path):
    code, stdout, _ = run_main(train_main, "--help", cwd=tmp_path)
    assert code == 0
    for line in ("optimizer.lr", "regularizer.dropout", "data.batch_size", "trainer.max_epochs",
                 "model.net.hidden", "scheduler.step_size"):
        assert line in stdout, line
    row = next(r for r in stdout.splitlines() if r.strip().startswith("regularizer.dropout "))
    assert "in [0, 1)" in row and "a number or a list of numbers" in row
    # the default a plain run composes (the preset's), not the class's (SGD's 0.001, Trainer's null)
    sections = stdout.split("\n\n")
    def default_of(title, key):
        (section,) = [s for s in sections if s.startswith(f" {title}\n")]
        (line,) = [r for r in section.splitlines() if r.split()[0] == key]
        return line[70:88].strip()  # the column after "  key(36) type(30) "
    (launchers,) = [r for r in stdout.splitlines() if r.startswith("  hydra/launcher ")]
    assert launchers.split()[1:] == ["basic,", "batched,", "joblib,", "slurm,", "slurm_gpu,",
                                     "submitit_local,", "submitit_slurm"]
    assert default_of("optimizer=sgd", "optimizer.lr") == "0.1"
    assert default_of("optimizer=adamw", "optimizer.lr") == "0.001"
    assert default_of("trainer", "trainer.max_epochs") == "10"
    assert default_of("trainer", "trainer.accelerator") == "cpu"
    assert default_of("model=concise", "model.net.hidden") == "[256]"
    assert default_of("model", "model.net") == "mlplab.nets.Scrat…"
    assert default_of("data=fashion_mnist", "data.seed") == "${seed}"
    assert default_of("data=polynomial", "data.seed") == "${seed}"  # a _global_ preset: under data:


@pytest.mark.slow  # --help composes the whole config
def test_help_lists_the_presets_of_a_config_dir_of_ones_own(tmp_path):
    """``--config-dir``: its presets are options (``model=mynet`` works), so --help lists them."""
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "mynet.yaml").write_text("net: {_target_: mlplab.nets.ConciseMLP}\n")
    code, stdout, _ = run_main(train_main, "--config-dir", str(tmp_path / "mine"), "--help", cwd=tmp_path)
    assert code == 0
    (models,) = [r for r in stdout.splitlines() if r.startswith("  model ")]
    assert models.split()[1:] == ["any,", "concise,", "mynet,", "scratch"]


@pytest.mark.slow  # --help composes the whole config
def test_help_lists_the_arguments_of_each_class_the_command_names(tmp_path):
    """An optimizer of one's own, a callback, a logger: their arguments, with the values given."""
    code, stdout, _ = run_main(train_main, "optimizer=any", "optimizer._target_=torch.optim.RMSprop",
                               "callbacks=[default,early_stopping]", "callbacks.early_stopping.patience=7",
                               "--help", cwd=tmp_path)
    assert code == 0
    rows = {line.split()[0]: line for line in stdout.splitlines() if line.startswith("  ")}
    assert " 0.99 " in rows["optimizer.alpha"] and "smoothing constant" in rows["optimizer.alpha"]
    assert " 7 " in rows["callbacks.early_stopping.patience"]  # the command's value, not the class's 3
    assert "callbacks.checkpoint.save_top_k" in rows and "logger.tensorboard.log_graph" in rows
    assert "\n optimizer: torch.optim.RMSprop\n" in stdout


def test_eval_without_a_checkpoint_says_it_is_required(tmp_path):
    code, _, stderr = run_main(eval_main, f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    one_line(code, stderr, "ckpt_path is required")


def test_a_command_leaves_no_log_file_open_in_this_process(tmp_path):
    """Its evaluate.log is closed with the command: a later line (a notebook's next command, the
    next test) neither lands in it nor fails once its folder is gone (it raised FileNotFoundError
    from Lightning's next Trainer, in 30 tests of one CI worker)."""
    import logging
    import shutil

    run_main(eval_main, f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    loggers = [logging.getLogger(name) for name in ("", "lightning.pytorch", "mlplab.outcome")]
    files = [h.baseFilename for one in loggers for h in one.handlers if isinstance(h, logging.FileHandler)]
    assert files == []
    shutil.rmtree(tmp_path / "e")
    for one in loggers:
        one.error("a line after the command")
    assert not (tmp_path / "e").exists()


@pytest.mark.slow  # a run per accelerator missing here
def test_an_accelerator_this_machine_lacks_is_refused_by_name_before_any_data_loads(tmp_path):
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    lacking = [name for name, present in (("gpu", cuda or mps), ("cuda", cuda), ("mps", mps)) if not present]
    assert lacking  # no machine has both CUDA and MPS
    for accelerator in lacking:
        code, stdout, stderr = run_main(train_main, f"trainer.accelerator={accelerator}",
                                        f"data.data_dir={tmp_path}/none", "data.download=false",
                                        f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
        one_line(code, stderr, f"trainer.accelerator={accelerator}: no ", "device is visible on this "
                 "machine", "trainer=default")
        assert "Fashion-MNIST" not in stderr and no_config(stdout)  # refused before the data is looked for


def test_a_search_without_the_sweep_extra_says_how_to_install_it(tmp_path, monkeypatch):
    """Installed without ``[sweep]`` (Optuna made unimportable here): one line naming the extra, not
    Hydra's "Error locating target 'optuna.samplers.TPESampler'" traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, stderr = run_main(train_main, "hparams_search=optuna", "hydra.sweeper.n_trials=1", "debug=fast",
                               f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert one_line(code, stderr) == ("error: optuna is not installed: it comes with mlplab's sweep extra; "
                                      "pip install 'mlplab[sweep]' (make setup installs it)")


def test_a_launcher_of_the_sweep_extra_that_hydra_did_not_find_names_the_extra():
    """Hydra lists the launchers it found; one of the sweep extra's among them is missing when the
    extra is (Hydra registers a plugin's presets as it imports it)."""
    from hydra.errors import MissingConfigException

    from mlplab.outcomes import user_message

    missing = MissingConfigException("Could not find 'hydra/launcher/joblib'", "hydra/launcher/joblib",
                                     options=["basic", "batched", "slurm"])
    assert user_message(missing) == ("hydra/launcher=joblib is not an option of the hydra/launcher group; "
                                     "choose one of basic, batched, slurm; hydra/launcher=joblib comes with "
                                     "mlplab's sweep extra: pip install 'mlplab[sweep]' (make setup installs "
                                     "it)")
    other = MissingConfigException("Could not find 'hydra/launcher/jolib'", "hydra/launcher/jolib",
                                   options=["basic"])
    assert user_message(other) == ("hydra/launcher=jolib is not an option of the hydra/launcher group; "
                                   "choose one of basic")


@pytest.mark.parametrize(("where", "text", "problem"), [
    ("experiment/mine.yaml", "# @package _global_\noptimizer:\n  lr: 0.05\n   momentum: 0.9\n",
     "experiment/mine.yaml, line 4, column 12: mapping values are not allowed here"),
    ("local/default.yaml", "trainer:\n\tmax_epochs: 1\n",
     "local/default.yaml, line 2, column 1: found character '\\t' that cannot start any token"),
])
def test_a_yaml_mistake_in_ones_own_preset_is_one_line_naming_its_file_and_line(where, text, problem,
                                                                               tmp_path):
    presets = tmp_path / "my_conf"
    (presets / where).parent.mkdir(parents=True)
    (presets / where).write_text(text)
    chosen = ["experiment=mine"] if where.startswith("experiment") else []
    code, _, stderr = run_main(train_main, "--config-dir", str(presets), *chosen, "debug=fast",
                               f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert one_line(code, stderr) == (f"error: {presets}/{problem}; fix the file's YAML (indent with spaces, "
                                      f"`key: value`)")


def test_mlplab_eval_of_weights_its_class_no_longer_fits_is_one_line(tmp_path):
    """The network's code changed since the run (a layer added): its own settings build a network
    the saved weights do not fit. Was torch's load_state_dict traceback."""
    import torch
    from helpers import mlp_module

    written = {"hyper_parameters": dict(mlp_module(hidden=[16]).hparams),  # what the run's settings say …
               "state_dict": mlp_module(hidden=[8]).state_dict()}  # … and what that code built then
    torch.save(written, tmp_path / "old.ckpt")
    code, _, stderr = run_main(eval_main, f"ckpt_path={tmp_path}/old.ckpt", f"hydra.run.dir={tmp_path}/eval",
                               cwd=tmp_path)
    assert one_line(code, stderr) == (
        f"error: ckpt_path={tmp_path}/old.ckpt: its weights do not fit the network its settings build here "
        f"(net.W1 [784, 8] in the checkpoint, [784, 16] here; net.W2 [8, 10] in the checkpoint, [16, 10] "
        f"here; net.b1 [8] in the checkpoint, [16] here); the class's code changed since the run that wrote "
        f"it: evaluate it where that code is")


@pytest.mark.parametrize(("overrides", "gives"), [
    (["data.batch_size=1024"], "only where the files are: data.data_dir, data.download, data.debian_dir"),
    (["data=polynomial", "data.num_features=3"], "none of them")])
def test_mlplab_eval_refuses_data_settings_the_checkpoint_would_replace(overrides, gives, tmp_path):
    """They were taken and silently replaced by the checkpoint's; a folder the command may give."""
    code, _, stderr = run_main(eval_main, f"ckpt_path={tmp_path}/any.ckpt", *overrides,
                               f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    assert one_line(code, stderr) == (f"error: {overrides[-1]}: mlplab-eval takes the data settings from the "
                                      f"checkpoint (the run's split and preparation, so its number is the "
                                      f"run's test/acc); the command gives {gives}")
    code, _, stderr = run_main(eval_main, f"ckpt_path={tmp_path}/any.ckpt", f"data.data_dir={tmp_path}",
                               f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    assert "does not exist" in one_line(code, stderr)  # a folder passes, to the next check


def test_a_log_file_of_ones_own_logging_stays_open(tmp_path):
    """Only the job's own log file is closed with it: one's own handler (Hydra told to leave
    logging alone, hydra_logging and job_logging) keeps logging after the command."""
    import logging

    own, root = logging.FileHandler(tmp_path / "mine.log"), logging.getLogger()
    root.addHandler(own)
    try:
        run_main(eval_main, "hydra/hydra_logging=none", "hydra/job_logging=none",
                 f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
        assert own in root.handlers and own.stream is not None and not own.stream.closed
    finally:
        root.removeHandler(own)
        own.close()


def test_mlplab_eval_refuses_a_key_it_does_not_have(tmp_path):
    """``+sed=1`` was accepted and ignored by mlplab-eval (mlplab-train refuses it)."""
    code, _, stderr = run_main(eval_main, f"ckpt_path={tmp_path}/any.ckpt", "+sed=1",
                               f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    assert one_line(code, stderr) == "error: sed is not a top-level setting; did you mean seed?"
