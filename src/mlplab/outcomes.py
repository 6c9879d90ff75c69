"""How a process of mlplab ends: a mistake the user can fix (a value, a file, a path, a full
disk) as one line on stderr (``error: …``) and exit status 2; a run that diverged or a sweep with
failed jobs 1; a sweep whose jobs still run in another process 75; a signal 130. Anything else
keeps its traceback; ``HYDRA_FULL_ERROR=1`` shows the traceback of user errors too.

Hydra's own errors (a value of the wrong type, an unknown key, a group option that does not exist)
are worded like every other mistake, from the declaration of the setting
(``mlplab.config.settings``). The entry points (``mlplab.cli``) and the Hydra callbacks that stop a
sweep before it starts (``mlplab.runtime``, ``mlplab.reporting``) all end through here.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import yaml
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
    SearchPathException,
)
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    ConfigTypeError,
    InterpolationResolutionError,
    MissingMandatoryValue,
    ValidationError,
)

from mlplab.config.location import config_dir
from mlplab.config.settings import Settings, describe_type_error, describe_unknown_key
from mlplab.errors import UserError, causes, describe_os_error

FULL_ERROR = "HYDRA_FULL_ERROR"
# set beside FULL_ERROR when mlplab set it (to catch Hydra's errors itself), not the user
FULL_ERROR_IS_OURS = "_MLPLAB_FULL_ERROR_IS_OURS"
USER_EXIT, FAILED_EXIT, INTERRUPTED_EXIT = 2, 1, 130
# Hydra's ValueError when its command-line flags name two things to do (hydra._internal.utils)
HYDRA_ONE_COMMAND = "Only one of --run, --multirun, --cfg, --info and --shell_completion"
HYDRA_SUBCOMMAND = "Expecting one subcommand from"  # --shell-completion without install=/uninstall=/query=
# What mlplab's ``sweep`` extra installs (pyproject.toml): the modules, and the launchers' options
SWEEP_EXTRA_MODULES = ("optuna", "optuna_dashboard", "submitit", "sqlalchemy", "psycopg2",
                       "hydra_plugins.hydra_joblib_launcher", "hydra_plugins.hydra_submitit_launcher")
SWEEP_EXTRA_LAUNCHERS = ("joblib", "submitit_local", "submitit_slurm")
INSTALL_SWEEP_EXTRA = "pip install 'mlplab[sweep]' (make setup installs it)"
# Hydra's words for +model=concise (the defaults list chooses a model already), in its YAML's terms
SECOND_CHOICE = re.compile(r"Multiple values for (\S+)\. To override a value use 'override \S+: (.+)'")
LIST_GROUPS = ("callbacks", "logger")  # composed as lists: callbacks=[default,early_stopping]
BUSY_EXIT = 75  # sysexits' EX_TEMPFAIL: a sweep's jobs still run in another process; try again later


def wants_traceback() -> bool:
    return os.environ.get(FULL_ERROR) == "1" and not os.environ.get(FULL_ERROR_IS_OURS)


def override_of(err: BaseException) -> str | None:
    """The override Hydra was merging (``Error merging override optimizer.lr=fast``)."""
    for cause in causes(err):
        match = re.search(r"merging override (\S+)", str(cause))
        if match:
            return match.group(1)
    return None


def describe_unparsed(override: str) -> str | None:
    """An override Hydra's grammar cannot read because its value needs quotes (a space, a letter
    outside ASCII, a shell or grammar character): the cause, and the override quoted as the shell
    and Hydra both read it (``'hydra.run.dir="/data/运行 ü"'``). None for other parse errors."""
    key, equals, value = override.partition("=")
    odd = sorted({c for c in value if c.isspace() or not c.isascii() or c in "!#&;|<>'`"},
                 key=value.index)
    if not equals or not odd or '"' in value:
        return None
    what = ", ".join("a space" if c == " " else repr(c) for c in odd)
    fixed = f'{key}="{value}"'
    return (f"{override}: Hydra reads an unquoted value only of ASCII letters, digits and a few "
            f"signs, and this one holds {what}; quote the value inside the override: "
            f"{shlex.quote(fixed)}")


def describe_missing_key(cause: ConfigKeyError | ConfigAttributeError, said: str) -> str:
    """A key the composed node does not have (a free-form group: ``model.net``, a Hydra plugin's
    ``hydra.launcher``): its keys, the closest one, and Hydra's ``+`` for a key meant to be new."""
    parent, _, name = str(cause.full_key).rpartition(".")
    node = cause.parent_node
    if len(node) == 0:  # scheduler=none: an option without settings
        return (f"{cause.full_key}: {parent} has no settings in this composition; choose an option of "
                f"the {parent} group that has it (mlplab-train --help lists each option's settings)")
    keys = [str(k) for k in node if not str(k).startswith("_")]
    close = difflib.get_close_matches(name, keys, n=1)
    if parent in ("hydra.launcher", "hydra.sweeper"):  # a plugin's class takes no key it lacks: no "+"
        plugin = parent.rpartition(".")[2]
        named = str(node.get("_target_")).rpartition(".")[2]
        has = f"its keys: {', '.join(keys)}" if keys else "it takes none"
        text = f"{cause.full_key} is not a key of {parent} ({named}; {has})"
        if close:
            return f"{text}; did you mean {parent}.{close[0]}?"
        having = plugins_with(plugin, name)
        if not having:
            return f"{text}; no {plugin} here takes it"
        choices = " or ".join(f"hydra/{plugin}={option}" for option in having)
        return f"{text}; choose a {plugin} that takes it first: {choices}"
    has = f"its keys: {', '.join(keys)}" if keys else f"it names {node.get('_target_')} and no arguments yet"
    text = f"{cause.full_key} is not a key of {parent} ({has})"
    append = re.search(r"use \+(.+)$", said, re.M)  # Hydra's own form, the value as the user wrote it
    written = append.group(1).strip() if append else f"{cause.full_key}=…"
    if parent in LIST_GROUPS and name in shipped_options(parent):  # a preset this run did not compose
        # callbacks' keys come from its default preset; logger's are its presets' names
        composed = ([] if not keys else ["default"] if parent == "callbacks" else keys)
        return (f"{text}; compose its preset first: '{parent}=[{','.join([*composed, name])}]' "
                f"{shlex.quote(written)}")
    if close:  # a typo far likelier than a new key (whose "+" the class or Hydra may then refuse)
        return f"{text}; did you mean {parent}.{close[0]}?"
    if parent == "hydra" or parent.startswith("hydra."):  # Hydra's own settings: a new key does nothing
        return f"{text}; Hydra has no such setting"
    return f"{text}; to add it as a new key: {shlex.quote('+' + written)}"


def plugins_with(plugin: str, key: str) -> list[str]:
    """The options of ``hydra/<plugin>`` (launcher, sweeper) whose config has ``key``: mlplab's
    presets (``conf/hydra/<plugin>/*.yaml``, with what they extend) and the plugins' own schemas."""
    from hydra.core.config_store import ConfigStore

    stored = ConfigStore.instance().repo.get("hydra", {}).get(plugin, {})
    keys = {name.removesuffix(".yaml"): set(entry.node) for name, entry in stored.items()}
    for path in sorted((Path(config_dir()) / "hydra" / plugin).glob("*.yaml")):  # slurm before slurm_gpu
        preset = yaml.safe_load(path.read_text()) or {}
        extends = [keys.get(d, set()) for d in preset.pop("defaults", []) if isinstance(d, str)]
        keys[path.stem] = set(preset).union(*extends)
    return sorted(option for option, found in keys.items() if key in found)


def shipped_options(group: str) -> list[str]:
    """The options mlplab ships for a config group (``conf/<group>/*.yaml``)."""
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


def user_message(err: BaseException) -> str | None:
    """The one line to show for a mistake the user can fix; None for a bug (keep the traceback)."""
    for cause in causes(err):
        if isinstance(cause, UserError):
            return str(cause)
        if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:  # a preset's syntax
            mark = cause.problem_mark
            return (f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: {cause.problem}; fix the "
                    f"file's YAML (indent with spaces, `key: value`)")
        missing = (cause.name or "") if isinstance(cause, ImportError) else ""  # optuna, optuna.samplers…
        if missing in SWEEP_EXTRA_MODULES or missing.split(".")[0] in SWEEP_EXTRA_MODULES:
            return f"{missing} is not installed: it comes with mlplab's sweep extra; {INSTALL_SWEEP_EXTRA}"
        if isinstance(cause, MisconfigurationException):  # Lightning's word on a trainer setting
            return " ".join(str(cause).split())
        if isinstance(cause, InterpolationResolutionError):  # a value's ${…} (a key where OmegaConf says)
            said = str(cause).splitlines()[0]
            where = f"{cause.full_key}: " if cause.full_key else ""
            if "Unsupported interpolation type hydra" in said:  # outside a Hydra job: --experimental-rerun
                return (f"{where}{said}: ${{hydra:…}} has a value only while Hydra runs a job, which "
                        f"--experimental-rerun (or a config loaded by hand) does not start; run the command "
                        f"again with the run's overrides (its .hydra/overrides.yaml)")
            return f"{where}{said}; fix the value's ${{…}}, or set what it reads"
        if isinstance(cause, MissingMandatoryValue):
            return f"{cause.full_key} is required: add {cause.full_key}=<value> to the command"
        if isinstance(cause, MissingConfigException) and cause.missing_cfg_file:
            group, _, option = cause.missing_cfg_file.rpartition("/")
            options = cause.options if cause.options is not None else shipped_options(group)
            if group and options:  # Hydra lists the options of a single choice, not of a list's items
                listed = ", ".join(o for o in options if not o.startswith("_"))
                extra = (f"; hydra/launcher={option} comes with mlplab's sweep extra: {INSTALL_SWEEP_EXTRA}"
                         if group == "hydra/launcher" and option in SWEEP_EXTRA_LAUNCHERS else "")
                return (f"{group}={option} is not an option of the {group} group; choose one of "
                        f"{listed}{extra}")
        if isinstance(cause, ConfigCompositionException) and (twice := SECOND_CHOICE.fullmatch(str(cause))):
            group, option = twice.groups()
            return f"+{group}={option} adds a second {group}; choose the {group} without +: {group}={option}"
        if isinstance(cause, SearchPathException):  # --config-dir naming no folder
            return f"{' '.join(str(cause).split())}; give --config-dir a folder of presets that exists"
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(cause.object_type, type) \
                and issubclass(cause.object_type, Settings):
            return describe_unknown_key(cause.object_type, str(cause.key))
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key \
                and OmegaConf.is_dict(getattr(cause, "parent_node", None)) \
                and any(isinstance(c, ConfigCompositionException) for c in causes(err)):  # an override's
            return describe_missing_key(cause, str(err))  # key, not a bug of ours reading the config
        if isinstance(cause, ValidationError):
            return describe_type_error(cause, override_of(err))
        if isinstance(cause, OverrideParseException):
            return describe_unparsed(cause.override) or " ".join(str(cause).split())
        if isinstance(cause, ValueError) and str(cause).startswith(HYDRA_SUBCOMMAND):  # `--shell-completion`
            return f"{cause}; e.g. tab completion in bash: eval \"$(mlplab-train -sc install=bash)\""
        if isinstance(cause, ValueError) and str(cause).startswith(HYDRA_ONE_COMMAND):  # `-m … --cfg job`
            return (f"{cause}; give one: -m runs a sweep, --cfg, --info and --shell-completion print and "
                    f"exit (without -m, --cfg job prints what one job composes)")
        if type(cause).__name__ == "FailedJobError" and type(cause).__module__.startswith("submitit"):
            said = " ".join(str(cause).split())  # sbatch's own words (submitit stays an optional import)
            return (f"SLURM refused the sweep's jobs ({said}); check that the cluster answers here "
                    f"(sinfo) and the launcher's settings, hydra.launcher.* (partition, gres, time)")
        if isinstance(cause, OSError) and describe_os_error(cause):  # the disk, a path
            faults = [c for c in causes(err) if isinstance(c, OSError) and describe_os_error(c)]
            named = [c for c in faults if c.filename]  # rather a file than "a file being written",
            return describe_os_error((named or faults)[-1])  # and the first write that failed
    hydra = [cause for cause in causes(err) if isinstance(cause, ConfigCompositionException)]
    if not hydra:
        return None
    said = " ".join(str(hydra[0]).split())  # Hydra's own words, on one line, and what it merged
    reason = hydra[0].__cause__
    if isinstance(reason, ConfigTypeError) and "does not support deletion" in str(reason):
        return (f"{said}: a declared setting cannot be removed (~); give it a value instead "
                f"(mlplab-train --help lists its type and default)")
    first = str(reason).strip().splitlines()[0] if reason is not None and str(reason).strip() else ""
    return f"{said}: {first}" if first and first not in said else said


def fail(message: str, code: int = USER_EXIT, then: str | None = None) -> NoReturn:
    """``error: <message>`` (and the line ``then``) on stderr, then exit with ``code``."""
    print(f"error: {message}" + (f"\n{then}" if then else ""), file=sys.stderr)
    raise SystemExit(code)


def report(err: BaseException, note: str = "", then: str | None = None) -> NoReturn:
    """Exit with the one line for ``err`` (``note`` before it), or re-raise a bug."""
    message = user_message(err)
    if message is None or wants_traceback():
        raise err
    fail(f"{note}{message}", then=then)
