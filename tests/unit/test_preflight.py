"""What is checked before any data is loaded: trainer settings and the multi-process guard."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf, open_dict

from mlplab.config.store import config_dir
from mlplab.errors import ConfigError
from mlplab.outcomes import user_message
from mlplab.runtime.preflight import check_run, check_trainer, device_count, job_overrides, starts_processes
from mlplab.runtime.threads import threads_per_job


def trainer(**kwargs):
    return OmegaConf.create({"accelerator": "cpu", "devices": 1, "max_epochs": 1, **kwargs})


@pytest.mark.parametrize(("devices", "count"), [(1, 1), (2, 2), ("2", 2), ("0,1", 2), ([0, 1, 2], 3),
                                                ("auto", None), (-1, None), ("-1", None)])
def test_device_count(devices, count):
    assert device_count(devices) == count


@pytest.mark.parametrize(("settings", "multi"), [
    ({}, False),
    ({"strategy": "ddp", "devices": 2}, True),
    ({"strategy": "ddp_spawn", "devices": 2}, True),
    ({"strategy": "ddp", "devices": 1}, False),
    ({"strategy": "ddp", "devices": 1, "num_nodes": 2}, True),
    ({"strategy": "fsdp", "devices": 4}, True),
    ({"strategy": "auto", "devices": "auto"}, True),  # Lightning may pick DDP over every device
    ({"strategy": "auto", "devices": 2}, True),
    ({"strategy": "auto", "devices": 1}, False),
])
def test_starts_processes(settings, multi):
    assert starts_processes(trainer(**settings)) is multi


def test_multi_process_trainer_is_fine_alone_and_refused_in_a_sweep():
    ddp = trainer(strategy="ddp", devices=2)
    check_trainer(ddp, multirun=False)
    with pytest.raises(ConfigError, match="restart the whole sweep"):
        check_trainer(ddp, multirun=True)


@pytest.mark.parametrize(("epochs", "shown"), [(0, "0"), (-1, "-1"), (1.5, "1.5"), (None, "null")])
def test_max_epochs_must_be_a_positive_whole_number(epochs, shown):
    with pytest.raises(ConfigError, match=f"trainer.max_epochs={shown} "):
        check_trainer(trainer(max_epochs=epochs), multirun=False)


@pytest.mark.parametrize(("launcher", "cpus", "threads"), [
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}, 2, 1),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}, 16, 8),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": -1}, 8, 1),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": -2}, 8, 1),
    # joblib's n_jobs = −k runs cpus + 1 − k jobs: −3 on 4 CPUs is 2 jobs of 2 threads
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": -3}, 4, 2),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 3}, 2, 1),
    ({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
      "cpus_per_task": 3}, 16, 3),
    ({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
      "cpus_per_task": None}, 16, None),
    ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 16, None),
    (None, 16, None),
])
def test_threads_per_job(launcher, cpus, threads):
    assert threads_per_job(OmegaConf.create(launcher) if launcher else None, cpus) == threads


# The same check runs for every job of a sweep before it starts (PreflightCheck), and at the start
# of a single run; tests/e2e/test_user_errors.py drives mlplab-train itself for a sample of these.
@pytest.mark.parametrize(("override", "message"), [
    ("optimizer.lr=0", "optimizer.lr=0 must be a finite number > 0"),
    ("optimizer.lr=inf", "optimizer.lr=inf must be a finite number > 0"),  # it trained, then "diverged"
    # a Literal among a union's types (Trainer's deterministic: bool | "warn" | None), and its example
    ("trainer.deterministic=maybe",
     "trainer.deterministic=maybe is not true or false or one of warn or null; "
     "e.g. trainer.deterministic=true"),
    # no training batch at all: the fit made no update and the run "finished" on its initial weights
    ("data.train_subset=10 data.drop_last=true", "data.drop_last=true with data.batch_size=256 leaves no "
                                                 "training batch of the 10 training images"),
    ("regularizer.weight_decay=inf", "regularizer.weight_decay=inf must be a finite number ≥ 0"),
    ("model.net.hidden=[0]", "model.net.hidden=[0] has 0; every hidden layer needs at least one unit"),
    ("model.net.hidden=[256,-5]", "model.net.hidden=[256,-5] has -5; every hidden layer needs at least"),
    ("model.net.hidden=null", "model.net.hidden=null is not a list of integers"),
    ("model.hidden=[64]", "model.hidden is not a setting of ModelSettings (its settings: net, compile, "
                          "regression_loss); the network's arguments are model.net.*: model.net.hidden"),
    ("data.val_size=60000", "data.val_size=60000 must be in [0, 59999]"),
    ("data.train_subset=0", "data.train_subset=0 must be in [1, 60000]"),
    ("data.train_subset=70000", "data.train_subset=70000 must be in [1, 60000]"),
    ("data.batch_size=-3", "data.batch_size=-3 must be ≥ 1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 must be a whole number of epochs ≥ 1"),
    ("activation.name=swish", "activation.name=swish is not one of relu, sigmoid, tanh, identity"),
    ("model.net._target_=cnn.Net", "model.net._target_=cnn.Net cannot be imported"),
    ("max_loss=-1", "max_loss=-1 must be in (0, inf)"),
    ("max_loss=inf", "max_loss=inf must be in (0, inf)"),  # an inf loss would never stop the run
    ("regularizer.dropout=[0.1,0.2,0.3]", "has 3 values but the network has 1 hidden layers"),
    ("data.val_size=0", "test_ckpt=best would pick the checkpoint on the test set"),
    ("trainer.limit_train_batches=[1]", "trainer.limit_train_batches=[1] is not a number or null"),
    ("monitor.name=val/accuracy", "monitor.name=val/accuracy is not a metric a classification run logs "
                                  "(those are: val/acc, val/loss, train/acc, train/loss, weights/l2_norm, "
                                  "train/lr; one your own code logs takes a name outside train/, val/, "
                                  "test/, weights/, hp/); e.g. monitor.name=val/acc"),
    ("monitor.name=val_acc", "monitor.name=val_acc is not a metric a classification run logs; did you mean "
                             "val/acc?"),
    ("data=polynomial monitor.name=val/acc", "monitor.name=val/acc is not a metric a regression run logs"),
    ("scheduler=any scheduler._target_=torch.optim.lr_scheduler.ReduceLROnPlateau +scheduler.monitor=val/los",
     "scheduler.monitor=val/los is not a metric a classification run logs"),
    # a monitor ranked backwards would keep the worst epoch, stop early on improvements, search the worst
    ("monitor.name=val/loss", "monitor.mode=max ranks monitor.name=val/loss backwards: a loss is best when "
                              "smallest; e.g. monitor.mode=min"),
    ("callbacks.checkpoint.mode=min",
     "callbacks.checkpoint.mode=min ranks callbacks.checkpoint.monitor=val/acc backwards"),
    ("scheduler=any scheduler._target_=torch.optim.lr_scheduler.ReduceLROnPlateau +scheduler.monitor=val/acc",
     "scheduler.mode=min ranks scheduler.monitor=val/acc backwards"),
    # … and a mode that is no direction at all is a typo, not "backwards"
    ("callbacks.checkpoint.mode=maxx", "callbacks.checkpoint.mode=maxx is not one of max, min; e.g. "
                                       "callbacks.checkpoint.mode=max"),
    ("monitor.name=val/loss monitor.mode=mn", "monitor.mode=mn is not one of max, min; e.g. monitor.mode="),
    # a callback's or a logger's arguments, against its class: before the run, not after an epoch
    ("callbacks=[default,early_stopping] callbacks.early_stopping.patience=three",
     "callbacks.early_stopping.patience=three is not an integer; e.g. callbacks.early_stopping.patience=3"),
    ("callbacks=[default,early_stopping] callbacks.early_stopping.monitor=val/los",
     "callbacks.early_stopping.monitor=val/los is not a metric a classification run logs"),
    ("callbacks=[default,early_stopping] +callbacks.early_stopping.patiance=3",
     "did you mean callbacks.early_stopping.patience?"),
    ("+logger.tensorboard.log_graph=maybe", "logger.tensorboard.log_graph=maybe is not true or false"),
    ("callbacks.progress_bar._target_=lightning.pytorch.callbacks.RichProgresBar",
     "callbacks.progress_bar._target_=lightning.pytorch.callbacks.RichProgresBar cannot be imported"),
    ("+callbacks.mine.patience=3", "callbacks.mine names no class: give it one, e.g."),
    # names Lightning's Trainer would refuse only when the run builds it, with a traceback
    ("trainer.strategy=dpp", "trainer.strategy=dpp is not a strategy Lightning knows"),
    ("trainer.accelerator=cpux", "trainer.accelerator=cpux is not an accelerator Lightning knows (auto, gpu, "
                                 "cpu, cuda, mps, tpu); e.g. trainer.accelerator=cpu"),
    # an optimizer without weight_decay would ignore λ
    ("model=concise optimizer=any optimizer._target_=torch.optim.Rprop +optimizer.lr=0.001 "
     "regularizer.weight_decay=10 regularizer.weight_decay_mode=optimizer",
     "regularizer.weight_decay_mode=optimizer but the optimizer takes no weight_decay argument"),
    # a callback that writes only to a logger, in a run without one (Lightning refused it as the fit started)
    ("callbacks=[default,lr_monitor] logger=none", "callbacks.lr_monitor (lightning.pytorch.callbacks."
     "LearningRateMonitor) writes only to a logger, and this run has none; add one (logger=tensorboard)"),
    # the Trainer's arguments mlplab builds from groups: where they are
    ("trainer.logger=false",
     "trainer.logger is not a setting of TrainerSettings; loggers are the logger group: logger=none"),
    ("+trainer.callbacks=null", "trainer.callbacks is not a setting of TrainerSettings; callbacks are the "
                                "callbacks group"),
    ("+trainer.plugins=[]",
     "trainer.plugins is not a setting of TrainerSettings; mlplab gives the Trainer its own plugin"),
    # Lightning's barebones mode refuses self.log, which the run is made of (its line held an object's repr)
    ("trainer.barebones=true", "trainer.barebones=true turns off LightningModule.log, which mlplab's module "
                               "logs every metric with"),
    # counts Lightning and torch divide by only once the fit runs (ZeroDivisionError after an epoch)
    ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0 must be ≥ 1"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0 must be ≥ 1"),
    ("trainer.val_check_interval=0", "trainer.val_check_interval=0 must be > 0"),
    ("trainer.num_nodes=0", "trainer.num_nodes=0 must be ≥ 1"),
    # values Lightning reads another way without a word: no clipping, every 5th step, no sanity check
    ("trainer.gradient_clip_val=-1",
     "trainer.gradient_clip_val=-1 must be ≥ 0; e.g. trainer.gradient_clip_val=0.5"),
    ("trainer.log_every_n_steps=-5", "trainer.log_every_n_steps=-5 must be ≥ 0"),
    ("trainer.num_sanity_val_steps=-2", "trainer.num_sanity_val_steps=-2 must be ≥ -1"),
    ("callbacks=[default,early_stopping] callbacks.early_stopping.patience=-1",
     "callbacks.early_stopping.patience=-1 must be ≥ 0; e.g. callbacks.early_stopping.patience=3"),
    ("scheduler=step scheduler.step_size=0",
     "scheduler: torch.optim.lr_scheduler.StepLR stopped on its settings (ZeroDivisionError"),
    # a value quoted inside the override stays a string: the line says so (it printed the value unquoted)
    ("optimizer.lr='0.1'", "optimizer.lr='0.1' is a quoted string, not a number or a Tensor: the quotes "
                           "reached Hydra; give it unquoted, optimizer.lr=0.1"),
    ("trainer.max_epochs='3'", "trainer.max_epochs='3' is a quoted string, not an integer or null"),
    # unquoted words that YAML 1.1 (not Hydra) would read as a bool or a number stay plain mistakes
    ("trainer.enable_progress_bar=off", "trainer.enable_progress_bar=off is not true or false or null; e.g."),
    # an argument the preset gave for its own class: the fix is the group's `any`, or ~key
    ("optimizer._target_=torch.optim.RMSprop",
     "optimizer.dampening is not a setting of RMSprop (its settings: lr, alpha, eps, momentum, centered, "
     "capturable, foreach, maximize, differentiable); if the optimizer preset gave it for its own class, "
     "start from optimizer=any (optimizer=any optimizer._target_=…)"),
    # Lightning asks for a monitor only once the fit starts, with a dict as its example
    ("scheduler=any scheduler._target_=torch.optim.lr_scheduler.ReduceLROnPlateau",
     "torch.optim.lr_scheduler.ReduceLROnPlateau steps on a validation metric and scheduler.monitor names "
     "none; e.g. +scheduler.monitor=val/loss"),
    ("optimizer=adamw optimizer.betas=[0.9]",
     "optimizer: torch.optim.AdamW stopped on its settings (IndexError"),
    # a key typed without its group, or added with + where nothing reads it
    ("max_epochs=3", "max_epochs is not a top-level setting; did you mean trainer.max_epochs?"),
    ("+max_epochs=3", "max_epochs is not a top-level setting; did you mean trainer.max_epochs?"),
    ("lr=0.01", "lr is not a top-level setting; did you mean optimizer.lr?"),
    ("epochs=3", "epochs is not a top-level setting; did you mean trainer.max_epochs?"),
    ("activaton=relu", "activaton is not a top-level setting; did you mean activation=…?"),
    ("modle=concise", "modle is not a top-level setting; did you mean model=…?"),  # was monitor.mode
    # an option of a list of options (Hydra names only the file it could not load)
    ("callbacks=[default,early_stoping]", "callbacks=early_stoping is not an option of the callbacks group; "
                                          "choose one of checkpoint, dashboard, default, early_stopping"),
    # the synthetic data sets have no validation split to keep
    ("experiment=d2l_polynomial test_ckpt=best", "use test_ckpt=last as the d2l experiments do"),
])
def test_every_bad_value_gets_one_line_naming_it(override, message, tmp_path):
    """Refused while Hydra merges the override (a wrong type) or by ``check_run`` (the rest)."""
    with pytest.raises((ConfigError, ConfigCompositionException)) as err:  # noqa: PT012
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x",
                                              *override.split()])
        check_run(cfg)
    line = user_message(err.value)
    assert line is not None and message in line and "\n" not in line
    fixes = ("e.g.", "test_ckpt", "model.net.hidden", "did you mean", "choose one of", "mlplab-train --help",
             "drop it: ~", "start from optimizer=any", "give it unquoted", "logger=none",
             "callbacks=[default", "no other can be set", "add one (logger=")
    assert any(fix in line for fix in fixes)
    assert not ("polynomial" in override and "data.val_size" in line)  # a setting it does not have


def test_a_callbacks_own_constructor_check_speaks_before_the_run(tmp_path):
    """What a callback's constructor refuses (ModelCheckpoint: save_top_k ≥ -1) is refused by
    ``check_run``, in a sweep before its first job, in Lightning's words on one line."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x",
                                          "callbacks.checkpoint.save_top_k=-2"])
    with pytest.raises(ConfigError) as err:
        check_run(cfg)
    assert user_message(err.value) == ("callbacks.checkpoint: Invalid value for save_top_k=-2. Must be >= -1 "
                                       "(lightning.pytorch.callbacks.ModelCheckpoint)")


def test_a_callback_may_be_built_by_a_function(tmp_path):
    """Hydra's ``_target_`` may name a function that returns the object (its range check looked for
    a class, and ended in a TypeError traceback)."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x",
                                          "+callbacks.made._target_=lightning.pytorch.callbacks.RichModelSummary"])
    check_run(cfg)
    cfg.callbacks.made._target_ = "os.getcwd"
    check_run(cfg)


def test_a_strategy_name_is_compared_as_lightning_compares_it(tmp_path):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x",
                                          "trainer.strategy=DDP_spawn", "trainer.devices=1"])
    check_run(cfg)  # Lightning lower-cases it


def with_sweep(cfg, *task):
    """``cfg`` as a multirun launched with the overrides ``task`` sees it (compose takes no sweeps)."""
    with open_dict(cfg):
        cfg.hydra.overrides.task = list(task)
    return cfg


def test_the_grid_expands_as_hydras_basic_sweeper_numbers_its_jobs():
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
        grid = job_overrides(with_sweep(cfg, "regularizer.weight_decay=0,1e-3", "regularizer.dropout=0,0.5",
                                        "optimizer.lr=0.2"))
        globbed = job_overrides(with_sweep(cfg, "activation=glob(*)", "optimizer.lr=range(1,3)"))
    assert grid == [
        ["regularizer.weight_decay=0", "regularizer.dropout=0", "optimizer.lr=0.2"],
        ["regularizer.weight_decay=0", "regularizer.dropout=0.5", "optimizer.lr=0.2"],
        ["regularizer.weight_decay=0.001", "regularizer.dropout=0", "optimizer.lr=0.2"],
        ["regularizer.weight_decay=0.001", "regularizer.dropout=0.5", "optimizer.lr=0.2"]]
    # glob() over a group's options needs Hydra's config loader, which the check hands the parser
    assert len(globbed) == 4 * 2 and ["activation=identity", "optimizer.lr=1"] in globbed


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_metrics_a_monitor_may_watch_are_those_a_fit_logs(task, tmp_path):
    """FIT_METRICS, which monitor.name is checked against, against what a real fit logged."""
    import lightning as L
    from helpers import mlp_module, write_fake_fashion_mnist

    from mlplab.config.monitor import FIT_METRICS
    from mlplab.data.fashion_mnist import FashionMNISTDataModule
    from mlplab.data.synthetic import PolynomialDataModule

    if task == "classification":
        data = FashionMNISTDataModule(data_dir=str(write_fake_fashion_mnist(tmp_path, 40, 10)), batch_size=8,
                                      val_size=8, download=False, check_counts=False)
    else:
        data = PolynomialDataModule()
    module = mlp_module(hidden=[8], **data.shape)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data)
    assert sorted(trainer.callback_metrics) == sorted(FIT_METRICS[task])


def test_the_compose_api_build_refuses_a_device_this_machine_lacks(tmp_path):
    import torch

    from mlplab.runtime.build import build

    lacking = "mps" if torch.cuda.is_available() else "cuda"
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x",
                                          f"trainer.accelerator={lacking}", f"data.data_dir={tmp_path}/none"])
    with pytest.raises(ConfigError, match=rf"trainer.accelerator={lacking}: no .* trainer=default"):
        build(cfg)  # before the data is looked for (there is none at data.data_dir)


def test_an_error_raised_from_itself_is_read_once():
    """A chain that loops (an error raised ``from`` itself) ends: the trainer's refusal did this,
    and the error line's search for a cause spun forever at 100 % CPU."""
    import itertools

    from mlplab.errors import causes

    err = ValueError("looped")
    err.__cause__ = err
    assert list(itertools.islice(causes(err), 5)) == [err]
    assert user_message(err) is None  # a bug: its traceback, not a hang

