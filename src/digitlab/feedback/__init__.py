"""Corrections people send: the store that keeps them (store.py, SQLite or PostgreSQL), their export as
training data (export.py), and what they say (summary.py). Serving writes to the store; training reads the
export."""
