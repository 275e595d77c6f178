"""Import Keras with digitlab's defaults: the TensorFlow backend (chosen by measurement, see
benchmarks/README.md) unless ``KERAS_BACKEND`` says otherwise, and without TensorFlow's start-up chatter.

Every module that needs Keras imports it from here, so these defaults are set before Keras loads.
"""

import contextlib
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hides TF C++ log lines, not Python errors


@contextlib.contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ side logs a few INFO lines at import that TF_CPP_MIN_LOG_LEVEL no longer hides."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _native_stderr_silenced():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow  # the native libraries load (and log) here

        # Predicting sets of other sizes in turn (validation, re-drawn uploads, the test set) retraces Keras'
        # predict step, and TensorFlow warns of each retrace in a paragraph: nothing a user can act on.
        tensorflow.get_logger().setLevel("ERROR")

__all__ = ["keras"]
