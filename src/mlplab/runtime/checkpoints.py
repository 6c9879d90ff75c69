"""Checkpoint files: written atomically, read without unpickling code, found again for a resume.

    logs/runs/<time>/checkpoints/{best,last}.ckpt

``ckpt_path=<file>`` resumes that run; ``ckpt_path=last`` the newest run under ``logs/runs`` whose
command-line overrides equal this one's (ignoring the settings that say where files are:
``mlplab.config.store.computing_overrides``).
A resumed run continues in the run folder its checkpoint is in (``<run>/checkpoints/``), so its
checkpoints, best score, TensorBoard curves and ``metrics.json`` carry on where they stopped; a
checkpoint kept anywhere else starts a new run folder from its weights (``runtime.resume.resume_from``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from mlplab.config.store import computing_overrides
from mlplab.errors import UserError
from mlplab.files import write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a sibling temporary file, then rename: a run killed while saving
    leaves the previous checkpoint whole, never half of the new one.

    The checkpoint is serialised in memory first (an MLP's is a few MB) and written by Python, so
    a full disk raises ``OSError(ENOSPC)`` naming the file; ``torch.save`` writing to the disk
    itself would say only "unexpected pos"."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(path, buffer.getbuffer())


def load_failure(err: Exception) -> str:
    """torch.load's reason in a few words: what its weights-only unpickler said (its text around it
    is advice on weights_only=False, which mlplab never takes), else the first line."""
    text = str(err)
    _, found, after = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (after if found else text).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's tensors and plain values only (``weights_only=True``: no pickled code)."""
    path = Path(path)
    if path.is_dir():  # an easy slip: the run's checkpoints folder instead of a file in it
        held = sorted(p.name for p in path.glob("*.ckpt"))
        if not held:
            raise UserError(f"ckpt_path={path} is a folder with no .ckpt file in it; give a checkpoint "
                            f"file, e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt")
        example = path / ("last.ckpt" if "last.ckpt" in held else held[0])
        raise UserError(f"ckpt_path={path} is a folder; give a checkpoint file in it, e.g. "
                        f"ckpt_path={example} (it holds {', '.join(held)})")
    if not path.is_file():
        raise UserError(f"ckpt_path={path} does not exist; give a .ckpt under "
                        f"logs/runs/<run>/checkpoints/, e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means "not a checkpoint we can trust"
        raise UserError(f"ckpt_path={path} is not a readable mlplab checkpoint ({load_failure(err)}); "
                        f"give a .ckpt written by mlplab-train") from None
    if not isinstance(checkpoint, dict) or "hyper_parameters" not in checkpoint:
        raise UserError(f"ckpt_path={path} is not an mlplab checkpoint (no hyper_parameters); "
                        f"give a .ckpt written by mlplab-train")
    return checkpoint


def epochs_done(checkpoint: dict[str, Any]) -> int | None:
    """The epochs whose batches all ran: Lightning's fit-loop progress (``processed``; an epoch is
    ``completed`` only after the hooks that save last.ckpt); None where the file does not say."""
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    return int(progress["processed"]) if "processed" in progress else None


def check_left_to_train(path: Path, max_epochs: int | None, max_steps: int | None) -> None:
    """Before resuming a finished run (its folder's metrics.json says so): the run asks for more
    than the checkpoint has trained. Resumed again (the printed resume line pasted twice), it would
    train nothing and rewrite metrics.json with the test scores alone. A run stopped after its last
    epoch but before its result (killed while testing) is resumed: it tests and writes its result."""
    checkpoint = load_checkpoint(path)
    done, updates = epochs_done(checkpoint), int(checkpoint.get("global_step", 0))
    # a schedule spanning the run (cosine, one-cycle) ends with it: more epochs would be refused
    schedules = [s for s in checkpoint.get("lr_schedulers") or [] if isinstance(s, dict)]
    schedule_ends = any(s.get("total_steps") for s in schedules)

    def longer(key: str, value: int) -> str:
        return ("start a new run: its learning-rate schedule ends there" if schedule_ends
                else f"resume with more, e.g. trainer.{key}={value}")

    if done is not None and (max_epochs or 0) > 0 and done >= max_epochs:
        raise UserError(f"ckpt_path={path} has trained {done} epoch(s), all that trainer.max_epochs="
                        f"{max_epochs} asks for: nothing is left to resume; to train longer, "
                        f"{longer('max_epochs', 2 * done)}")
    if (max_steps or 0) > 0 and updates >= max_steps:
        raise UserError(f"ckpt_path={path} has made {updates} updates, all that trainer.max_steps="
                        f"{max_steps} asks for: nothing is left to resume; to train longer, "
                        f"{longer('max_steps', 2 * updates)}")


def check_fits(path: Path, module: torch.nn.Module) -> None:
    """Before a resume: the checkpoint's weights have ``module``'s shapes; otherwise one line that
    names the differing shapes and the overrides that compose the checkpoint's model."""
    checkpoint = load_checkpoint(path)
    shown = shape_differences(checkpoint, module)
    if not shown:
        return
    was = dotted(checkpoint["hyper_parameters"].get("model") or {}, "model")
    now = dotted(dict(getattr(module, "hparams", {}).get("model") or {}), "model")
    overrides = [f"{k}={as_override(v)}" for k, v in was.items() if now.get(k) != v]
    raise UserError(f"ckpt_path={path} holds another model ({shown}); resume it with its own "
                    f"settings: {' '.join(overrides) or 'the data it was trained on'}, or start "
                    f"a new run without ckpt_path")


def shape_differences(checkpoint: dict[str, Any], module: torch.nn.Module) -> str:
    """The weights whose shapes differ between ``checkpoint`` and ``module`` (the first three), or
    "" when every one fits."""
    saved = {k: tuple(v.shape) for k, v in checkpoint.get("state_dict", {}).items()}
    here = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    differ = [f"{k} {list(saved[k]) if k in saved else 'absent'} in the checkpoint, "
              f"{list(here[k]) if k in here else 'absent'} here"
              for k in sorted(saved.keys() | here.keys()) if saved.get(k) != here.get(k)]
    return "; ".join(differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")


def dotted(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``{"net": {"hidden": [32]}}`` → ``{"model.net.hidden": [32]}``: nested settings as keys."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(dotted(value, f"{prefix}.{key}"))
        else:
            flat[f"{prefix}.{key}"] = value
    return flat


def as_override(value: Any) -> str:
    """A value as it is typed on the command line: ``[64, 32]`` → ``[64,32]``."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(as_override(v) for v in value) + "]"
    return str(value)


# A run resumed to train longer is the same run: its length does not tell runs apart.
RUN_LENGTH = ("trainer.max_epochs", "trainer.max_steps")


def same_run(overrides: list[str]) -> list[str]:
    """What tells a run apart for ``ckpt_path=last``: the overrides that change what it computes,
    but its length."""
    return [o for o in computing_overrides(overrides) if o.lstrip("+~").partition("=")[0] not in RUN_LENGTH]


def newest_matching_run(runs_dir: Path, overrides: list[str]) -> Path:
    """``last.ckpt`` of the newest run in ``runs_dir`` started with the same ``overrides``; where
    none is, of the newest with the same but for its length (``trainer.max_epochs=20
    ckpt_path=last`` continues a run of 10, while a stopped run's printed resume line finds that run
    itself). The resuming run's own new folder holds no ``last.ckpt`` and never matches, except when
    the resume started in the same second as the run it resumes: Hydra (which names run folders to
    the second) then gave it that run's folder, and that run is the one to continue."""
    wanted, typed = same_run(overrides), computing_overrides(overrides)
    runs = sorted((p for p in runs_dir.glob("*") if p.is_dir()), key=lambda p: p.name, reverse=True)
    candidates = []  # (its overrides, its last.ckpt), newest first
    for run in runs:
        saved = run / ".hydra" / "overrides.yaml"
        last = run / "checkpoints" / "last.ckpt"
        if saved.is_file() and last.is_file():
            candidates.append(([str(o) for o in yaml.safe_load(saved.read_text()) or []], last))
    for same in (computing_overrides, same_run):  # the very command first, then the run's length aside
        for saved_overrides, last in candidates:
            if same(saved_overrides) == same(overrides):
                return last
    shown = " ".join(typed) or "no overrides"
    aside = " (its length aside)" if typed != wanted else ""
    raise UserError(f"ckpt_path=last: no run under {runs_dir} with the overrides '{shown}'{aside} has a "
                    f"checkpoints/last.ckpt; give the file, ckpt_path=logs/runs/<run>/checkpoints/last.ckpt")


# fit(ckpt_path=…) values Lightning resolves itself (best of a callback, an HPC save, its model registry)
LIGHTNING_NAMES = ("best", "hpc", "registry")


def resume_checkpoint(ckpt_path: str | None, runs_dir: Path, overrides: list[str] | None) -> Path | None:
    """The checkpoint a run resumes from (checked to be an mlplab checkpoint), or None."""
    if ckpt_path is None:
        return None
    if str(ckpt_path) in LIGHTNING_NAMES or str(ckpt_path).startswith("registry:"):
        raise UserError(f"ckpt_path={ckpt_path} names a checkpoint as Lightning's fit(ckpt_path=…) would "
                        f"find it; mlplab resumes a run's own file, or the newest run of the same command: "
                        f"ckpt_path=last, or ckpt_path=logs/runs/<run>/checkpoints/last.ckpt")
    if str(ckpt_path) == "last":
        if overrides is None:
            raise UserError("ckpt_path=last finds the newest run of the same command, which needs "
                            "mlplab-train; with the compose API give the file itself")
        path = newest_matching_run(runs_dir, overrides)
    else:
        path = Path(ckpt_path)
    load_checkpoint(path)  # a clear message for a missing or foreign file, before any training
    return path
