"""Training: the settings (declared once, in settings.py), the data splits (splits.py) and the fit loop
wired to a run directory (fit.py). Composing training with evaluation is digitlab.pipeline's job."""
