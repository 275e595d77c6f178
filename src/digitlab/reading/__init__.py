"""Reading digits from real images: imaging.py turns any image into the 28x28 a model expects,
inference.py classifies 28x28 inputs with a trained run (the Predictor), and files.py reads image
files for ``digitlab predict`` and renders the answers as a table, CSV or JSON."""
