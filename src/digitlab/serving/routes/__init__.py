"""The API's routes, one router per concern: health and the model (health.py), reading images
(images.py), corrections (feedback.py); the page and the on-device app (pages.py)."""
