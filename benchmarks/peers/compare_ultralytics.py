"""poseexport next to Ultralytics, cell by cell: export time, latency and mAP, ours / theirs.

Runs in poseexport's environment; drives the throw-away Ultralytics env (built by
benchmarks/peers/setup_ultralytics_env.sh, described in /work/peers/READY) through
subprocesses running benchmarks/peers/ultralytics_cells.py. Ultralytics is never imported here.

    python benchmarks/peers/compare_ultralytics.py --out runs/peers                 # every cell
    python benchmarks/peers/compare_ultralytics.py --cells onnx:int8,openvino:fp32 --out runs/peers

How each figure is taken, the same way on both sides:
- export_s: wall time of one fresh process that loads yolo11n-pose.pt and writes the artifact
  (ours: `poseexport convert ... --no-validate`, i.e. without our PyTorch parity check;
  theirs: `YOLO(pt).export(...)`). Interpreter start and imports are included on both sides.
  INT8 calibrates on the same 211 images of calib-people on both sides (fraction 1.0: ours
  reads the folder, theirs a generated yaml whose val split is a mirror of that folder).
- latency: the runtime call alone (tensor in, raw (1, 56, 8400) out), on the same letterboxed
  bus.jpg tensor (640x640, made once by poseexport's preprocess), median and p90 of --runs
  calls (fewer once they add up to --max-seconds) after --warmup calls, in a fresh process
  per side and thread count, with the thread count set explicitly on both sides
  (torch.set_num_threads / ORT intra_op_num_threads / OpenVINO INFERENCE_NUM_THREADS),
  PERFORMANCE_HINT=LATENCY for OpenVINO on both sides.
  OpenVINO precision hint: ours f32 (poseexport's default: the validated model); theirs
  measured twice, f32 (the ratio) and with the runtime default as Ultralytics ships it
  (bf16 on CPUs with AVX512_BF16/AMX, such as this one), reported as theirs_default_hint.
- mAP: YOLO-style box and pose mAP50-95 on coco-val-pose (36 images), square 640 letterbox,
  conf 0.001, iou 0.7, batch 1. Ours: `poseexport val --model ARTIFACT`; theirs:
  `YOLO(artifact).val(...)` (OpenVINO then runs at the runtime's default hint, bf16 here).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from poseexport.paths import shared_data_dir

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peer_data import mirror_dataset

ALL_CELLS = ["torchscript:fp32", "torchscript:fp16", "onnx:fp32", "onnx:fp16", "onnx:int8",
             "openvino:fp32", "openvino:fp16", "openvino:int8"]
# Ultralytics 8.4 refuses these on a CPU (its own error text is kept in the row when it runs).
THEIRS_UNSUPPORTED = {"torchscript:fp16": "Ultralytics exports FP16 TorchScript only on a GPU (device=0)"}
MIN_RUNS = 5  # a latency figure stops after --runs calls, or after --max-seconds once it has this many
PEER_ENV = {"YOLO_CONFIG_DIR": "/work/peers/ultralytics-config", "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}


def run(cmd: list[str], log: Path, timeout: float, env: dict | None = None) -> tuple[bool, float, str]:
    """Run one step in its own process; (ok, wall seconds, tail of its output)."""
    start = time.perf_counter()
    with log.open("w") as f:
        try:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                  env={**os.environ, **(env or {})})
            ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
            f.write(f"\n[timed out after {timeout:.0f}s]\n")
    wall = time.perf_counter() - start
    tail = "" if ok else log.read_text()[-1500:]
    return ok, wall, tail


def size_mb(path: Path) -> float:
    """The model files only: not metadata sidecars, our golden test vectors, or their copied .pt."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files if f.suffix not in {".pt", ".json", ".yaml", ".npz"}) / 1e6


# ---------------------------------------------------------------- ours (poseexport env) ---

def ours_latency(args: argparse.Namespace) -> None:
    """Internal step: time poseexport's Runner.forward in this fresh process (one thread count)."""
    import poseexport

    x = np.load(args.input)
    with poseexport.load(args.artifact, threads=args.threads) as runner:
        for _ in range(args.warmup):
            runner.forward(x)
        times: list[float] = []
        while len(times) < args.runs and (len(times) < MIN_RUNS or sum(times) < args.max_seconds * 1000):
            start = time.perf_counter()
            runner.forward(x)
            times.append((time.perf_counter() - start) * 1000)
        hint = getattr(runner, "inference_precision", None)
    runtime = {"torchscript": "torch.jit", "onnx": "onnxruntime CPU"}.get(
        runner.metadata.format, f"openvino CPU, INFERENCE_PRECISION_HINT={hint}")
    Path(args.json).write_text(json.dumps({"p50_ms": statistics.median(times), "runs": len(times),
                                           "p90_ms": float(np.percentile(times, 90)), "runtime": runtime}))


def ours_cell(fmt: str, prec: str, args, cell_dir: Path, image: Path) -> dict:
    art = cell_dir / "ours" / f"{fmt}_{prec}"
    shutil.rmtree(art, ignore_errors=True)
    cmd = ["poseexport", "convert", "--model", args.model, "--format", fmt, "--imgsz", str(args.imgsz),
           "--out", str(art), "--no-validate"]
    cmd += {"fp32": [], "fp16": ["--half"], "int8": ["--int8", "--data", args.calib]}[prec]
    ok, wall, tail = run(cmd, cell_dir / "ours_export.log", args.timeout)
    if not ok:
        return {"status": "export failed", "error": tail}
    row: dict = {"status": "ok", "artifact": str(art), "export_s": wall, "size_mb": size_mb(art), "latency": {}}
    for t in args.thread_list:
        out = cell_dir / f"ours_latency_{t}.json"
        cmd = [sys.executable, __file__, "_ours_latency", "--artifact", str(art), "--input", str(image),
               "--threads", str(t), "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--max-seconds", str(args.max_seconds), "--json", str(out)]
        ok, _, tail = run(cmd, cell_dir / f"ours_latency_{t}.log", args.timeout)
        row["latency"][str(t)] = json.loads(out.read_text()) if ok else {"error": tail}
    if not args.no_val:
        out = cell_dir / "ours_val.json"
        ok, wall, tail = run(["poseexport", "val", "--model", str(art), "--data", args.data, "--batch", "1",
                              "--conf", "0.001", "--iou", "0.7", "--quiet", "--report", str(out)],
                             cell_dir / "ours_val.log", args.timeout)
        if ok:
            rep = json.loads(out.read_text())
            row.update(pose_map50_95=rep["pose"]["map50-95"], box_map50_95=rep["box"]["map50-95"], val_s=wall)
        else:
            row["val_error"] = tail
    return row


# ------------------------------------------------------------- theirs (peer env) ---

def theirs_cell(fmt: str, prec: str, args, cell_dir: Path, image: Path, yamls: dict) -> dict:
    if f"{fmt}:{prec}" in THEIRS_UNSUPPORTED:
        return {"status": "unsupported", "error": THEIRS_UNSUPPORTED[f"{fmt}:{prec}"]}
    cells = str(HERE / "ultralytics_cells.py")
    py = args.peer_python
    out = cell_dir / "theirs_export.json"
    cmd = [py, cells, "export", "--weights", args.model, "--format", fmt, "--precision", prec,
           "--imgsz", str(args.imgsz), "--out", str(cell_dir / "theirs"), "--json", str(out)]
    if prec == "int8":
        cmd += ["--data", str(yamls["calib"]), "--fraction", "1.0"]
    ok, wall, tail = run(cmd, cell_dir / "theirs_export.log", args.timeout, PEER_ENV)
    if not ok or not out.exists():
        return {"status": "export failed", "error": tail}
    exp = json.loads(out.read_text())
    art = Path(exp["artifact"])
    row: dict = {"status": "ok", "artifact": str(art), "export_s": wall, "export_in_process_s": exp["export_s"],
                 "size_mb": size_mb(art), "latency": {}}
    hints = [("latency", "f32"), ("latency_default_hint", None)] if fmt == "openvino" else [("latency", None)]
    for key, hint in hints:
        row[key] = {}
        for t in args.thread_list:  # one fresh process per thread count, as on our side
            out = cell_dir / f"theirs_{key}_{t}.json"
            cmd = [py, cells, "latency", "--artifact", str(art), "--input", str(image), "--threads", str(t),
                   "--runs", str(args.runs), "--warmup", str(args.warmup), "--max-seconds", str(args.max_seconds),
                   "--json", str(out)]
            ok, _, tail = run(cmd + (["--hint", hint] if hint else []), cell_dir / f"theirs_{key}_{t}.log",
                              args.timeout, PEER_ENV)
            row[key][str(t)] = json.loads(out.read_text())[str(t)] if ok else {"error": tail}
    if not args.no_val:
        out = cell_dir / "theirs_val.json"
        ok, wall, tail = run([py, cells, "val", "--artifact", str(art), "--data", str(yamls["val"]),
                              "--imgsz", str(args.imgsz), "--out", str(cell_dir / "theirs"), "--json", str(out)],
                             cell_dir / "theirs_val.log", args.timeout, PEER_ENV)
        if ok:
            row.update({k: v for k, v in json.loads(out.read_text()).items() if k in
                        ("pose_map50_95", "box_map50_95", "val_s")})
        else:
            row["val_error"] = tail
    return row


# ------------------------------------------------------------------------ report ---

def ratio(a, b) -> float | None:
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def ratios(ours: dict, theirs: dict, threads: list[int]) -> dict:
    r = {"export_s": ratio(ours.get("export_s"), theirs.get("export_s"))}
    for t in threads:
        r[f"latency_p50_{t}t"] = ratio(ours.get("latency", {}).get(str(t), {}).get("p50_ms"),
                                       theirs.get("latency", {}).get(str(t), {}).get("p50_ms"))
    for k in ("pose_map50_95", "box_map50_95"):
        r[k] = ratio(ours.get(k), theirs.get(k))
    return r


def fmt_num(v, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def p50(side: dict, threads: int, key: str = "latency") -> float | None:
    return side.get(key, {}).get(str(threads), {}).get("p50_ms")


def pair(ours: dict, theirs: dict, key: str, spec: str) -> str:
    return f"{fmt_num(ours.get(key), spec)} / {fmt_num(theirs.get(key), spec)}"


def markdown(report: dict) -> str:
    threads = report["settings"]["threads"]
    title = (f"# poseexport vs Ultralytics {report['versions'].get('ultralytics', '?')}: "
             f"yolo11n-pose at {report['settings']['imgsz']}")
    legend = ("Ratios are ours / theirs: below 1 means poseexport is faster (export, latency); "
              "above 1 means poseexport is more accurate (mAP50-95). The two val implementations differ "
              "by an offset on identical fp32 outputs (see the fp32 rows), so for what a precision "
              "costs, compare each side's drop from its own fp32 row.")
    lines = [title, "", f"Measured {report['when']} on {report['host']}. {report['note']}", "", legend, "",
             "| cell | export | " + " | ".join(f"latency {t}t" for t in threads) + " | pose mAP | box mAP |",
             "|---" * (4 + len(threads)) + "|"]
    for c in report["cells"]:
        r = c["ratio"]
        vals = [r["export_s"], *[r[f"latency_p50_{t}t"] for t in threads], r["pose_map50_95"], r["box_map50_95"]]
        lines.append(f"| {c['cell']} | " + " | ".join(fmt_num(v) for v in vals) + " |")
    lines += ["", "## Raw figures, ours / theirs", "",
              "| cell | export s | " + " | ".join(f"p50 ms {t}t" for t in threads)
              + " | pose mAP50-95 | box mAP50-95 | size MB | status |",
              "|---" * (6 + len(threads)) + "|"]
    for c in report["cells"]:
        o, t_ = c["ours"], c["theirs"]
        lat = [f"{fmt_num(p50(o, t), '.1f')} / {fmt_num(p50(t_, t), '.1f')}" for t in threads]
        status = o["status"] if o["status"] == t_["status"] else f"ours {o['status']}, theirs {t_['status']}"
        lines.append(" | ".join([f"| {c['cell']}", pair(o, t_, "export_s", ".1f"), *lat,
                                 pair(o, t_, "pose_map50_95", ".4f"), pair(o, t_, "box_map50_95", ".4f"),
                                 pair(o, t_, "size_mb", ".1f"), status]) + " |")
    ov = [c for c in report["cells"] if "latency_default_hint" in c["theirs"]]
    if ov:
        runtime = ov[0]["theirs"]["latency_default_hint"].get(str(threads[0]), {}).get("runtime", "?")
        lines += ["", f"OpenVINO as Ultralytics ships it (runtime default precision hint: {runtime}):", ""]
        for c in ov:
            theirs = ", ".join(f"{fmt_num(p50(c['theirs'], t, 'latency_default_hint'), '.1f')} ms ({t}t)"
                               for t in threads)
            ratio_ = ", ".join(f"{fmt_num(ratio(p50(c['ours'], t), p50(c['theirs'], t, 'latency_default_hint')))}"
                               f" ({t}t)" for t in threads)
            lines.append(f"- {c['cell']}: theirs p50 {theirs}; ours (f32) / theirs (default hint) {ratio_}")
    errors = [(c["cell"], side, c[side][key]) for c in report["cells"] for side in ("ours", "theirs")
              for key in ("error", "val_error") if c[side].get(key)]
    errors += [(c["cell"], f"{side} {key} {t}t", v["error"]) for c in report["cells"] for side in ("ours", "theirs")
               for key in ("latency", "latency_default_hint") for t, v in c[side].get(key, {}).items()
               if "error" in v]
    if errors:
        lines += ["", "## Not measured", ""]
        lines += [f"- {cell} {side}: {err.strip().splitlines()[-1] if err.strip() else '?'}"
                  for cell, side, err in errors]
    lines += ["", "How each figure is taken: `python benchmarks/peers/compare_ultralytics.py --help`.", ""]
    return "\n".join(lines)


def versions(peer_python: str) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "['ultralytics', 'torch', 'onnx', 'onnxruntime', 'onnxslim', 'openvino', 'nncf']}))")
    theirs = json.loads(subprocess.run([peer_python, "-c", code], capture_output=True, text=True, check=True,
                                       env={**os.environ, **PEER_ENV}).stdout)
    import importlib.metadata as m

    ours = {p: m.version(p) for p in ["poseexport", "torch", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf"]}
    return {"ultralytics": theirs["ultralytics"], "ours": ours, "theirs": theirs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    data = shared_data_dir()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="all", help=f"comma-separated fmt:precision, or all ({','.join(ALL_CELLS)})")
    p.add_argument("--model", default=str(data / "weights" / "yolo11n-pose.pt"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--data", default=str(data / "coco-val-pose" / "coco-val-pose.yaml"), help="val dataset yaml")
    p.add_argument("--calib", default=str(data / "calib-people"), help="INT8 calibration image folder")
    p.add_argument("--image", default=str(data / "images" / "bus.jpg"), help="latency input image")
    p.add_argument("--threads", default="1,2", help="thread counts for latency (both sides)")
    p.add_argument("--runs", type=int, default=30, help="timed calls per latency figure (median reported)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="stop a latency figure early once its timed calls add up to this (at least 5 calls)")
    p.add_argument("--no-val", action="store_true", help="skip the mAP columns")
    p.add_argument("--peer-python", default="/work/peers/ultralytics-venv/bin/python")
    p.add_argument("--timeout", type=float, default=900, help="seconds per step (export, latency, val)")
    p.add_argument("--note", default="", help="a line for the report (e.g. 'busy machine, indicative')")
    p.add_argument("--out", default="runs/peers")
    args = p.parse_args(argv)
    args.cell_list = ALL_CELLS if args.cells == "all" else [c.strip() for c in args.cells.split(",") if c.strip()]
    bad = [c for c in args.cell_list if c.count(":") != 1 or c.split(":")[1] not in ("fp32", "fp16", "int8")
           or c.split(":")[0] not in ("torchscript", "onnx", "openvino")]
    if bad:
        p.error(f"unknown cell(s) {bad}: use fmt:precision with fmt in torchscript,onnx,openvino and "
                "precision in fp32,fp16,int8")
    args.thread_list = [int(t) for t in args.threads.split(",")]
    if not Path(args.peer_python).exists():
        p.error(f"no peer python at {args.peer_python}: build it with "
                "bash benchmarks/peers/setup_ultralytics_env.sh /work/peers/ultralytics-venv")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ours_latency":
        p = argparse.ArgumentParser()
        for name in ("--artifact", "--input", "--json"):
            p.add_argument(name, required=True)
        for name in ("--threads", "--runs", "--warmup"):
            p.add_argument(name, type=int, required=True)
        p.add_argument("--max-seconds", type=float, default=60.0)
        return ours_latency(p.parse_args(sys.argv[2:]))
    args = parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from poseexport.predict import preprocess, read_image

    x, _ = preprocess([read_image(Path(args.image))], (args.imgsz, args.imgsz), stride=32)
    image = out / "input.npy"
    np.save(image, np.ascontiguousarray(x, dtype=np.float32))
    yamls = {"val": mirror_dataset(args.data, out / "peer-data" / "val"),
             "calib": mirror_dataset(args.calib, out / "peer-data" / "calib")}
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "host": f"{platform.node()}, {os.cpu_count()} CPUs, "
              f"{platform.processor() or platform.machine()}", "note": args.note, "versions": versions(args.peer_python),
              "settings": {"imgsz": args.imgsz, "threads": args.thread_list, "runs": args.runs,
                           "warmup": args.warmup, "data": args.data, "calib": args.calib, "image": args.image,
                           "model": args.model}, "cells": []}
    from tqdm import tqdm

    for cell in tqdm(args.cell_list, desc="peer cells", unit="cell"):
        fmt, prec = cell.split(":")
        cell_dir = out / "cells" / f"{fmt}_{prec}"
        cell_dir.mkdir(parents=True, exist_ok=True)
        ours = ours_cell(fmt, prec, args, cell_dir, image)
        theirs = theirs_cell(fmt, prec, args, cell_dir, image, yamls)
        report["cells"].append({"cell": cell, "ours": ours, "theirs": theirs,
                                "ratio": ratios(ours, theirs, args.thread_list)})
        (out / "peers.json").write_text(json.dumps(report, indent=2))  # partial results survive a crash
        (out / "peers.md").write_text(markdown(report))
    print((out / "peers.md").read_text())


if __name__ == "__main__":
    main()
