"""Which converter makes poseexport's TFLite: onnx2tf or litert-torch, measured per precision.

    python benchmarks/tflite_converters.py [--model yolo11n-pose.pt] [--out runs/tflite_conv]
        [--routes onnx2tf litert] [--decodes graph host] [--kinds fp32 fp16 dynamic int8 int8io]
        [--calib-count N] [--no-latency] [--determinism]

Routes (every conversion runs in its own process, benchmarks/tflite_converters_worker.py):
- onnx2tf: poseexport's fp32 ONNX (`--decode graph` and `--decode host`) -> onnx2tf 1.28.8
  SavedModel (NHWC input) -> tf.lite.TFLiteConverter.from_saved_model for each kind; the int8
  kinds calibrate on every --data image (calib-people: 211), letterboxed as poseexport does.
- litert: litert-torch 0.10.0 converts the fused torch module wrapped by
  litert_torch.to_channel_last_io (NHWC input; NHWC head maps with host decode); fp16 / dynamic /
  static int8 by ai-edge-quantizer from that fp32 .tflite (same calibration images). Full
  integer with int8 I/O is not offered by ai-edge-quantizer, so that cell says so.

For every model: conversion seconds (stage 1: onnx2tf or litert-torch; stage 2: the TFLite
converter or the quantizer), raw max |delta| against PyTorch on the 5 shipped reference images +
bus + zidane (box and keypoint px on relevant anchors, scores on every anchor), persons found /
missed / invented there (poseexport's parity matching), matched-keypoint error on bus + zidane,
pose and box mAP50-95 on coco-val-pose (poseexport's val), latency with ai-edge-litert (XNNPACK)
at 1 and 2 threads (median of --runs after warm-up, each timing in its own process), and size.
Host-decode models are decoded in float numpy by poseexport.decode.host_decode.

Prints a table and writes <out>/tflite_converters.json. Finished conversions are reused on a
re-run (delete <out>/models to convert again). Asserts nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.contract.tolerance import DEFAULT_TOLERANCES
from poseexport.cpu import describe_cpu
from poseexport.data.image_files import find_calibration_files
from poseexport.decode.host_decode import decode_head_maps
from poseexport.paths import shared_data_dir
from poseexport.predict.api import PredictsPoses
from poseexport.predict.letterbox import preprocess
from poseexport.predict.sources import read_image
from poseexport.val.api import ValidatesPoses
from poseexport.validate.parity import compare_outputs
from poseexport.validate.reference_images import packaged_image_files

WORKER = Path(__file__).with_name("tflite_converters_worker.py")
KINDS = ("fp32", "fp16", "dynamic", "int8", "int8io")
ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # onnx2tf downloads it otherwise
IMGSZ = 640
CONVERT_TIMEOUT_S = 3600


def tolerance_for(kind: str):
    return DEFAULT_TOLERANCES["fp32" if kind == "fp32" else "fp16" if kind == "fp16" else "int8"]


# ---- inputs -------------------------------------------------------------------------------------
def write_calibration(calib_dir: Path, out: Path) -> dict:
    """All calibration images letterboxed like poseexport's calibration loader, stored as uint8 NHWC RGB
    (x / 255 is bit-identical to the float input), and onnx2tf's sample file from the first 20."""
    files, _ = find_calibration_files(str(calib_dir))
    path = out / "calib_uint8_nhwc.npy"
    if not path.is_file():
        images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(files), IMGSZ, IMGSZ, 3))
        for i, f in enumerate(files):
            x = preprocess([read_image(f)], IMGSZ, stride=32)[0]  # (1, 3, H, W) float in [0, 1]
            images[i] = np.round(x[0].transpose(1, 2, 0) * 255).astype(np.uint8)
        images.flush()
        del images
    sample = out / ONNX2TF_SAMPLE
    if not sample.is_file():
        import cv2

        small = [cv2.resize(np.asarray(im), (128, 128), interpolation=cv2.INTER_AREA)
                 for im in np.load(path, mmap_mode="r")[:20]]
        np.save(sample, (np.stack(small).astype(np.float32) / 255.0))
    return {"folder": str(calib_dir), "images": len(files), "file": str(path)}


def comparison_images(data: Path) -> tuple[list[str], np.ndarray]:
    """(names, letterboxed NCHW inputs): the 5 shipped reference photos, then bus and zidane."""
    files = packaged_image_files() + [data / "images" / "bus.jpg", data / "images" / "zidane.jpg"]
    inputs = np.concatenate([preprocess([read_image(f)], IMGSZ, stride=32)[0] for f in files])
    return [f.name for f in files], inputs


# ---- conversions (each in a subprocess) -------------------------------------------------------
def run_logged(cmd: list[str], log: Path, cwd: Path | None = None) -> tuple[int, float, str]:
    """Run `cmd`, its output to `log`; (exit status, wall seconds, last JSON line or error tail)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PIP_NO_INDEX": "1"}
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                              timeout=CONVERT_TIMEOUT_S, start_new_session=True)
    wall = time.perf_counter() - start
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    if proc.returncode == 0:
        return 0, wall, lines[-1] if lines else ""
    errors = [ln for ln in lines if "Error" in ln or "error:" in ln.lower()]
    return proc.returncode or 1, wall, (errors[-1] if errors else (lines[-1] if lines else "no output"))


def onnx2tf_saved_model(onnx: Path, work: Path, sample: Path) -> dict:
    """onnx2tf in `work` (the sample file beside it: no download) -> work/saved_model."""
    done = work / "stage1.json"
    if done.is_file():
        return json.loads(done.read_text())
    work.mkdir(parents=True, exist_ok=True)
    (work / ONNX2TF_SAMPLE).write_bytes(sample.read_bytes())
    # onnx2tf rewrites its input .onnx in place (its onnxsim pass): hand it a copy, never the artifact
    (work / "model.onnx").write_bytes(onnx.read_bytes())
    exe = str(Path(sys.executable).with_name("onnx2tf"))
    rc, wall, tail = run_logged([exe, "-i", "model.onnx", "-o", "saved_model", "-osd", "-n"],
                                work / "onnx2tf.log", cwd=work)
    record = {"ok": rc == 0 and (work / "saved_model" / "saved_model.pb").is_file(), "seconds": wall,
              "error": None if rc == 0 else tail, "saved_model": str(work / "saved_model")}
    done.write_text(json.dumps(record))
    return record


def litert_fp32(decode: str, work: Path, weights: str, calib: Path) -> dict:
    done = work / "stage1.json"
    if done.is_file():
        return json.loads(done.read_text())
    work.mkdir(parents=True, exist_ok=True)
    out = work / "fp32.tflite"
    rc, wall, tail = run_logged([sys.executable, str(WORKER), "litert", "--decode", decode, "--kind", "fp32",
                                 "--calib", str(calib), "--out", str(out), "--weights", weights],
                                work / "litert_fp32.log")
    record = {"ok": rc == 0 and out.is_file(), "seconds": wall, "error": None if rc == 0 else tail,
              "float_model": str(out)}
    done.write_text(json.dumps(record))
    return record


def convert_kind(route: str, decode: str, kind: str, stage1: dict, work: Path, calib: Path, count: int | None,
                 weights: str, suffix: str = "", extra: tuple[str, ...] = ()) -> dict:
    """One model: stage 2 of `route` for `kind` (reused when done before)."""
    out = work / f"{kind}{suffix}.tflite"
    done = work / f"{kind}{suffix}.json"
    if done.is_file():
        return json.loads(done.read_text())
    record = {"route": route, "decode": decode, "kind": kind, "variant": suffix.lstrip("_") or "default",
              "stage1_s": stage1["seconds"], "path": str(out)}
    if not stage1["ok"]:
        record.update(ok=False, error=f"stage 1 failed: {stage1['error']}")
        return record
    if route == "litert" and kind == "fp32":
        record.update(ok=True, stage2_s=0.0, error=None, path=stage1["float_model"])
        done.write_text(json.dumps(record))
        return record
    if route == "onnx2tf":
        cmd = [sys.executable, str(WORKER), "tfconvert", "--saved-model", stage1["saved_model"], "--kind", kind]
    elif kind == "int8io":
        record.update(ok=False, error="not offered: ai-edge-quantizer keeps the float input and output "
                                      "(no int8-I/O option in 0.10.0)")
        done.write_text(json.dumps(record))
        return record
    else:
        cmd = [sys.executable, str(WORKER), "litert", "--decode", decode, "--kind", kind,
               "--float-model", stage1["float_model"], "--weights", weights]
    cmd += ["--calib", str(calib), "--out", str(out), *extra]
    if count:
        cmd += ["--count", str(count)]
    rc, wall, tail = run_logged(cmd, work / f"{kind}{suffix}.log")
    if rc == 0:
        record.update(ok=out.is_file(), stage2_s=json.loads(tail)["seconds"], stage2_wall_s=wall, error=None)
    else:
        record.update(ok=False, stage2_wall_s=wall, error=tail)
    done.write_text(json.dumps(record))
    return record


# ---- running a .tflite through poseexport's predict / val -------------------------------------
class TFLitePose(PredictsPoses, ValidatesPoses):
    """A .tflite behind poseexport's predict / val surface: NCHW float batch in, (B, 56, 8400) out;
    int8 inputs / outputs (de)quantised with their own scales, head maps decoded on the host."""

    def __init__(self, path: str, decode: str, metadata, names: dict, kpt_shape, stride: int, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=path, num_threads=threads)
        self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]
        self.outputs = self.interp.get_output_details()
        self.decode, self.metadata = decode, metadata
        self.names, self.kpt_shape, self.stride = names, tuple(kpt_shape), stride
        self.fixed_imgsz = (IMGSZ, IMGSZ)

    def resolve_imgsz(self, imgsz):
        return self.fixed_imgsz

    def _tensor(self, detail) -> np.ndarray:
        value = self.interp.get_tensor(detail["index"])
        if value.dtype != np.float32:
            scale, zero = detail["quantization"]
            value = (value.astype(np.float32) - zero) * np.float32(scale)
        return value

    def _one(self, x: np.ndarray) -> np.ndarray:
        x = x.transpose(0, 2, 3, 1)
        if self.input["dtype"] != np.float32:
            scale, zero = self.input["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(self.input["dtype"])
        self.interp.set_tensor(self.input["index"], np.ascontiguousarray(x))
        self.interp.invoke()
        outs = [self._tensor(d) for d in self.outputs]
        if self.decode == "graph":
            out = outs[0]
            return out if out.shape[1] == out.shape[2] or out.shape[1] < out.shape[2] else out.transpose(0, 2, 1)
        maps = []
        for spec in self.metadata.outputs:  # match by shape: NCHW as specified, or NHWC
            b, c, h, w = spec.shape
            found = [o for o in outs if o.shape == (b, c, h, w)] or \
                    [o.transpose(0, 3, 1, 2) for o in outs if o.shape == (b, h, w, c)]
            maps.append(found[0])
        return decode_head_maps(self.metadata, maps)

    def forward_numpy(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([self._one(batch[i:i + 1]) for i in range(len(batch))])


def pose_rows(report) -> dict:
    s = report.stats
    return {"box_max_px": s.get("box_max"), "kpt_max_px": s.get("kpt_xy_max"), "score_max": s.get("score_max_all"),
            "persons_reference": s["persons_reference"], "persons_found": s["persons_artifact"],
            "persons_missed": s["persons_missed"], "persons_invented": s["persons_invented"],
            "kpt_px_mean": s["kpt_px_mean"], "kpt_px_p95": s["kpt_px_p95"], "kpt_px_max": s["kpt_px_max"],
            "score_drift_p95": s.get("score_drift_p95"), "passed": report.passed}


def evaluate(record: dict, ctx: dict) -> dict:
    """Parity on the 7 images (bus + zidane separately for matched keypoints) and mAP on coco-val-pose."""
    model = TFLitePose(record["path"], record["decode"], ctx["host_metadata"], ctx["names"], ctx["kpt_shape"],
                       ctx["stride"])
    kind, nc = record["kind"], len(ctx["names"])
    ours = model.forward_numpy(ctx["inputs"])
    all7 = compare_outputs(ours, ctx["reference"], nc, ctx["kpt_shape"], tolerance_for(kind), kind,
                           image_names=tuple(ctx["image_names"]))
    bz = compare_outputs(ours[-2:], ctx["reference"][-2:], nc, ctx["kpt_shape"], tolerance_for(kind), kind)
    metrics = model.val(ctx["yaml"], imgsz=IMGSZ)
    return {"seven_images": pose_rows(all7), "bus_zidane": pose_rows(bz),
            "pose_map": metrics.pose.map, "box_map": metrics.box.map,
            "input_dtype": np.dtype(model.input["dtype"]).name,
            "output_dtypes": sorted({np.dtype(d["dtype"]).name for d in model.outputs})}


def time_model(path: str, threads: int, runs: int) -> dict:
    log = Path(path).with_suffix(f".latency{threads}.log")
    rc, _, tail = run_logged([sys.executable, str(WORKER), "latency", "--model", path, "--threads", str(threads),
                              "--runs", str(runs)], log)
    return json.loads(tail) if rc == 0 else {"error": tail}


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- report -------------------------------------------------------------------------------------
def fmt(value, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def table(records: list[dict], ref_map: float) -> str:
    head = (f"{'route':<8}{'decode':<6}{'kind':<15}{'conv s':>7}{'kptΔmax':>9}{'boxΔmax':>9}{'scoreΔ':>10}"
            f"{'found/ref':>10}{'miss':>5}{'inv':>4}{'bz kpt mean/p95 px':>20}{'pose mAP':>9}{'ΔmAP':>7}"
            f"{'1t med/min':>11}{'2t med/min':>11}{'MB':>6}")
    lines = [head]
    for r in records:
        variant = r.get("variant", "default")
        name = f"{r['route']:<8}{r['decode']:<6}{r['kind'] + ('' if variant == 'default' else '_' + variant):<15}"
        if not r.get("ok"):
            lines.append(f"{name}FAILED / not offered: {r.get('error')}")
            continue
        e, b = r["seven_images"], r["bus_zidane"]
        conv = r["stage1_s"] + r.get("stage2_s", 0.0)
        lat = r.get("latency", {})
        lines.append(
            f"{name}{conv:>7.1f}{fmt(e['kpt_max_px']):>9}{fmt(e['box_max_px']):>9}{fmt(e['score_max']):>10}"
            f"{e['persons_found']:>5}/{e['persons_reference']:<4}{e['persons_missed']:>5}{e['persons_invented']:>4}"
            f"{fmt(b['kpt_px_mean']):>11}/{fmt(b['kpt_px_p95']):<8}{r['pose_map']:>9.4f}"
            f"{r['pose_map'] - ref_map:>+7.4f}{fmt(lat.get('1', {}).get('median_ms'), '.1f'):>7}"
            f"{fmt(lat.get('2', {}).get('median_ms'), '.1f'):>7}{r['bytes'] / 1e6:>6.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolo11n-pose.pt")
    parser.add_argument("--out", default="runs/tflite_conv")
    parser.add_argument("--routes", nargs="+", default=["onnx2tf", "litert"], choices=["onnx2tf", "litert"])
    parser.add_argument("--decodes", nargs="+", default=["graph", "host"], choices=["graph", "host"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--calib-count", type=int, default=None, help="first N calibration images (default all)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per latency (after 5 warm-up)")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--retime", action="store_true", help="time the models measured before again")
    parser.add_argument("--determinism", action="store_true",
                        help="convert onnx2tf int8 (host decode) twice on --determinism-count images; compare bytes")
    parser.add_argument("--determinism-count", type=int, default=16)
    parser.add_argument("--per-tensor", action="store_true",
                        help="also the onnx2tf int8 kinds with per-tensor weights (variant *)")
    args = parser.parse_args()
    data = shared_data_dir()
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    calib = write_calibration(data / "calib-people", out)
    calib_file = Path(calib["file"])

    pose = PoseModel(args.model)
    onnx = {}
    for decode in args.decodes:
        folder = out / f"onnx_{decode}"
        if not (folder / "manifest.json").is_file():
            pose.export("onnx", decode=decode, out=folder, log=lambda *_: None)
        onnx[decode] = folder
    host_meta = ArtifactModel(onnx["host"]).metadata if "host" in onnx else None
    names, inputs = comparison_images(data)
    pose.fuse()  # as the exports trace it: the references every artifact is judged against
    reference = np.concatenate([pose.forward_numpy(inputs[i:i + 1]) for i in range(len(inputs))])
    yaml = str(data / "coco-val-pose" / "coco-val-pose.yaml")
    ref_metrics = pose.val(yaml, imgsz=IMGSZ)
    ctx = {"host_metadata": host_meta, "names": dict(pose.names), "kpt_shape": tuple(pose.kpt_shape),
           "stride": pose.stride, "inputs": inputs, "reference": reference, "image_names": names, "yaml": yaml}

    header = {"started": started, "cpu": describe_cpu(), "cores": os.cpu_count(),
              "python": platform.python_version(), "versions": versions(), "calibration": calib,
              "pytorch": {"pose_map": ref_metrics.pose.map, "box_map": ref_metrics.box.map,
                          "persons_on_7_images": int(sum(len(d) for d in _persons(reference, len(ctx["names"]))))},
              "comparison_images": names}
    records: list[dict] = []

    def measured(record: dict) -> dict:
        """Evaluate and time one converted model (kept beside it, reused on a re-run); JSON rewritten."""
        if record.get("ok"):
            cached = Path(record["path"]).with_suffix(".result.json")
            if cached.is_file():
                record = json.loads(cached.read_text())
                if args.retime and record.get("ok"):  # timings again (e.g. when the machine is quieter)
                    print(f"[{time.strftime('%H:%M:%S')}] latency {record['route']} {record['decode']} "
                          f"{record['kind']} {record['variant']}", flush=True)
                    record["latency"] = {str(t): time_model(record["path"], t, args.runs) for t in (1, 2)}
                    cached.write_text(json.dumps(record, default=str))
            else:
                print(f"[{time.strftime('%H:%M:%S')}] evaluate {record['route']} {record['decode']} "
                      f"{record['kind']} {record['variant']}", flush=True)
                record["bytes"] = Path(record["path"]).stat().st_size
                record["sha256"] = sha256(record["path"])
                try:
                    record.update(evaluate(record, ctx))
                    if not args.no_latency:
                        record["latency"] = {str(t): time_model(record["path"], t, args.runs) for t in (1, 2)}
                    cached.write_text(json.dumps(record, default=str))
                except Exception as err:  # noqa: BLE001 - a model that does not run is a finding, not a crash
                    record.update(ok=False, error=f"evaluation failed: {type(err).__name__}: {err}")
        records.append(record)
        (out / "tflite_converters.json").write_text(json.dumps(
            {**header, "loadavg_now": os.getloadavg(), "records": records}, indent=2, default=str))
        return record

    for route in args.routes:
        for decode in args.decodes:
            work = out / "models" / f"{route}_{decode}"
            stage1 = (onnx2tf_saved_model(onnx[decode] / "yolo11n-pose.onnx", work, out / ONNX2TF_SAMPLE)
                      if route == "onnx2tf" else litert_fp32(decode, work, args.model, calib_file))
            for kind in args.kinds:
                jobs = [("", (), args.calib_count)]
                if args.per_tensor and route == "onnx2tf" and kind in ("int8", "int8io"):
                    jobs.append(("_pertensor", ("--per-tensor",), args.calib_count))
                for suffix, extra, count in jobs:
                    print(f"[{time.strftime('%H:%M:%S')}] convert {route} {decode} {kind}{suffix}", flush=True)
                    measured(convert_kind(route, decode, kind, stage1, work, calib_file, count, args.model,
                                          suffix, extra))
    determinism = None
    if args.determinism and "onnx2tf" in args.routes and "host" in args.decodes:
        # the same representative-dataset conversion twice (on the first N images: 211 take ~9 min each
        # here); host decode, whose int8 keeps the pose, so the mAP also shows what N images give
        work = out / "models" / "onnx2tf_host"
        stage1 = json.loads((work / "stage1.json").read_text())
        n = args.determinism_count
        twice = []
        for tag in ("a", "b"):
            print(f"[{time.strftime('%H:%M:%S')}] determinism: onnx2tf host int8 on {n} images ({tag})", flush=True)
            twice.append(measured(convert_kind("onnx2tf", "host", "int8", stage1, work, calib_file, n,
                                               args.model, f"_c{n}{tag}")))
        if all(r.get("ok") for r in twice):
            determinism = {"calibration_images": n, "same_bytes": twice[0]["sha256"] == twice[1]["sha256"],
                           "pose_map": [r["pose_map"] for r in twice],
                           "kpt_max_px": [r["seven_images"]["kpt_max_px"] for r in twice]}
    result = {**header, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "loadavg_end": os.getloadavg(), "determinism_onnx2tf_int8": determinism, "records": records}
    (out / "tflite_converters.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"CPU: {result['cpu']['model']} ({result['cpu']['isa']}), load at end {result['loadavg_end']}")
    print(f"PyTorch: pose mAP50-95 {ref_metrics.pose.map:.4f}, box {ref_metrics.box.map:.4f}")
    print(table(records, ref_metrics.pose.map))
    if determinism:
        print(f"onnx2tf int8 (host decode, {determinism['calibration_images']} images) converted twice: same bytes "
              f"{determinism['same_bytes']}, pose mAP {determinism['pose_map']}")
    print(f"JSON: {out / 'tflite_converters.json'}")


def _persons(raw: np.ndarray, nc: int):
    from poseexport.predict.nms import non_max_suppression

    return non_max_suppression(raw, conf=0.25, nc=nc)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("torch", "tensorflow", "onnx2tf", "litert-torch", "ai-edge-quantizer", "ai-edge-litert",
                 "litert-converter", "onnx", "numpy"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = None
    return found


if __name__ == "__main__":
    main()
