"""The benchmark matrix: every format x precision judged against PyTorch in one run."""
