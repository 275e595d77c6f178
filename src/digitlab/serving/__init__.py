"""The REST API and the drawing page (see app.py)."""
