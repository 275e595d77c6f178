"""``digitlab feedback``: what the stored corrections say; reviewing them; their export; deleting one. And
``digitlab tokens``: who may write and review them."""

from __future__ import annotations

import argparse
import getpass
import json

from digitlab.cli.common import EXIT_OK, new_command
from digitlab.errors import InvalidArgument
from digitlab.evaluation import confusion_text
from digitlab.feedback.store import delete_correction, open_store
from digitlab.feedback.summary import summarise
from digitlab.feedback.tokens import ROLES, TOKEN_ACTIONS, add_token, list_tokens, revoke_token


def add_feedback(commands) -> None:
    feedback = new_command(commands, "feedback", command_feedback, json='print {"count": N, ...} as JSON')
    feedback.add_argument("store", metavar="STORE", help="a store directory or a postgresql:// URL")
    feedback.add_argument("--gallery", metavar="FILE", help="where to write the gallery PNG")
    feedback.add_argument("--export", metavar="DIR",
                          help="write the approved corrections' digits as an IDX training pair")
    feedback.add_argument("--include-pending", action="store_true",
                          help="export pending corrections too (recorded in the export and in runs trained on it)")
    feedback.add_argument("--overwrite", action="store_true", help="replace an earlier --export in DIR")
    feedback.add_argument("--delete", metavar="ID", help="remove the correction with this id")
    for action in ("approve", "reject"):
        feedback.add_argument(f"--{action}", nargs="+", metavar="ID",
                              help=f"{action} these corrections ('all': every pending one)")
    feedback.add_argument("--relabel", action="append", metavar="ID=LABEL", type=_relabel,
                          help="give a correction another label, and approve it (repeatable)")
    feedback.add_argument("--reviewer", default=None, metavar="NAME",
                          help="who decides, for the audit trail (default: cli:<your user name>)")


def _relabel(text: str) -> tuple[str, str]:
    record_id, separator, label = text.partition("=")
    if not separator or not record_id or not label:
        raise argparse.ArgumentTypeError(f"expected ID=LABEL, got {text!r}")
    return record_id, label


def review(arguments: argparse.Namespace) -> dict[str, list[str]]:
    """The decisions asked for on the command line, taken in the store: action -> ids decided."""
    reviewer = arguments.reviewer or f"cli:{getpass.getuser()}"
    store = open_store(arguments.store, create=False)
    decided: dict[str, list[str]] = {}
    try:
        for action, ids in (("approve", arguments.approve), ("reject", arguments.reject)):
            if ids:
                if "all" in ids and len(ids) > 1:
                    raise InvalidArgument(f"--{action} takes 'all' or ids, not both")
                decided[action] = store.review(None if ids == ["all"] else ids, action, reviewer)
        for record_id, label in arguments.relabel or ():
            decided.setdefault("relabel", []).extend(store.review([record_id], "relabel", reviewer, label))
    finally:
        store.close()
    return decided


def command_feedback(arguments: argparse.Namespace) -> int:
    """the stored corrections: counts, the model's confusion, a gallery; review, export or delete

    Summarise the corrections in STORE (a directory given to serve --feedback, or a postgresql:// URL): digits
    per right label, per review status, how the model had read them (a confusion matrix), and a gallery PNG
    of the newest (STORE/gallery.png for a directory). Corrections arrive pending: --approve, --reject and
    --relabel ID=LABEL decide on them (each decision is kept, with who and when). --export DIR writes the
    approved ones as train-images-idx3-ubyte and train-labels-idx1-ubyte, for digitlab train --extra-data DIR;
    --delete ID removes one record for good.
    """
    if arguments.delete:
        delete_correction(arguments.store, arguments.delete)
        print(json.dumps({"deleted": arguments.delete}) if arguments.json else f"Deleted correction {arguments.delete}")
        return EXIT_OK
    decided = review(arguments) if arguments.approve or arguments.reject or arguments.relabel else {}
    summary = summarise(arguments.store, gallery=arguments.gallery, export=arguments.export,
                        overwrite=arguments.overwrite, include_pending=arguments.include_pending)
    if arguments.json:
        print(json.dumps({**summary.to_json(), "decided": decided}, indent=2))
        return EXIT_OK
    for action, ids in decided.items():
        print(f"{action}: {len(ids)} correction{'s' * (len(ids) != 1)}")
    print(f"{summary.count} corrections ({summary.digits} digits) in {summary.store}: "
          + ", ".join(f"{count} {status}" for status, count in summary.by_status.items()))
    print("digits per right label: " + "  ".join(f"{d}: {n}" for d, n in summary.per_digit.items()))
    if summary.digits:
        print(f"the model had read {summary.wrong} of them as another digit; confusion (rows: right, columns: read):")
        print(confusion_text(summary.confusion))
    for sha, count in summary.models.items():
        print(f"model {sha[:12]}: {count} corrections")
    if summary.gallery:
        print(f"Gallery: {summary.gallery}")
    if summary.export:
        print(f"Exported {summary.export['images']} digits of {summary.export['corrections']} "
              f"{' and '.join(summary.export['statuses'])} corrections to {summary.export['directory']} "
              f"(train with: digitlab train --extra-data {summary.export['directory']})")
    return EXIT_OK


def add_tokens(commands) -> None:
    tokens = new_command(commands, "tokens", command_tokens, json="print the result as JSON")
    tokens.add_argument("action", choices=TOKEN_ACTIONS)
    tokens.add_argument("name", nargs="?", metavar="NAME", help="the token's holder (add, revoke)")
    tokens.add_argument("--store", required=True, metavar="STORE",
                        help="the corrections store (a directory or a postgresql:// URL) the server uses")
    tokens.add_argument("--role", choices=ROLES, default="writer",
                        help="writer: sends corrections; reviewer: also approves them (default: %(default)s)")


def command_tokens(arguments: argparse.Namespace) -> int:
    """who may send and review corrections: add, list or revoke tokens

    add NAME --role writer|reviewer prints the new token alone on its last line, once: the store keeps only
    its hash. Clients send it as Authorization: Bearer TOKEN. revoke NAME stops it (within seconds on a
    running server); list shows names, roles and dates, never tokens.
    """
    if arguments.action != "list" and not arguments.name:
        raise InvalidArgument(f"tokens {arguments.action} needs the token's NAME")
    store = open_store(arguments.store, create=arguments.action == "add")
    try:
        if arguments.action == "add":
            token = add_token(store, arguments.name, arguments.role)
            if arguments.json:
                print(json.dumps({"name": arguments.name, "role": arguments.role, "token": token}))
            else:
                print(f"Token for {arguments.name} ({arguments.role}); it is shown once, keep it safe:")
                print(token)
        elif arguments.action == "revoke":
            revoke_token(store, arguments.name)
            print(json.dumps({"revoked": arguments.name}) if arguments.json else f"Revoked {arguments.name}'s token")
        else:
            tokens = list_tokens(store)
            if arguments.json:
                print(json.dumps([token.to_json() for token in tokens], indent=2))
            for token in [] if arguments.json else tokens:
                state = f"revoked {token.revoked_at}" if token.revoked_at else "active"
                print(f"{token.name:24} {token.role:9} made {token.created_at}  {state}")
    finally:
        store.close()
    return EXIT_OK
