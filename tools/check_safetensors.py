"""Reads a model saved by `mnist_mlp --save` with the safetensors package (the loader
PyTorch's `safetensors.torch.load_file` uses) and evaluates it on the MNIST test set in
numpy with PyTorch's Linear layout (y = x W^T + b), printing the accuracy in the example's
format. CI compares the two lines: the file means the same thing outside wgnn.

python3 tools/check_safetensors.py MODEL.safetensors MNIST_DIR
"""

import gzip
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


def idx(path: Path, header: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    sys.exit(f"{stem} not found in {folder}")


def main() -> None:
    model, folder = Path(sys.argv[1]), Path(sys.argv[2])
    t = load_file(str(model))
    x = idx(find(folder, "t10k-images-idx3-ubyte"), 16).reshape(-1, 784) / 255.0
    y = idx(find(folder, "t10k-labels-idx1-ubyte"), 8)
    h = np.maximum(x @ t["0.weight"].T + t["0.bias"], 0.0)
    h = np.maximum(h @ t["3.weight"].T + t["3.bias"], 0.0)
    logits = h @ t["5.weight"].T + t["5.bias"]
    print(f"test accuracy: {100.0 * (logits.argmax(1) == y).mean():.2f}%")


if __name__ == "__main__":
    main()
