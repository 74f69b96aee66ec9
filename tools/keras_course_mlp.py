"""The course's MNIST MLP as its Keras program has it, to measure the course's own figure.

784-64(ReLU, L2 1e-3 on the activations)-32(ReLU)-10(softmax), Keras defaults (Glorot-uniform
weights, zero biases), categorical cross-entropy, Adam lr 1e-3 constant, batch 128, 10
epochs, pixels scaled to [0, 1]. tf.keras 2 (TensorFlow <= 2.15) divides the activity
penalty by the batch size, as wgnn's ActivityRegularization does; Keras 3 sums it.

Not run by CI (TensorFlow is large); used to measure the figure `mnist_mlp --course` prints:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2"
    /tmp/tfenv/bin/python tools/keras_course_mlp.py data/mnist 42 1 2 3 4

Prints one line per seed (`seed S: test accuracy XX.XX%`) and the mean.
"""

import os
import sys

import numpy as np
from mnist_idx import read_idx

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402


def load(folder, split):
    images = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"))
    x = images.reshape(len(images), 784).astype("float32") / 255.0
    return x, keras.utils.to_categorical(labels, 10)


def course_accuracy(seed, train, test):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.layers.Dense(
                64,
                activation="relu",
                input_shape=(784,),
                activity_regularizer=keras.regularizers.l2(1e-3),
            ),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(*train, batch_size=128, epochs=10, verbose=0)
    return model.evaluate(*test, verbose=0)[1]


def main():
    folder, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]] or [42]
    train, test = load(folder, "train"), load(folder, "t10k")
    print(f"TensorFlow {tf.__version__} (tf.keras 2)")
    accuracies = []
    for seed in seeds:
        accuracies.append(100.0 * course_accuracy(seed, train, test))
        print(f"seed {seed}: test accuracy {accuracies[-1]:.2f}%", flush=True)
    print(f"mean over {len(seeds)} seeds: {np.mean(accuracies):.2f}%")


if __name__ == "__main__":
    main()
