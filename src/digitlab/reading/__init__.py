"""Reading digits from real images: imaging.py turns any image into the 28x28 a model expects, numbers.py
finds and reads the digits of a whole number, mark_training.py trains the number reader's mark model, and
files.py reads image files for ``digitlab predict`` and renders the answers as a table, CSV or JSON."""
