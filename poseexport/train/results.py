"""results.csv (one row per epoch) and results.png (loss and metric curves)."""
from __future__ import annotations

import csv
from pathlib import Path

from .loss import LOSS_NAMES

METRIC_COLUMNS = ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
                  "metrics/precision(P)", "metrics/recall(P)", "metrics/mAP50(P)", "metrics/mAP50-95(P)")
COLUMNS = ("epoch", *(f"train/{n}_loss" for n in LOSS_NAMES), *METRIC_COLUMNS, "fitness",
           "lr/pg0", "lr/pg1", "lr/pg2", "time")


def metric_values(metrics) -> dict[str, float]:
    """The eight metric columns from a ValMetrics (box then pose: P, R, mAP50, mAP50-95)."""
    values = []
    for task in (metrics.box, metrics.pose):
        values += [task.mp, task.mr, task.map50, task.map]
    return dict(zip(METRIC_COLUMNS, (float(v) for v in values)))


def fitness(row: dict) -> float:
    """0.1 * mAP50 + 0.9 * mAP50-95, summed over box and pose (the best.pt criterion)."""
    return sum(0.1 * row[f"metrics/mAP50({t})"] + 0.9 * row[f"metrics/mAP50-95({t})"] for t in "BP")


class ResultsLog:
    """Appends rows to results.csv; a resumed run keeps the rows of the epochs already done."""

    def __init__(self, path: Path, keep_epochs: int = 0):
        self.path = path
        rows = read_results(path) if path.is_file() else []
        self.rows = [r for r in rows if int(r["epoch"]) <= keep_epochs]
        self._write()

    def add(self, row: dict) -> None:
        self.rows.append({c: row.get(c, "") for c in COLUMNS})
        self._write()

    def _write(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({c: _fmt(row.get(c, "")) for c in COLUMNS})


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def read_results(path: Path) -> list[dict]:
    with Path(path).open(newline="") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
                for row in csv.DictReader(f)]


def plot_results(csv_path: Path, out: Path | None = None) -> Path:
    """One small plot per column (losses, metrics, lrs) against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_results(csv_path)
    out = out or csv_path.with_suffix(".png")
    columns = [c for c in COLUMNS[1:-1] if c != "fitness"]
    fig, axes = plt.subplots(3, 6, figsize=(18, 8), tight_layout=True)
    epochs = [r["epoch"] for r in rows]
    for ax, column in zip(axes.flat, columns):
        values = [r.get(column) for r in rows]
        points = [(e, v) for e, v in zip(epochs, values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker=".", linewidth=1.5)
        ax.set_title(column, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
