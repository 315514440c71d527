"""What an export wrote (`Artifact`) and the opened artifact every format returns (`Runner`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseexport.errors import BadArtifactError
from poseexport.metadata import METADATA_FILE, Metadata

from .tensors import decode_outputs, encode_input


@dataclass
class Artifact:
    """What an export wrote: the folder, its main file, and the metadata."""

    path: Path  # the artifact folder
    main_file: Path  # the file (or folder) the runtime opens
    metadata: Metadata
    files: list[Path] = field(default_factory=list)


class Runner:
    """An opened artifact. Use as a context manager.

    `infer(x)` is the runtime call a backend implements: `x` is exactly the tensor the
    artifact's input spec describes (layout, dtype, scale: contract/tensors.py builds it), and it
    returns every output, in the metadata's order and the runtime's own dtype. `forward(batch)`
    is what predict / val / validate / selftest call: canonical float32 NCHW RGB [0, 1] in, the
    decoded float32 prediction out (host decode and dequantisation included).
    """

    def __init__(self, artifact: Artifact):
        from .artifact_checks import check_metadata

        self.artifact = artifact
        self.metadata = artifact.metadata
        if self.metadata is None:
            raise BadArtifactError(f"{artifact.main_file} carries no poseexport metadata",
                                   "neither a metadata.json beside it nor metadata inside the model file",
                                   "load the artifact folder poseexport convert wrote, or re-export")
        check_metadata(self.metadata, self.where)
        self._output_checked = False

    @property
    def where(self) -> Path:
        """What the user opened, for messages: the artifact folder, or the bare model file."""
        folder = Path(self.artifact.path)
        return folder if (folder / METADATA_FILE).is_file() else Path(self.artifact.main_file)

    def checked_outputs(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        """Every output is compared with the metadata once (runtimes that declare no shape)."""
        if not self._output_checked:
            from .artifact_checks import check_output_shapes

            check_output_shapes(self.metadata, [o.shape for o in outs], self.where)
            self._output_checked = True
        return outs

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release runtime resources (sessions, compiled models)."""

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        """The input tensor as the input spec describes it -> every output (metadata order)."""
        raise NotImplementedError

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW RGB [0, 1] batch -> the decoded prediction, float32: (B, 4 + nc + K*D, N),
        or (B, max_det, 6 + K*D) for in-graph NMS."""
        return decode_outputs(self.metadata, self.infer(encode_input(self.input_spec, batch)))

    @property
    def input_spec(self):
        return self.metadata.inputs[0]

    # facts every predict/val path needs, from the metadata
    @property
    def names(self) -> dict[int, str]:
        return self.metadata.model.names

    @property
    def kpt_shape(self) -> tuple[int, int]:
        return tuple(self.metadata.model.kpt_shape)

    @property
    def stride(self) -> int:
        return self.metadata.model.stride

    @property
    def imgsz(self) -> tuple[int, int]:
        return tuple(self.metadata.model.imgsz)

    @property
    def batch(self) -> int | None:
        dim = self.metadata.inputs[0].shape[0]
        return dim if isinstance(dim, int) else None
