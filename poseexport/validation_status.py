"""The validation block of an artifact's metadata: what was checked, and the verdict.

Export validates in the staging folder, before the artifact is moved into place, so an
artifact on disk is either "passed", "failed" (kept for inspection, the export exited
non-zero), "not run" (--no-validate) or "deferred": exported where its runtime cannot run
(CoreML off macOS, TensorRT without a GPU), to be judged by `poseexport selftest` on the
target, on the golden vector it carries. An interrupted validation leaves no artifact at all.
Artifacts written before this block had a status carry the bare report (or nothing).
"""
from __future__ import annotations

from typing import Any

PASSED = "passed"
FAILED = "failed"
NOT_RUN = "not run"
DEFERRED = "deferred"  # the runtime is absent where it was exported: selftest on the target judges it
UNKNOWN = "unknown"  # older artifacts, and model files whose embedded copy predates validation


def from_report(report_dict: dict[str, Any]) -> dict[str, Any]:
    """The block for a validation that ran: its status and the whole parity report."""
    return {"status": PASSED if report_dict.get("passed") else FAILED, **report_dict}


def not_run(reason: str) -> dict[str, Any]:
    return {"status": NOT_RUN, "passed": None, "reason": reason}


def deferred(reason: str) -> dict[str, Any]:
    """The block of an artifact whose runtime cannot run where it was exported (`reason`: why)."""
    return {"status": DEFERRED, "passed": None, "reason": reason}


def deferred_lines(reason: str, precision: str, where) -> list[str]:
    """What export prints instead of a verdict: why validation waits, and the command that gives it."""
    return [f"validation ({precision}): deferred: {reason}",
            f"  its golden vector ships with it: run `poseexport selftest {where}` on the machine it is for "
            "to check it there"]


def status_of(validation: dict[str, Any] | None) -> str:
    if not validation:
        return UNKNOWN
    if "status" in validation:
        return str(validation["status"])
    return PASSED if validation.get("passed") else FAILED


def warning_line(metadata, where: str) -> str | None:
    """A one-line warning for an artifact that was not shown to match PyTorch; None otherwise."""
    status = status_of(metadata.validation)
    if status == NOT_RUN:
        return (f"warning: {where} was exported without validation (--no-validate): it was never compared "
                f"with its PyTorch model (poseexport validate does that)")
    if status == FAILED:
        return (f"warning: {where} FAILED validation against its PyTorch model at export; its outputs may "
                f"be wrong (see metadata.json 'validation', or run poseexport validate)")
    if status == DEFERRED:
        reason = (metadata.validation or {}).get("reason", "")
        return (f"warning: {where} was not validated at export (deferred: {reason}); run "
                f"`poseexport selftest {where}` on this machine to compare it with its PyTorch outputs")
    if status not in (PASSED, UNKNOWN):
        return f"warning: {where} has validation status '{status}'; check it with poseexport validate"
    return None
