"""The five outputs of a benchmark run: results.json, results.csv, results.md, junit.xml, results.png."""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from . import spec as S
from .matrix import best_latency


def write_all(results: dict, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_json(results, out / "results.json"), write_csv(results, out / "results.csv"),
             write_markdown(results, out / "results.md"), write_junit(results, out / "junit.xml"),
             write_plot(results, out / "results.png")]
    return paths


def write_json(results: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    return path


def latency_keys(rows: list[dict]) -> list[tuple[int, int]]:
    return sorted({(e["batch"], e["threads"]) for r in rows for e in r.get("latency") or []})


def flat_row(row: dict, keys: list[tuple[int, int]]) -> dict:
    """One CSV line: every scalar figure of a cell."""
    parity = row.get("parity") or {}
    stats = parity.get("stats", {})
    val, delta = row.get("val") or {}, row.get("delta") or {}
    flat = {"cell": row["cell"], "format": row["format"], "precision": row["precision"],
            "host": row.get("host"), "status": row["status"], "export_s": row.get("export_s"),
            "load_s": row.get("load_s"), "first_infer_ms": row.get("first_infer_ms"),
            "size_mb": row.get("size_mb"), "peak_rss_mb": row.get("peak_rss_mb"),
            "parity_passed": parity.get("passed"), "box_px_max": stats.get("box_max"),
            "kpt_px_max": stats.get("kpt_xy_max"), "matched_kpt_px_mean": stats.get("kpt_px_mean"),
            "match_ratio": stats.get("match_ratio"), "golden_passed": (row.get("golden") or {}).get("passed"),
            "pose_map50-95": val.get("pose_map50-95"), "pose_map50": val.get("pose_map50"),
            "box_map50-95": val.get("box_map50-95"), "delta_pose_map50-95": delta.get("pose_map50-95"),
            "delta_box_map50-95": delta.get("box_map50-95")}
    entries = {(e["batch"], e["threads"]): e for e in row.get("latency") or []}
    for batch, threads in keys:
        e = entries.get((batch, threads), {})
        for name in ("p50_ms", "p90_ms", "p99_ms", "fps", "runs"):
            flat[f"{name}_b{batch}_t{threads}"] = e.get(name)
    flat["wall_s"] = row.get("wall_s")
    flat["regressions"] = "; ".join(r["what"] for r in row.get("regressions") or [])
    flat["error"] = (row.get("error") or "").strip().splitlines()[0] if row.get("error") else ""
    return flat


def write_csv(results: dict, path: Path) -> Path:
    keys = latency_keys(results["rows"])
    lines = [flat_row(r, keys) for r in results["rows"]]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(lines[0]) if lines else ["cell"])
        writer.writeheader()
        writer.writerows(lines)
    return path


def _num(value, fmt: str = ".1f", empty: str = "–") -> str:
    return empty if value is None else format(value, fmt)


def write_markdown(results: dict, path: Path) -> Path:
    rows, opts = results["rows"], results["options"]
    keys = latency_keys(rows)
    threads = sorted({t for _, t in keys})
    batches = sorted({b for b, _ in keys})
    many_hosts = len({r.get("host") for r in rows}) > 1
    hosts = results.get("hosts") or [results.get("host", {})]
    lines = [f"# Benchmark: {opts['model']} at {opts['imgsz'][0]}x{opts['imgsz'][1]}", ""]
    lines += [f"- host: {h.get('label')} ({h.get('hostname')}) — {h.get('cpu')}, {h.get('cores')} cores, "
              f"{h.get('memory_gb')} GB" + (f", GPU {', '.join(h['gpu'])}" if h.get("gpu") else "") for h in hosts]
    lines += [f"- data: {opts.get('data') or 'none (no mAP)'}; int8 calibration: {opts.get('calib') or 'none'}",
              "- toolchain: " + ", ".join(f"{k} {v}" for k, v in results.get("toolchain", {}).items()),
              f"- created {results.get('created')}; wall time {_num(results.get('wall_s'), '.0f')} s"
              + (" (merged: the sum of the runs)" if results.get("merged_from") else ""),
              f"- command: `{' '.join(results.get('command') or [])}`"]
    lines += [f"  - run: `{' '.join(c)}`" for c in results.get("run_commands") or []] + [""]
    lat_cols = [f"p50 ms b{b} {t}t" for b in batches for t in threads]
    head = (["cell"] + (["host"] if many_hosts else []) + ["status", "export s", "load s", "size MB",
            "kpt err px (max / matched)", "pose mAP50-95 (Δ)", "box mAP50-95"] + lat_cols +
            [f"p99 ms b1 {max(threads)}t" if threads else "p99 ms", "FPS", "peak MB"])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for row in rows:
        parity = (row.get("parity") or {}).get("stats", {})
        val, delta = row.get("val") or {}, row.get("delta") or {}
        entries = {(e["batch"], e["threads"]): e for e in row.get("latency") or []}
        best = best_latency(row)
        pose = _num(val.get("pose_map50-95"), ".4f")
        if delta.get("pose_map50-95") is not None:
            pose += f" ({delta['pose_map50-95']:+.4f})"
        kpt = "–" if not parity else f"{_num(parity.get('kpt_xy_max'), '.3g')} / {_num(parity.get('kpt_px_mean'), '.3g')}"
        status = row["status"] + (" ⚠" if row.get("regressions") else "")
        cells = ([row["cell"]] + ([row.get("host") or ""] if many_hosts else []) +
                 [status, _num(row.get("export_s")), _num(row.get("load_s"), ".2f"), _num(row.get("size_mb")), kpt,
                  pose, _num(val.get("box_map50-95"), ".4f")])
        for b in batches:
            for t in threads:
                e = entries.get((b, t))
                cells.append("–" if not e else f"{e['p50_ms']:.1f}" + ("*" if e.get("capped") else ""))
        cells += [_num(best and best["p99_ms"]), _num(best and best["fps"]), _num(row.get("peak_rss_mb"), ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
        if row["status"] != S.OK and row.get("error"):
            notes.append(f"- **{row['cell']}** ({row['status']}): {row['error'].strip().splitlines()[0][:300]}")
        for reg in row.get("regressions") or []:
            notes.append(f"- **{row['cell']}** regression ({reg['kind']}): {reg['what']}")
    lines += ["", "`*` latency capped by its time budget: fewer runs than asked (see results.json `runs`).",
              ("Δ: difference from the PyTorch row of the same run. kpt err: raw keypoint max error on relevant "
               "anchors / mean error of matched persons, letterboxed pixels, vs PyTorch on real images.")]
    if notes:
        lines += ["", "## Notes", ""] + notes
    path.write_text("\n".join(lines) + "\n")
    return path


def write_junit(results: dict, path: Path) -> Path:
    """One testcase per cell: unsupported -> skipped, parity/accuracy/regression -> failure,
    export/load failed, crashed, timed out, out of memory -> error."""
    rows = results["rows"]
    suite = ET.Element("testsuite", name="poseexport-benchmark", tests=str(len(rows)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=f"benchmark.{row['format']}",
                             name=f"{row['cell']}" + (f"@{row['host']}" if row.get("host") else ""),
                             time=f"{row.get('wall_s') or 0:.3f}")
        total += row.get("wall_s") or 0
        error = (row.get("error") or "").strip()
        status = row["status"]
        if status == S.UNSUPPORTED:
            ET.SubElement(case, "skipped", message=error.splitlines()[0][:500] if error else "unsupported")
            counts["skipped"] += 1
        elif status in S.ERROR_STATUSES:
            ET.SubElement(case, "error", message=status, type=status).text = error
            counts["errors"] += 1
        elif status != S.OK or row.get("regressions"):
            text = "\n".join([error] + [r["what"] for r in row.get("regressions") or []]).strip()
            ET.SubElement(case, "failure", message=status if status != S.OK else "regression", type=status).text = text
            counts["failures"] += 1
        ET.SubElement(case, "system-out").text = json.dumps(flat_row(row, latency_keys([row])), default=str)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_plot(results: dict, path: Path) -> Path:
    """Latency (all cores, batch 1, p50) against pose mAP50-95, one point per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"fp32": "o", "fp16": "s", "bf16": "D", "int8": "^"}
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    formats = sorted({r["format"] for r in results["rows"]})
    palette = [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 4, 5, 6, 7, 8, 9)]  # red marks cells not ok
    colours = {f: palette[i % len(palette)] for i, f in enumerate(formats)}
    plotted = 0
    for row in results["rows"]:
        lat, val = best_latency(row), row.get("val")
        if not lat or not val:
            continue
        ref = row["format"] == S.REFERENCE_FORMAT
        ax.scatter(lat["p50_ms"], val["pose_map50-95"], s=140 if ref else 70, c=[colours[row["format"]]],
                   marker="*" if ref else markers.get(row["precision"], "o"),
                   edgecolors="red" if row["status"] != S.OK else "black",
                   linewidths=2.5 if row["status"] != S.OK else 1)
        ax.annotate(row["cell"], (lat["p50_ms"], val["pose_map50-95"]), textcoords="offset points",
                    xytext=(6, 4 - 9 * (plotted % 3)), fontsize=7)  # staggered: close points stay legible
        plotted += 1
    if not plotted:
        ax.text(0.5, 0.5, "no cell has both latency and mAP", ha="center", va="center", transform=ax.transAxes)
    opts = results["options"]
    host = results.get("host", {})
    ax.set_xscale("log")  # fp16 on a CPU can be 100x slower than the rest
    ax.set_xlabel(f"latency p50, batch 1, all cores (ms, log scale) — {host.get('cpu', '')}")
    ax.set_ylabel("pose mAP50-95")
    ax.set_title(f"{opts['model']} {opts['imgsz'][0]}px: latency vs accuracy (star: PyTorch; red edge: not ok)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
