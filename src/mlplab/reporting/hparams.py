"""A run's row in TensorBoard's HParams tab: every declared setting that says what the run
computes (not where its files are), named as on the command line, one plain scalar each.

    model.net.hidden = "256,256"   regularizer.dropout = 0.5   optimizer.lr = 0.1   data.batch_size = 256

The keys come from the declarations (``mlplab.config``), so a new setting shows up here
without being listed anywhere. ``hparams_summaries`` writes the row as the plugin reads it, with
the run's end: TensorBoard's status filter tells a finished run from one that failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from mlplab.config.settings import Settings, specs
from mlplab.config.store import computing_overrides
from mlplab.records import RunStatus

HParam = str | int | float | bool
# How a run ended, as the plugin's status filter reads it: one stopped before its end (interrupted,
# to be resumed; pruned by a search) neither succeeded nor failed
SESSION_STATUS = {RunStatus.FINISHED: api_pb2.STATUS_SUCCESS, RunStatus.DIVERGED: api_pb2.STATUS_FAILURE,
                  RunStatus.FAILED: api_pb2.STATUS_FAILURE, RunStatus.INTERRUPTED: api_pb2.STATUS_UNKNOWN,
                  RunStatus.PRUNED: api_pb2.STATUS_UNKNOWN}


def settings_row(groups: Iterable[Settings]) -> dict[str, HParam]:
    """``{group.name: value}`` over the settings objects, leaving out the ``where`` settings."""
    row = {}
    for settings in groups:
        if getattr(settings, "_target_", None):  # which class: torch.optim.SGD, a DataModule, …
            row[settings.key("_target_")] = settings._target_
        parts = settings.parts()  # a group inside a group: model.net
        for spec in specs(type(settings)):
            if spec.name in parts:
                row.update(settings_row([parts[spec.name]]))
            elif not spec.where:
                row[settings.key(spec.name)] = hparam_value(getattr(settings, spec.name))
    return row


def override_row(overrides: Iterable[str], known: Iterable[str]) -> dict[str, HParam]:
    """The command line's computing overrides that are no column yet (a Trainer flag such as
    ``trainer.accumulate_grad_batches=2``, ``test_ckpt=best``, a group's choice such as
    ``optimizer=adamw``), by Hydra's grammar: whatever a sweep varies is a column of its rows."""
    known, row = set(known), {}
    for override in OverridesParser.create().parse_overrides(computing_overrides(list(overrides))):
        key = override.get_key_element().lstrip("+~")
        if key not in known and not override.is_delete():
            row[key] = hparam_value(override.value())
    return row


def hparam_value(value: Any) -> HParam:
    """What the HParams plugin takes: lists become comma-joined strings (``[256, 256]`` →
    ``"256,256"``) and anything else that is not str/int/float/bool its ``str`` (None → "None"),
    so every run of a sweep has the same columns to sort and filter by."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Sequence):
        return ",".join(str(v) for v in value)
    return str(value)


def hparams_summaries(row: dict[str, HParam], metrics: Iterable[str], status: RunStatus) -> list[Summary]:
    """The plugin's three summaries of one run: the experiment (the columns: the row's keys and
    ``metrics``, tags of scalars written beside), the session's start (the row) and its end
    (``status``). torch's ``hparams`` would write a boolean as a number and every end as success."""
    columns, start = [], plugin_data_pb2.SessionStartInfo()
    for name, value in row.items():
        if isinstance(value, bool):  # before int: bool is one
            start.hparams[name].bool_value, kind = value, api_pb2.DATA_TYPE_BOOL
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value, kind = value, api_pb2.DATA_TYPE_FLOAT64
        else:
            start.hparams[name].string_value, kind = str(value), api_pb2.DATA_TYPE_STRING
        columns.append(api_pb2.HParamInfo(name=name, type=kind))
    experiment = api_pb2.Experiment(hparam_infos=columns, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metrics])
    parts = {metadata.EXPERIMENT_TAG: plugin_data_pb2.HParamsPluginData(experiment=experiment),
             metadata.SESSION_START_INFO_TAG: plugin_data_pb2.HParamsPluginData(session_start_info=start),
             metadata.SESSION_END_INFO_TAG: plugin_data_pb2.HParamsPluginData(
                 session_end_info=plugin_data_pb2.SessionEndInfo(status=SESSION_STATUS[status]))}
    return [Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])
            for tag, data in parts.items()]
