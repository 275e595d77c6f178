"""``digitlab feedback``: what the stored corrections say; their export; deleting one."""

from __future__ import annotations

import argparse
import json

from digitlab.cli.common import EXIT_OK, new_command
from digitlab.evaluation import confusion_text
from digitlab.feedback.store import delete_correction
from digitlab.feedback.summary import summarise


def add_feedback(commands) -> None:
    feedback = new_command(commands, "feedback", command_feedback, json='print {"count": N, ...} as JSON')
    feedback.add_argument("store", metavar="STORE", help="a store directory or a postgresql:// URL")
    feedback.add_argument("--gallery", metavar="FILE", help="where to write the gallery PNG")
    feedback.add_argument("--export", metavar="DIR", help="write the corrected digits as an IDX training pair")
    feedback.add_argument("--overwrite", action="store_true", help="replace an earlier --export in DIR")
    feedback.add_argument("--delete", metavar="ID", help="remove the correction with this id")


def command_feedback(arguments: argparse.Namespace) -> int:
    """the stored corrections: counts, the model's confusion, a gallery; export or delete

    Summarise the corrections in STORE (a directory given to serve --feedback, or a postgresql:// URL): digits
    per right label, how the model had read them (a confusion matrix), and a gallery PNG of the newest
    (STORE/gallery.png for a directory). --export DIR writes them as train-images-idx3-ubyte and
    train-labels-idx1-ubyte, for digitlab train --extra-data DIR; --delete ID removes one record for good.
    """
    if arguments.delete:
        delete_correction(arguments.store, arguments.delete)
        print(json.dumps({"deleted": arguments.delete}) if arguments.json else f"Deleted correction {arguments.delete}")
        return EXIT_OK
    summary = summarise(arguments.store, gallery=arguments.gallery, export=arguments.export,
                        overwrite=arguments.overwrite)
    if arguments.json:
        print(json.dumps(summary.to_json(), indent=2))
        return EXIT_OK
    print(f"{summary.count} corrections ({summary.digits} digits) in {summary.store}")
    print("digits per right label: " + "  ".join(f"{d}: {n}" for d, n in summary.per_digit.items()))
    if summary.digits:
        print(f"the model had read {summary.wrong} of them as another digit; confusion (rows: right, columns: read):")
        print(confusion_text(summary.confusion))
    for sha, count in summary.models.items():
        print(f"model {sha[:12]}: {count} corrections")
    if summary.gallery:
        print(f"Gallery: {summary.gallery}")
    if summary.export:
        print(f"Exported {summary.export['images']} digits to {summary.export['directory']} "
              f"(train with: digitlab train --extra-data {summary.export['directory']})")
    return EXIT_OK
