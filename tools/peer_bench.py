"""The peers of wgnn's CPU path on the bench's two epochs, `mlp_epoch` and `cnn_epoch`.

The same models, optimizers and batch as `cargo bench --bench gpu_vs_cpu` (benches/
gpu_vs_cpu.rs, `epoch`): the course MLP 784-64(ReLU, activity L2 1e-3)-32(ReLU)-10 with
Adam lr 1e-3, and Keras' MNIST CNN (conv 32 3x3 ReLU, conv 64 3x3 ReLU, max-pool 2,
dropout 0.25, dense 128 ReLU, dropout 0.5, dense 10) with Adadelta lr 1.0, softmax
cross-entropy, batch 128, shuffled, on MNIST's 60,000 training images. As the bench: one
warm-up epoch of up to 10 steps, then 3 timed epochs, each either a full epoch or
`--steps` steps scaled to a full epoch's 469; prints the median and the range as one
JSON line per run.

Not run by CI (PyTorch and TensorFlow are large). To measure (docs/performance.md):

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install torch tensorflow-cpu keras numpy
    /tmp/peers/bin/python tools/peer_bench.py torch mlp ../shared/mnist
    /tmp/peers/bin/python tools/peer_bench.py keras cnn ../shared/mnist --steps 20

`--threads N` sets the frameworks' thread pools (default: the machine's cores, as wgnn's
rayon pool).
"""

import argparse
import json
import os
import time

import numpy as np
from mnist_idx import read_idx

BATCH = 128
FULL_STEPS = 469  # ceil(60000 / 128)


def mnist_train(folder):
    """MNIST's training images scaled to [0, 1] as (60000, 1, 28, 28) and the labels."""
    images = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"))
    x = images.reshape(len(images), 1, 28, 28).astype("float32") / 255.0
    return x, labels.astype("int64")


def torch_epochs(model_name, x, y, steps, threads):
    """Seconds of the warm-up and the 3 timed epochs with PyTorch."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model_name == "mlp":
        layers = [nn.Flatten(), nn.Linear(784, 64), nn.ReLU()]
        first, rest = nn.Sequential(*layers), nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)
        )
        optimizer_of = lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7)  # noqa: E731
    else:
        first = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(9216, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        rest = nn.Linear(128, 10)
        optimizer_of = lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7)  # noqa: E731
    params = list(first.parameters()) + list(rest.parameters())
    optimizer = optimizer_of(params)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)

    def run(n_steps):
        order = torch.randperm(len(xs))
        start = time.perf_counter()
        for s in range(n_steps):
            idx = order[s * BATCH : (s + 1) * BATCH]
            hidden = first(xs[idx])
            loss = loss_fn(rest(hidden), ys[idx])
            if model_name == "mlp":
                # Keras' activity L2 (tf.keras 2 form, as wgnn): 1e-3 * sum(h^2) / batch.
                loss = loss + 1e-3 * hidden.pow(2).sum() / len(idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    run(min(steps or 10, 10))
    return [run(steps or FULL_STEPS) for _ in range(3)]


def keras_epochs(model_name, x, y, steps, threads):
    """Seconds of the 3 timed epochs with Keras 3 on TensorFlow's CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    if model_name == "mlp":
        model = keras.Sequential(
            [
                keras.Input((784,)),
                layers.Dense(
                    64,
                    activation="relu",
                    activity_regularizer=keras.regularizers.l2(1e-3),
                ),
                layers.Dense(32, activation="relu"),
                layers.Dense(10),
            ]
        )
        optimizer = keras.optimizers.Adam(1e-3)
        x = x.reshape(len(x), 784)
    else:
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, 3, activation="relu"),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Dropout(0.25),
                layers.Flatten(),
                layers.Dense(128, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(10),
            ]
        )
        optimizer = keras.optimizers.Adadelta(1.0, rho=0.95)
        x = x.reshape(len(x), 28, 28, 1)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = EpochTimes()
    timer.seconds = []
    n = (steps or FULL_STEPS) * BATCH
    warm = min(steps or 10, 10) * BATCH
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0)
    model.fit(
        x[:n], y[:n], batch_size=BATCH, epochs=3, shuffle=True, verbose=0, callbacks=[timer]
    )
    return timer.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=["torch", "keras"])
    parser.add_argument("model", choices=["mlp", "cnn"])
    parser.add_argument("mnist_dir")
    parser.add_argument("--steps", type=int, help="steps per timed epoch (default: all 469)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    x, y = mnist_train(args.mnist_dir)
    run = torch_epochs if args.framework == "torch" else keras_epochs
    seconds = run(args.model, x, y, args.steps, args.threads)
    scale = FULL_STEPS / (args.steps or FULL_STEPS)
    epochs = sorted(s * scale for s in seconds)
    print(
        json.dumps(
            {
                "framework": args.framework,
                "model": args.model,
                "threads": args.threads,
                "steps": args.steps or FULL_STEPS,
                "epoch_s": {"median": epochs[1], "min": epochs[0], "max": epochs[-1]},
            }
        )
    )


if __name__ == "__main__":
    main()
