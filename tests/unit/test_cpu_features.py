"""poseexport.cpu: the ISA flags an artifact records, and metadata written before the field."""
from __future__ import annotations

import json
import platform
from pathlib import Path

from poseexport import cpu
from poseexport.metadata import Metadata, metadata_from_dict

SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx avx2 fma "
                   "avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n")
EPYC_ROME = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma sha_ni\n"


def test_isa_features_name_the_int8_paths():
    assert cpu.isa_features(SAPPHIRE_RAPIDS) == ("avx2 avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 "
                                                 "amx_bf16 amx_int8")
    assert cpu.isa_features(EPYC_ROME) == "avx2"
    assert cpu.isa_features("flags : avx512f avx512vnni\n") == "avx512f avx512_vnni"  # older kernels' spelling
    assert cpu.isa_features("flags : fpu sse2\n") == "none"
    assert cpu.isa_features("processor : 0\n") == "unknown"


def test_isa_features_off_linux_are_unknown(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "missing")
    assert cpu.isa_features() == "unknown"


def test_this_cpu_is_described():
    info = cpu.describe_cpu()
    assert set(info) == {"model", "machine", "isa"} and info["model"] and info["machine"] == platform.machine()
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":
        assert "avx2" in info["isa"].split() or info["isa"] == "none"


def _metadata() -> Metadata:
    from poseexport.metadata import InputSpec, ModelFacts, OutputSpec, Precision

    facts = ModelFacts(task="pose", names={0: "person"}, kpt_shape=(17, 3), keypoint_names=(), skeleton=(),
                       flip_idx=(), stride=32, imgsz=(64, 64), arch="posenet-test")
    return Metadata(format="onnx", precision=Precision("int8"), inputs=(InputSpec("images", (1, 3, 64, 64)),),
                    outputs=(OutputSpec("output0", (1, 56, 84), "raw", ()),), model=facts, toolchain={},
                    source_sha256=None)


def test_metadata_records_the_build_cpu_and_reads_old_metadata():
    meta = _metadata()
    assert meta.build_cpu == cpu.describe_cpu()
    assert Metadata.from_json(meta.to_json()).build_cpu == meta.build_cpu
    old = json.loads(meta.to_json())
    del old["build_cpu"]  # metadata from before the field: empty, not this reader's CPU
    assert metadata_from_dict(old).build_cpu == {}
