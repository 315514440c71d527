"""Host decode: the raw head maps of a `--decode host` artifact -> the (B, 4 + nc + K*D, N)
prediction, in numpy (no torch), exactly as the network's in-graph decode computes it."""
