"""A split without a single labelled object cannot be validated or trained on.

Its mAP is 0 by definition (every detection a false positive, no recall to measure), and
training on it teaches nothing but background; both used to "succeed" quietly. Such a
split is nearly always a labels folder in the wrong place, so it is refused, naming where
the labels were looked for.
"""
from __future__ import annotations

from ..data.dataset import PoseDataset
from ..data.images import label_path_for
from ..errors import BadDatasetError


def require_labelled_objects(dataset: PoseDataset, purpose: str, fix: str = "") -> None:
    """Raise BadDatasetError when `dataset` (one split) holds no labelled object at all."""
    report = dataset.report
    if report.instances > 0:
        return
    name = dataset.config.yaml_path.name
    if dataset.samples and report.backgrounds == len(dataset.samples):
        first = dataset.samples[0]
        why = (f"none of its {len(dataset.samples)} image(s) has a label file: for "
               f"{first.image} it looked for {label_path_for(first.image)}")
        context = ["labels live in a 'labels' folder beside 'images', with the same sub-folders and "
                   "file stems (images/val/x.jpg -> labels/val/x.txt)"]
    else:
        why = f"it has no labelled object ({report.summary()})"
        context = report.issue_lines(5)
    raise BadDatasetError(f"The '{dataset.split}' split of {name} cannot be used for {purpose}", why,
                          fix or "put the YOLO-pose label files where they belong, or point the yaml "
                                 "at a labelled split", context=context)
