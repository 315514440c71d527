#!/usr/bin/env bash
# Fetch the shared data folder for the benchmark workflow (DATA_URL: a .tar.gz of it) and
# print the benchmark arguments that fit what is there (GitHub step output `args`).
set -euo pipefail
dest="${RUNNER_TEMP:-/tmp}/poseexport-data"
args="--data none --calib none"
if [ -n "${DATA_URL:-}" ]; then
  mkdir -p "$dest"
  curl -fsSL "$DATA_URL" | tar -xz -C "$dest"
  echo "POSEEXPORT_DATA=$dest" >> "$GITHUB_ENV"
  echo "POSEEXPORT_WEIGHTS_DIR=$dest/weights" >> "$GITHUB_ENV"
  if [ "${MODEL:-}" = "posenet-test.yaml" ]; then
    args="--data $dest/coco8-pose/coco8-pose.yaml --calib $dest/calib-people"
  else
    args="--data $dest/coco-val-pose/coco-val-pose.yaml --calib $dest/calib-people"
  fi
fi
echo "args=$args" >> "$GITHUB_OUTPUT"
echo "benchmark data arguments: $args"
