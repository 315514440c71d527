"""PR-curve plots (precision vs recall at IoU / OKS 0.5), drawn with matplotlib if installed."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..metrics.ap import RECALL_POINTS
from ..metrics.pose_metrics import TaskMetrics


def save_pr_curves(box: TaskMetrics, pose: TaskMetrics, names: Mapping[int, str], save_dir: Path
                   ) -> tuple[list[Path], str | None]:
    """Write box_pr_curve.png and pose_pr_curve.png; returns (paths, note if skipped)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return [], "PR-curve plots skipped: matplotlib is not installed (pip install matplotlib)"
    save_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for metrics, label in ((box, "IoU"), (pose, "OKS")):
        fig = Figure(figsize=(6, 5), dpi=120)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        curves, present = metrics.result.pr_curve, metrics.result.present
        for c in np.flatnonzero(present):
            if present.sum() <= 20:  # a legend entry per class only while readable
                ax.plot(RECALL_POINTS, curves[c], lw=1,
                        label=f"{names.get(int(c), c)} {metrics.ap50[c]:.3f}")
        if present.any():
            ax.plot(RECALL_POINTS, curves[present].mean(0), lw=2.5, color="black",
                    label=f"all classes {metrics.map50:.3f} mAP@0.5")
        ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01),
               title=f"{metrics.kind} precision-recall ({label} 0.5)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
        path = save_dir / f"{metrics.kind}_pr_curve.png"
        fig.savefig(path)
        paths.append(path)
    return paths, None
