"""poseexport next to Ultralytics, cell by cell: export time, latency and mAP, ours / theirs.

Runs in poseexport's environment; drives the throw-away Ultralytics env (built by
benchmarks/peers/setup_ultralytics_env.sh, described in /work/peers/READY) through
subprocesses running benchmarks/peers/ultralytics_cells.py. Ultralytics is never imported here.

    python benchmarks/peers/compare_ultralytics.py --out runs/peers                 # every cell
    python benchmarks/peers/compare_ultralytics.py --cells onnx:int8,openvino:fp32 --out runs/peers
    python benchmarks/peers/compare_ultralytics.py --cells tf --out runs/peers-tf      # the TF family
    python benchmarks/peers/compare_ultralytics.py merge OURS/peers.json THEIRS/peers.json --out runs/peers-both

Cells (benchmarks/peers/peer_cells.py): fmt:precision, tflite:int8:KIND for our three int8 TFLite
kinds (dynamic-range, full-integer, full-integer-io) with the format's default decode (host for
the full-integer kinds), tflite:int8:KIND:DECODE to pass --decode, or the groups all, core, tf. Theirs for
tflite is Ultralytics' `litert` export (its `tflite` is an alias of it since 8.4.83): fp32,
quantize=8 (static int8, float I/O) beside our full-integer kinds, quantize='w8a32' beside our
dynamic-range; it writes no fp16 LiteRT. saved_model / pb: Ultralytics' onnx2tf route, run with
the onnx2tf calibration sample written from calib-people into its working directory (no download).
A format poseexport does not have on this checkout is reported "not available" with the reason.

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
  TFLite on both sides: ai-edge-litert's Interpreter (XNNPACK) with num_threads; theirs
  SavedModel: TensorFlow with intra-op threads set.
- mAP: YOLO-style box and pose mAP50-95 on coco-val-pose (36 images), square 640 letterbox,
  conf 0.001, iou 0.7, batch 1. Ours: `poseexport val --model ARTIFACT`; theirs:
  `YOLO(artifact).val(...)` (OpenVINO then runs at the runtime's default hint, bf16 here).
  Each side's own fp32 PyTorch model is measured the same way (the `reference` block), so a
  cell's drop is read against its own side's PyTorch.
- persons: predict as a user runs it (conf 0.25, iou 0.7, 640) on the reference images
  (poseexport/reference_images + bus.jpg + zidane.jpg), each side's persons matched one-to-one
  (IoU >= 0.5, by score) to its own fp32 PyTorch model's: found / missed / invented
  (benchmarks/peers/persons_match.py).
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
from peer_cells import (
    GROUPS,
    THEIRS_NOTES,
    THEIRS_UNSUPPORTED,
    Cell,
    parse_cell,
    parse_cells,
)
from peer_data import mirror_dataset
from persons_match import match_persons, summary

MIN_RUNS = 5  # a latency figure stops after --runs calls, or after --max-seconds once it has this many
PEER_ENV = {"YOLO_CONFIG_DIR": "/work/peers/ultralytics-config", "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False",
            "PIP_NO_INDEX": "1"}  # Ultralytics never installs or downloads here


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
    fmt = runner.metadata.format
    runtime = {"torchscript": "torch.jit", "onnx": "onnxruntime CPU",
               "openvino": f"openvino CPU, INFERENCE_PRECISION_HINT={hint}"}.get(fmt, f"poseexport {fmt} runner")
    Path(args.json).write_text(json.dumps({"p50_ms": statistics.median(times), "runs": len(times),
                                           "p90_ms": float(np.percentile(times, 90)), "runtime": runtime}))


def ours_persons(args: argparse.Namespace) -> None:
    """Internal step: the persons poseexport's predict finds (conf as a user runs it), per image."""
    from poseexport import PoseModel

    model = PoseModel(args.artifact)
    found = {}
    for image in args.images:
        r = model.predict(image, imgsz=args.imgsz, conf=args.conf, iou=0.7)[0]
        found[Path(image).name] = {"xyxy": np.asarray(r.boxes.xyxy).round(2).tolist(),
                                   "conf": np.asarray(r.boxes.conf).round(4).tolist()}
    Path(args.json).write_text(json.dumps({"conf": args.conf, "imgsz": args.imgsz, "images": found}))


def ours_unavailable(fmt: str) -> str:
    """Why poseexport cannot export `fmt` on this checkout and machine ("" if it can)."""
    from poseexport.contract.registry import get_backend, registered

    if fmt not in registered():
        return (f"poseexport has no '{fmt}' format on this checkout (formats: {', '.join(registered())}); "
                "its TF-family backends land with issue 12")
    available = get_backend(fmt).availability()
    return "" if available else available.reason


def ours_step_cmd(step: str, **kw) -> list[str]:
    cmd = [sys.executable, __file__, step]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", *(map(str, v) if isinstance(v, list) else [str(v)])]
    return cmd


def ours_persons_of(artifact: str, args, cell_dir: Path, reference: dict | None) -> dict:
    out = cell_dir / "ours_persons.json"
    ok, _, tail = run(ours_step_cmd("_ours_persons", artifact=artifact, images=args.image_list, conf=args.conf,
                                    imgsz=args.imgsz, json=out), cell_dir / "ours_persons.log", args.timeout)
    if not ok:
        return {"error": tail}
    got = json.loads(out.read_text())["images"]
    return match_persons(reference, got) if reference else {"images": got}


def ours_cell(cell: Cell, args, cell_dir: Path, image: Path, reference: dict) -> dict:
    why = ours_unavailable(cell.fmt)
    if why:
        return {"status": "not available", "error": why}
    art = cell_dir / "ours" / cell.dir_name
    shutil.rmtree(art, ignore_errors=True)
    cmd = ["poseexport", "convert", "--model", args.model, "--format", cell.fmt, "--imgsz", str(args.imgsz),
           "--out", str(art), "--no-validate", *cell.ours_convert_args(args.calib)]
    ok, wall, tail = run(cmd, cell_dir / "ours_export.log", args.timeout)
    if not ok:
        return {"status": "export failed", "error": tail}
    row: dict = {"status": "ok", "artifact": str(art), "export_s": wall, "size_mb": size_mb(art), "latency": {}}
    for t in args.thread_list:
        out = cell_dir / f"ours_latency_{t}.json"
        cmd = ours_step_cmd("_ours_latency", artifact=art, input=image, threads=t, runs=args.runs,
                            warmup=args.warmup, max_seconds=args.max_seconds, json=out)
        ok, _, tail = run(cmd, cell_dir / f"ours_latency_{t}.log", args.timeout)
        row["latency"][str(t)] = json.loads(out.read_text()) if ok else {"error": tail}
    if not args.no_val:
        row.update(ours_val(str(art), args, cell_dir))
    if not args.no_persons:
        row["persons"] = ours_persons_of(str(art), args, cell_dir, reference.get("persons_images"))
    return row


def ours_val(model: str, args, cell_dir: Path) -> dict:
    out = cell_dir / "ours_val.json"
    ok, wall, tail = run(["poseexport", "val", "--model", model, "--data", args.data, "--batch", "1",
                          "--conf", "0.001", "--iou", "0.7", "--quiet", "--report", str(out)],
                         cell_dir / "ours_val.log", args.timeout)
    if not ok:
        return {"val_error": tail}
    rep = json.loads(out.read_text())
    return {"pose_map50_95": rep["pose"]["map50-95"], "box_map50_95": rep["box"]["map50-95"], "val_s": wall}


def reference_row(args, val, persons_of) -> dict:
    """One side's fp32 PyTorch model, measured like a cell: mAP (`val()`) and the persons every
    cell of that side is matched to (`persons_of()`)."""
    ref: dict = {"model": args.model}
    if not args.no_val:
        ref.update(val())
    if not args.no_persons:
        got = persons_of()
        ref["persons_images"] = got.get("images")
        ref["persons"] = {"predicted": sum(len(v["xyxy"]) for v in got["images"].values()),
                          "per_image": {k: len(v["xyxy"]) for k, v in got["images"].items()}} \
            if "images" in got else got
    return ref


def ours_reference(args, ref_dir: Path) -> dict:
    """Our fp32 PyTorch model."""
    return reference_row(args, lambda: ours_val(args.model, args, ref_dir),
                         lambda: ours_persons_of(args.model, args, ref_dir, None))


# ------------------------------------------------------------- theirs (peer env) ---

def theirs_step(args, step: str, cell_dir: Path, name: str, *extra: str) -> tuple[dict | None, float, str]:
    """One ultralytics_cells.py step in the peer env -> (its JSON or None, wall seconds, output tail)."""
    out = cell_dir / f"theirs_{name}.json"
    out.unlink(missing_ok=True)
    cmd = [args.peer_python, str(HERE / "ultralytics_cells.py"), step, *extra, "--json", str(out)]
    ok, wall, tail = run(cmd, cell_dir / f"theirs_{name}.log", args.timeout, PEER_ENV)
    return (json.loads(out.read_text()) if ok and out.exists() else None), wall, tail


def theirs_persons_of(artifact: str, args, cell_dir: Path, reference: dict | None) -> dict:
    got, _, tail = theirs_step(args, "persons", cell_dir, "persons", "--artifact", artifact, "--images",
                               *args.image_list, "--conf", str(args.conf), "--imgsz", str(args.imgsz))
    if got is None:
        return {"error": tail}
    return match_persons(reference, got["images"]) if reference else {"images": got["images"]}


def theirs_val(artifact: str, args, cell_dir: Path, yamls: dict) -> dict:
    got, _, tail = theirs_step(args, "val", cell_dir, "val", "--artifact", artifact, "--data", str(yamls["val"]),
                               "--imgsz", str(args.imgsz), "--out", str(cell_dir / "theirs"))
    if got is None:
        return {"val_error": tail}
    return {k: v for k, v in got.items() if k in ("pose_map50_95", "box_map50_95", "val_s")}


def theirs_reference(args, ref_dir: Path, yamls: dict) -> dict:
    """Their fp32 PyTorch model (YOLO(pt))."""
    return reference_row(args, lambda: theirs_val(args.model, args, ref_dir, yamls),
                         lambda: theirs_persons_of(args.model, args, ref_dir, None))


def theirs_cell(cell: Cell, args, cell_dir: Path, image: Path, yamls: dict, reference: dict) -> dict:
    target = cell.theirs()
    if target is None:
        return {"status": "unsupported", "error": THEIRS_UNSUPPORTED[cell.name]}
    fmt, prec = target
    extra = ["--weights", args.model, "--format", fmt, "--precision", prec, "--imgsz", str(args.imgsz),
             "--out", str(cell_dir / "theirs")]
    if prec == "int8":
        extra += ["--data", str(yamls["calib"]), "--fraction", "1.0"]
    if fmt in ("saved_model", "pb"):
        extra += ["--sample-images", args.calib]
    exp, wall, tail = theirs_step(args, "export", cell_dir, "export", *extra)
    if exp is None:
        return {"status": "export failed", "error": tail}
    art = Path(exp["artifact"])
    row: dict = {"status": "ok", "artifact": str(art), "export": f"{fmt} {exp['export_args']}", "export_s": wall,
                 "export_in_process_s": exp["export_s"], "size_mb": size_mb(art)}
    if cell.name in THEIRS_NOTES:
        row["note"] = THEIRS_NOTES[cell.name]
    hints = [("latency", "f32"), ("latency_default_hint", None)] if fmt == "openvino" else [("latency", None)]
    for key, hint in hints:
        row[key] = {}
        for t in args.thread_list:  # one fresh process per thread count, as on our side
            got, _, tail = theirs_step(args, "latency", cell_dir, f"{key}_{t}", "--artifact", str(art),
                                       "--input", str(image), "--threads", str(t), "--runs", str(args.runs),
                                       "--warmup", str(args.warmup), "--max-seconds", str(args.max_seconds),
                                       *(["--hint", hint] if hint else []))
            row[key][str(t)] = got[str(t)] if got else {"error": tail}
    if not args.no_val:
        row.update(theirs_val(str(art), args, cell_dir, yamls))
    if not args.no_persons:
        row["persons"] = theirs_persons_of(str(art), args, cell_dir, reference.get("persons_images"))
    if prec == "int8" and args.theirs_int8_repeats > 1:
        row["repeats"] = theirs_repeats(extra, args, cell_dir, yamls, reference)
    return row


def theirs_repeats(export_args: list[str], args, cell_dir: Path, yamls: dict, reference: dict) -> list[dict]:
    """Ultralytics' static INT8 differs export to export: its calibration loader shuffles, and
    ai-edge-quantizer keeps a moving average of min/max (so the last images weigh most). Export it
    again (same command) and record what each copy scores."""
    runs = []
    for i in range(1, args.theirs_int8_repeats):
        rep_dir = cell_dir / f"repeat{i}"
        rep_dir.mkdir(exist_ok=True)
        extra = [*export_args[:export_args.index("--out")], "--out", str(rep_dir / "theirs"),
                 *export_args[export_args.index("--out") + 2:]]
        exp, wall, tail = theirs_step(args, "export", rep_dir, "export", *extra)
        if exp is None:
            runs.append({"error": tail})
            continue
        one: dict = {"artifact": exp["artifact"], "export_s": wall}
        if not args.no_val:
            one.update(theirs_val(exp["artifact"], args, rep_dir, yamls))
        if not args.no_persons:
            one["persons"] = theirs_persons_of(exp["artifact"], args, rep_dir, reference.get("persons_images"))
        runs.append(one)
    return runs


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


def baseline(report: dict, cell: dict, side: str) -> dict:
    """The side's fp32 cell of the same format (same letterbox and runtime), {} for an fp32 cell or none."""
    fmt, precision = cell["cell"].split(":")[:2]
    if precision == "fp32":
        return {}
    return next((c[side] for c in report["cells"] if c["cell"] == f"{fmt}:fp32"), {})


def pose_drop(side: dict, fp32_cell: dict, reference: dict) -> float | None:
    """pose mAP50-95 of a cell minus that of its side's fp32 cell of the format, else its fp32 PyTorch model."""
    a = side.get("pose_map50_95")
    b = fp32_cell.get("pose_map50_95", reference.get("pose_map50_95"))
    return a - b if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None


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
    refs = report.get("reference", {})
    lines += ["", "## Raw figures, ours / theirs", "",
              "Pose drop: the cell's pose mAP50-95 minus that of its own side's fp32 cell of the same format "
              "(same letterbox, same runtime), or of its side's fp32 PyTorch model (first row: Ultralytics "
              "validates a .pt with rectangular batches, its exports square) where there is none. "
              "Persons: found/missed/invented against its own side's fp32 PyTorch predict at conf "
              f"{report['settings'].get('conf', 0.25)} on {len(report['settings'].get('images', []))} images "
              "(IoU >= 0.5).", "",
              "| cell | export s | " + " | ".join(f"p50 ms {t}t" for t in threads)
              + " | pose mAP50-95 | pose drop | box mAP50-95 | persons f/m/i | size MB | status |",
              "|---" * (8 + len(threads)) + "|"]
    if refs:
        o, t_ = refs.get("ours", {}), refs.get("theirs", {})
        count = lambda side: str(side.get("persons", {}).get("predicted", "—"))  # noqa: E731
        lines.append(" | ".join(["| pytorch:fp32 (reference)", "—", *["—" for _ in threads],
                                 pair(o, t_, "pose_map50_95", ".4f"), "—", pair(o, t_, "box_map50_95", ".4f"),
                                 f"{count(o)} / {count(t_)} persons", "—", "reference"]) + " |")
    for c in report["cells"]:
        o, t_ = c["ours"], c["theirs"]
        lat = [f"{fmt_num(p50(o, t), '.1f')} / {fmt_num(p50(t_, t), '.1f')}" for t in threads]
        status = o["status"] if o["status"] == t_["status"] else f"ours {o['status']}, theirs {t_['status']}"
        drop = [pose_drop(side, baseline(report, c, name), refs.get(name, {}))
                for side, name in ((o, "ours"), (t_, "theirs"))]
        lines.append(" | ".join([f"| {c['cell']}", pair(o, t_, "export_s", ".1f"), *lat,
                                 pair(o, t_, "pose_map50_95", ".4f"), f"{fmt_num(drop[0], '+.4f')} / "
                                 f"{fmt_num(drop[1], '+.4f')}", pair(o, t_, "box_map50_95", ".4f"),
                                 f"{summary(o.get('persons'))} / {summary(t_.get('persons'))}",
                                 pair(o, t_, "size_mb", ".1f"), status]) + " |")
    bus = [(c["cell"], side, c[side]["persons"]["per_image"]["bus.jpg"]) for c in report["cells"]
           for side in ("ours", "theirs") if "bus.jpg" in c[side].get("persons", {}).get("per_image", {})]
    if bus:
        lines += ["", "Persons on bus.jpg:", ""]
        lines += [f"- {cell} {side}: {m['predicted']} ({m['found']} found, {m['missed']} missed, "
                  f"{m['invented']} invented; its side's PyTorch finds {m['reference']})" for cell, side, m in bus]
    reps = list({c["theirs"].get("artifact"): c for c in report["cells"] if c["theirs"].get("repeats")}.values())
    if reps:
        lines += ["", "Ultralytics' static INT8, exported again with the same command (its calibration order is "
                  "random and its quantizer keeps a moving average of min/max):", ""]
        for c in reps:
            all_ = [c["theirs"], *c["theirs"]["repeats"]]
            maps = ", ".join(fmt_num(r.get("pose_map50_95"), ".4f") for r in all_)
            persons = ", ".join(summary(r.get("persons")) for r in all_)
            bus_ = ", ".join(str(r.get("persons", {}).get("per_image", {}).get("bus.jpg", {}).get("predicted", "—"))
                             for r in all_)
            lines.append(f"- {c['cell']} theirs, {len(all_)} exports: pose mAP50-95 {maps}; persons f/m/i "
                         f"{persons}; persons on bus.jpg {bus_}")
    notes = [(c["cell"], c["theirs"]["note"]) for c in report["cells"] if c["theirs"].get("note")]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {cell}: {note}" for cell, note in notes]
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
              for key in ("error", "val_error") if c[side].get(key) and c[side].get("status") != "skipped"]
    errors += [(c["cell"], f"{side} persons", c[side]["persons"]["error"]) for c in report["cells"]
               for side in ("ours", "theirs") if c[side].get("persons", {}).get("error")]
    errors += [(c["cell"], f"{side} {key} {t}t", v["error"]) for c in report["cells"] for side in ("ours", "theirs")
               for key in ("latency", "latency_default_hint") for t, v in c[side].get(key, {}).items()
               if "error" in v]
    if errors:
        lines += ["", "## Not measured", ""]
        lines += [f"- {cell} {side}: {err.strip().splitlines()[-1] if err.strip() else '?'}"
                  for cell, side, err in errors]
    lines += ["", "How each figure is taken: `python benchmarks/peers/compare_ultralytics.py --help`.", ""]
    return "\n".join(lines)


TOOLCHAIN_PACKAGES = ["torch", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf", "ai-edge-litert",
                      "litert-torch", "ai-edge-quantizer", "tensorflow", "tf-keras", "onnx2tf"]
VERSIONS_CODE = ("import importlib.metadata as m, json, sys\n"
                 "def v(p):\n    try:\n        return m.version(p)\n    except m.PackageNotFoundError:\n"
                 "        return None\nprint(json.dumps({p: v(p) for p in sys.argv[1:]}))")


def versions(peer_python: str) -> dict:
    """Package versions on both sides (None: not installed there)."""
    def of(python: str, packages: list[str], env: dict | None = None) -> dict:
        return json.loads(subprocess.run([python, "-c", VERSIONS_CODE, *packages], capture_output=True, text=True,
                                         check=True, env={**os.environ, **(env or {})}).stdout)
    theirs = of(peer_python, ["ultralytics", *TOOLCHAIN_PACKAGES], PEER_ENV)
    ours = of(sys.executable, ["poseexport", *TOOLCHAIN_PACKAGES])
    return {"ultralytics": theirs["ultralytics"], "ours": ours, "theirs": theirs}


def reference_images(data: Path) -> list[str]:
    """poseexport's reference images (the five it validates on) + bus.jpg + zidane.jpg."""
    import poseexport

    ours = sorted((Path(poseexport.__file__).parent / "reference_images").glob("*.jpg"))
    return [str(f) for f in ours] + [str(data / "images" / n) for n in ("bus.jpg", "zidane.jpg")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    data = shared_data_dir()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="all", help="comma-separated fmt:precision (tflite:int8:KIND), or the "
                   "groups " + "; ".join(f"{k} = {','.join(v)}" for k, v in GROUPS.items() if k != "all")
                   + "; all = both")
    p.add_argument("--model", default=str(data / "weights" / "yolo11n-pose.pt"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--data", default=str(data / "coco-val-pose" / "coco-val-pose.yaml"), help="val dataset yaml")
    p.add_argument("--calib", default=str(data / "calib-people"), help="INT8 calibration image folder")
    p.add_argument("--image", default=str(data / "images" / "bus.jpg"), help="latency input image")
    p.add_argument("--images", nargs="+", help="images for the persons column (default: poseexport's five "
                   "reference images + bus.jpg + zidane.jpg)")
    p.add_argument("--conf", type=float, default=0.25, help="predict confidence for the persons column")
    p.add_argument("--threads", default="1,2", help="thread counts for latency (both sides)")
    p.add_argument("--runs", type=int, default=30, help="timed calls per latency figure (median reported)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="stop a latency figure early once its timed calls add up to this (at least 5 calls)")
    p.add_argument("--no-val", action="store_true", help="skip the mAP columns")
    p.add_argument("--no-persons", action="store_true", help="skip the persons column")
    p.add_argument("--theirs-int8-repeats", type=int, default=1,
                   help="export Ultralytics' static INT8 this many times (it differs run to run) and report each")
    p.add_argument("--sides", default="ours,theirs", help="ours, theirs or both (a side left out reads 'skipped')")
    p.add_argument("--peer-python", default="/work/peers/ultralytics-venv/bin/python")
    p.add_argument("--timeout", type=float, default=900, help="seconds per step (export, latency, val)")
    p.add_argument("--note", default="", help="a line for the report (e.g. 'busy machine, indicative')")
    p.add_argument("--out", default="runs/peers")
    args = p.parse_args(argv)
    try:
        args.cell_list = parse_cells(args.cells)
    except ValueError as err:
        p.error(f"unknown cell {err}")
    args.side_list = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not args.side_list or set(args.side_list) - {"ours", "theirs"}:
        p.error("--sides takes ours, theirs or ours,theirs")
    args.thread_list = [int(t) for t in args.threads.split(",")]
    args.image_list = args.images or reference_images(data)
    if "theirs" in args.side_list and not Path(args.peer_python).exists():
        p.error(f"no peer python at {args.peer_python}: build it with "
                "bash benchmarks/peers/setup_ultralytics_env.sh /work/peers/ultralytics-venv")
    return args


def internal_step(argv: list[str]) -> None:
    """The steps compare_ultralytics.py runs in fresh processes of the poseexport env."""
    p = argparse.ArgumentParser()
    if argv[0] == "_ours_latency":
        for name in ("--artifact", "--input", "--json"):
            p.add_argument(name, required=True)
        for name in ("--threads", "--runs", "--warmup"):
            p.add_argument(name, type=int, required=True)
        p.add_argument("--max-seconds", type=float, default=60.0)
        return ours_latency(p.parse_args(argv[1:]))
    for name in ("--artifact", "--json"):
        p.add_argument(name, required=True)
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--conf", type=float, required=True)
    p.add_argument("--imgsz", type=int, required=True)
    return ours_persons(p.parse_args(argv[1:]))


def merge_reports(ours: dict, theirs: dict) -> dict:
    """One table from a run of our side and a run of theirs (`--sides ours` / `--sides theirs`): each
    cell's ours from the first, theirs from the second, where a cell of ours without its own row there
    takes the row of the cell that maps to the same Ultralytics export."""
    by_name = {c["cell"]: c["theirs"] for c in theirs["cells"]}
    by_export: dict = {}
    for c in theirs["cells"]:  # the row that made the export, not one that points at it
        if c["theirs"].get("status") not in ("skipped", None) and not c["theirs"].get("same_as"):
            by_export.setdefault(parse_cell(c["cell"]).theirs(), (c["cell"], c["theirs"]))
    cells = []
    for c in ours["cells"]:
        cell = parse_cell(c["cell"])
        row = by_name.get(c["cell"])
        if row is None and cell.theirs() in by_export:
            first, found = by_export[cell.theirs()]
            row = {**found, "same_as": first, "note": THEIRS_NOTES.get(cell.name, f"the same model as {first}")}
        if row is None:
            row = {"status": "unsupported", "error": THEIRS_UNSUPPORTED[cell.name]} if cell.theirs() is None \
                else {"status": "skipped", "error": "not in the theirs report"}
        cells.append({"cell": c["cell"], "ours": c["ours"], "theirs": row,
                      "ratio": ratios(c["ours"], row, ours["settings"]["threads"])})
    return {**ours, "when": f"ours {ours['when']}, theirs {theirs['when']}",
            "host": ours["host"] if ours["host"] == theirs["host"] else f"ours: {ours['host']}; theirs: {theirs['host']}",
            "note": " ".join(filter(None, (ours.get("note"), theirs.get("note")))) ,
            "versions": theirs.get("versions") or ours.get("versions"),
            "reference": {"ours": ours["reference"].get("ours", {}), "theirs": theirs["reference"].get("theirs", {})},
            "cells": cells}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_ours_latency", "_ours_persons"):
        return internal_step(sys.argv[1:])
    if len(sys.argv) > 1 and sys.argv[1] == "merge":
        p = argparse.ArgumentParser(prog="compare_ultralytics.py merge", description=merge_reports.__doc__)
        p.add_argument("ours", help="peers.json of a --sides ours run")
        p.add_argument("theirs", help="peers.json of a --sides theirs (or both) run")
        p.add_argument("--out", required=True)
        a = p.parse_args(sys.argv[2:])
        report = merge_reports(json.loads(Path(a.ours).read_text()), json.loads(Path(a.theirs).read_text()))
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "peers.json").write_text(json.dumps(report, indent=2))
        (out / "peers.md").write_text(markdown(report))
        return print((out / "peers.md").read_text())
    args = parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from poseexport.predict import preprocess, read_image

    x, _ = preprocess([read_image(Path(args.image))], (args.imgsz, args.imgsz), stride=32)
    image = out / "input.npy"
    np.save(image, np.ascontiguousarray(x, dtype=np.float32))
    yamls = {"val": mirror_dataset(args.data, out / "peer-data" / "val"),
             "calib": mirror_dataset(args.calib, out / "peer-data" / "calib")}
    from poseexport.cpu import describe_cpu

    cpu = describe_cpu()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "host": f"{platform.node()}, {os.cpu_count()} CPUs, "
              f"{cpu.get('model') or platform.machine()} (ISA: {cpu.get('isa') or '?'}), load average at start "
              f"{load}", "cpu": cpu, "note": args.note,
              "versions": versions(args.peer_python) if "theirs" in args.side_list else {},
              "settings": {"imgsz": args.imgsz, "threads": args.thread_list, "runs": args.runs,
                           "warmup": args.warmup, "data": args.data, "calib": args.calib, "image": args.image,
                           "model": args.model, "conf": args.conf, "images": args.image_list,
                           "sides": args.side_list}, "reference": {}, "cells": []}
    ref_dir = out / "cells" / "pytorch_fp32"
    ref_dir.mkdir(parents=True, exist_ok=True)
    references = {"ours": ours_reference(args, ref_dir) if "ours" in args.side_list else {},
                  "theirs": theirs_reference(args, ref_dir, yamls) if "theirs" in args.side_list else {}}
    report["reference"] = {side: {k: v for k, v in r.items() if k != "persons_images"}
                           for side, r in references.items()}
    skipped = {"status": "skipped", "error": "side not asked for (--sides)"}
    theirs_done: dict[tuple[str, str], tuple[str, dict]] = {}  # one export of theirs serves two of our kinds
    from tqdm import tqdm

    for cell in tqdm(args.cell_list, desc="peer cells", unit="cell"):
        cell_dir = out / "cells" / cell.dir_name
        cell_dir.mkdir(parents=True, exist_ok=True)
        ours = ours_cell(cell, args, cell_dir, image, references["ours"]) if "ours" in args.side_list else skipped
        if "theirs" not in args.side_list:
            theirs = skipped
        elif cell.theirs() in theirs_done:
            first, row = theirs_done[cell.theirs()]
            theirs = {**row, "same_as": first, "note": THEIRS_NOTES.get(cell.name, f"the same model as {first}")}
        else:
            theirs = theirs_cell(cell, args, cell_dir, image, yamls, references["theirs"])
            if cell.theirs() is not None:
                theirs_done[cell.theirs()] = (cell.name, theirs)
        report["cells"].append({"cell": cell.name, "ours": ours, "theirs": theirs,
                                "ratio": ratios(ours, theirs, args.thread_list)})
        (out / "peers.json").write_text(json.dumps(report, indent=2))  # partial results survive a crash
        (out / "peers.md").write_text(markdown(report))
    print((out / "peers.md").read_text())


if __name__ == "__main__":
    main()
