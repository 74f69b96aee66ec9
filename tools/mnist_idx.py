"""MNIST's gzipped IDX files as numpy arrays, for the peer scripts in tools/."""

import gzip

import numpy as np


def read_idx(path):
    """The array stored in the gzipped IDX file at `path` (uint8, its own dims)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
