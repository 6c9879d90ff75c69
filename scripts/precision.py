"""Every book experiment and best_mlp in fp32 and in bf16 (``trainer.precision=bf16-mixed``): the
validation numbers side by side, to decide whether bf16 may be mlplab's default on a CPU.

    python scripts/precision.py [--seeds 42 43 44] [--best-mlp-seeds 42]   (about 15 minutes here)

For each experiment and seed, one run per precision (same seed: same init, split and batches);
the value is the run's monitor at its best epoch (``val/acc`` for Fashion-MNIST, ``val/loss`` for
the synthetic regressions). The gap is bf16 − fp32 per seed; the noise is the fp32 seed-to-seed
spread (max − min). Writes ``docs/precision.json`` and prints the table of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts.reproduce import machine  # noqa: E402 (the repository first on the path)

OUT = REPO / "docs" / "precision.json"
EXPERIMENTS = ["d2l_mlp_scratch", "d2l_mlp_concise", "d2l_dropout", "d2l_weight_decay", "d2l_polynomial",
               "best_mlp"]
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}


def run(experiment: str, precision: str, seed: int, folder: Path) -> dict:
    """One ``mlplab-train`` run; its monitor (name, best value) and fit seconds."""
    train = Path(sys.executable).parent / "mlplab-train"
    command = [str(train), f"experiment={experiment}", f"trainer.precision={precision}", f"seed={seed}",
               f"hydra.run.dir={folder}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    result = json.loads((folder / "metrics.json").read_text())
    return {"monitor": result["monitor"]["name"], "value": result["monitor"]["best"],
            "fit_seconds": result["fit_seconds"]}


def measure(seeds: list[int], best_mlp_seeds: list[int]) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="mlplab-precision-") as tmp:
        for experiment in EXPERIMENTS:
            runs = {name: [] for name in PRECISIONS}
            for seed in best_mlp_seeds if experiment == "best_mlp" else seeds:
                for name, precision in PRECISIONS.items():
                    runs[name].append({"seed": seed, **run(experiment, precision, seed,
                                                            Path(tmp) / f"{experiment}-{name}-{seed}")})
                    print(experiment, name, seed, runs[name][-1], flush=True)
            rows[experiment] = summary(runs)
    return rows


def summary(runs: dict[str, list[dict]]) -> dict:
    """The runs, the per-seed gaps bf16 − fp32, fp32's seed spread and the fit-time ratio."""
    fp32, bf16 = runs["fp32"], runs["bf16"]
    gaps = [b["value"] - f["value"] for f, b in zip(fp32, bf16, strict=True)]
    spread = max(r["value"] for r in fp32) - min(r["value"] for r in fp32) if len(fp32) > 1 else None
    return {"monitor": fp32[0]["monitor"], "runs": runs, "gaps": gaps, "mean_gap": statistics.mean(gaps),
            "fp32_spread": spread,
            "within_noise": spread is not None and abs(statistics.mean(gaps)) <= spread,
            "fit_speedup": statistics.median(f["fit_seconds"] for f in fp32)
            / statistics.median(b["fit_seconds"] for b in bf16)}


def table(rows: dict) -> str:
    lines = ["| experiment | monitor | fp32 (mean) | bf16 (mean) | bf16 − fp32 | fp32 seed spread | "
             "fit time fp32/bf16 |", "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        fp32 = statistics.mean(r["value"] for r in row["runs"]["fp32"])
        bf16 = statistics.mean(r["value"] for r in row["runs"]["bf16"])
        spread = f"{row['fp32_spread']:.4f}" if row["fp32_spread"] is not None else "one seed"
        lines.append(f"| `{name}` | {row['monitor']} | {fp32:.4f} | {bf16:.4f} | {row['mean_gap']:+.4f} | "
                     f"{spread} | {row['fit_speedup']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--best-mlp-seeds", type=int, nargs="+", default=[42],
                        help="best_mlp takes about 3 minutes a run here: one seed by default")
    args = parser.parse_args()
    rows = measure(args.seeds, args.best_mlp_seeds)
    record = {"date": datetime.date.today().isoformat(), "machine": machine(), "rows": rows}
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
