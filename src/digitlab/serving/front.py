"""The one front-end of the drawing page and the on-device app (``web/``): the same HTML, CSS and script,
with the model behind one interface (``web/server.js`` asks this server; ``web/device.js`` runs the model
in the browser). The page's few words that differ (title, the status line's and the file input's names,
the app's manifest) are filled in here."""

from __future__ import annotations

from pathlib import Path
from string import Template

WEB = Path(__file__).resolve().parent / "web"

_KINDS = {
    "server": {"title": "digitlab: draw a digit or a number", "base": "/static/", "head": "",
               "status_id": "model-info", "file_id": "upload", "file_label": "Upload an image…", "file_capture": ""},
    "device": {"title": "digitlab: read digits on this device", "base": "",
               "head": '\n  <link rel="manifest" href="manifest.webmanifest">\n'
                       '  <link rel="apple-touch-icon" href="icon-192.png">',
               "status_id": "status", "file_id": "photo", "file_label": "Photo…",
               "file_capture": ' capture="environment"'},
}
READERS = tuple(_KINDS)


def page_html(reader: str) -> str:
    """index.html for the page that reads through the server (``"server"``) or on the device (``"device"``)."""
    return Template((WEB / "index.html").read_text()).substitute(_KINDS[reader], reader=reader)
