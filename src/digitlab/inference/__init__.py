"""Running a trained model: the Predictor (ONNX Runtime, or Keras where a run has no ONNX file), the ONNX
export that the Predictor and every deployment read (export.py), explanations of a reading through the
Predictor (explain.py), and the number reader's mark model (marks.py)."""
