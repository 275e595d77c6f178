"""The corrections store: what a person said a reading should have been, kept safely for the next model.

One small storage layer (SQLAlchemy Core) over two databases with the same schema:

- a directory: an embedded SQLite database, ``corrections.db``, in WAL mode with full fsync, so that a
  correction committed before its 201 survives a kill -9 of the server (and a power cut); several
  worker processes on one machine share it (WAL lets readers and one writer work at once);
- a ``postgresql://`` URL, when several servers share one store.

Each correction is one row, written in one transaction: the 28x28 input or inputs the model saw (one
per digit of the label), the original upload (size-capped, optional, its metadata such as EXIF and GPS
stripped), the model's reading of those inputs, the reading the client said it showed (optional), the
proposed label, the model's SHA-256, the time, who sent it (a token's name, or "open" on a demo server),
and an optional client id. A client id is unique: a re-sent correction is stored once and answered with
the first one's id; identical inputs with the same label are stored once too. No IP address, header or
cookie is stored.

A correction enters as "pending" and trains nothing until a reviewer approves it (or relabels it, which
approves the new label): ``review`` records every decision in ``decisions`` (who, when, the status and
label before and after) in the same transaction, and never changes the proposed label or the reading.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data import IMAGE_SIDE
from digitlab.errors import DigitlabError, InvalidArgument

DATABASE_FILE = "corrections.db"
MAX_RECORDS = 100_000  # a store holding this many corrections takes no more (delete or export some first)
MAX_STORE_BYTES = 512 * 1024 * 1024  # ... nor one whose inputs and uploads hold this many bytes
MAX_UPLOAD_BYTES = 1024 * 1024  # larger originals are not kept (the 28x28 inputs always are)
MAX_LABEL_DIGITS = 40
MAX_CLIENT_ID = 128
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
REVIEW_STATUSES = (PENDING, APPROVED, REJECTED)
OPEN_WRITER = "open"  # who sent a correction to a server started with --open-feedback
UNSURE_SENDER = "unsure"  # a reading the model withheld as "not sure", queued for a person (--queue-unsure)
RESERVED_SENDERS = (OPEN_WRITER, UNSURE_SENDER)  # no token takes these names


class StoreError(DigitlabError):
    """The store cannot be opened or used (a bad path or URL, a database that refuses)."""


class StoreFull(StoreError):
    pass


@dataclass(frozen=True)
class Correction:
    id: str
    created_at: str  # ISO 8601, UTC
    label: str
    prediction: str | None  # the model's reading of ``inputs`` when the correction came
    reported_prediction: str | None  # what the client said it had been shown
    model_sha256: str | None
    inputs: np.ndarray  # (len(label), 28, 28) uint8
    upload: bytes | None
    client_id: str | None
    status: str = PENDING
    proposed_label: str | None = None  # the label as sent; ``label`` is the reviewer's when relabelled
    submitted_by: str | None = None
    upload_bytes: int | None = None  # known even when the upload itself was not fetched

    def summary(self) -> dict:
        """The record without its pixels, for listings."""
        return {"id": self.id, "created_at": self.created_at, "label": self.label, "status": self.status,
                "proposed_label": self.proposed_label, "submitted_by": self.submitted_by,
                "prediction": self.prediction, "reported_prediction": self.reported_prediction,
                "model_sha256": self.model_sha256,
                "upload_bytes": self.upload_bytes if self.upload is None else len(self.upload),
                "client_id": self.client_id}


def without_metadata(upload: bytes) -> bytes:
    """The upload without EXIF (GPS), XMP, comments or text chunks: its pixels saved again by Pillow (PNG
    stays PNG, anything else becomes a high-quality JPEG). An upload Pillow cannot open is not kept."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(upload)) as image:
            image.load()
            lossless = image.format == "PNG"
            if not lossless and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, format="PNG" if lossless else "JPEG", quality=95)
    except Exception:  # Pillow raises many kinds for a file it cannot read
        return b""
    return buffer.getvalue()


def utc_now() -> str:
    """The time as every record of the store writes it: ISO 8601, UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_label(label: object) -> str:
    """A label is 1 to 40 decimal digits (a digit, or a whole number as written)."""
    if isinstance(label, int) and not isinstance(label, bool) and label >= 0:
        label = str(label)
    if not isinstance(label, str) or not label.isascii() or not label.isdigit():
        raise InvalidArgument("label must be the digits the image shows, such as \"7\" or \"2026\"")
    if len(label) > MAX_LABEL_DIGITS:
        raise InvalidArgument(f"label is longer than {MAX_LABEL_DIGITS} digits")
    return label


def _url(store: str | os.PathLike, create: bool) -> str:
    text = os.fspath(store)
    if text.startswith(("postgresql://", "postgresql+psycopg://")):
        return text
    if "://" in text:
        raise StoreError(f"unsupported store {text!r}: give a directory or a postgresql:// URL")
    directory = Path(text)
    if directory.exists() and not directory.is_dir():
        raise StoreError(f"{directory} is not a directory (the store is a directory, or a postgresql:// URL)")
    if not create and not (directory / DATABASE_FILE).is_file():
        raise StoreError(f"{directory}: no corrections store here (`digitlab serve RUN --feedback {directory}` "
                         "makes one)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the store directory {directory}: {error.strerror}") from None
    return f"sqlite:///{(directory / DATABASE_FILE).resolve()}"


def _reason(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


class FeedbackStore:
    """Corrections in SQLite (a directory) or PostgreSQL (a URL); safe to share between threads.

    ``connect_timeout`` and ``statement_timeout`` (seconds) bound how long a store that is down, slow or
    locked can hold a request: the feedback path fails with StoreError instead of waiting on it, and the
    pool is small (prediction never needs it)."""

    def __init__(self, store: str | os.PathLike, *, max_records: int = MAX_RECORDS,
                 max_bytes: int = MAX_STORE_BYTES, create: bool = True, connect_timeout: float = 10.0,
                 statement_timeout: float = 30.0):
        import sqlalchemy as sa

        self.location, self.max_records, self.max_bytes = os.fspath(store), max_records, max_bytes
        url = _url(store, create)
        self._sqlite = url.startswith("sqlite")
        metadata = sa.MetaData()
        self._table = sa.Table(
            "corrections", metadata,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("client_id", sa.String(MAX_CLIENT_ID), unique=True, nullable=True),
            sa.Column("created_at", sa.String(32), nullable=False, index=True),
            sa.Column("label", sa.String(MAX_LABEL_DIGITS), nullable=False),
            sa.Column("prediction", sa.String(MAX_LABEL_DIGITS * 2), nullable=True),
            sa.Column("reported_prediction", sa.String(MAX_LABEL_DIGITS * 2), nullable=True),
            sa.Column("model_sha256", sa.String(64), nullable=True),
            sa.Column("inputs", sa.LargeBinary, nullable=False),
            sa.Column("upload", sa.LargeBinary, nullable=True),
            *_review_columns(sa),
        )
        self.decisions = sa.Table(
            "decisions", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("correction_id", sa.String(32), nullable=False, index=True),
            sa.Column("decided_at", sa.String(32), nullable=False),
            sa.Column("decided_by", sa.String(64), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("status_before", sa.String(16), nullable=False),
            sa.Column("label_before", sa.String(MAX_LABEL_DIGITS), nullable=False),
            sa.Column("label_after", sa.String(MAX_LABEL_DIGITS), nullable=False),
        )
        self.tokens = sa.Table(
            "tokens", metadata,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False, unique=True),
            sa.Column("created_at", sa.String(32), nullable=False),
            sa.Column("revoked_at", sa.String(32), nullable=True),
        )
        try:
            if self._sqlite:
                self._engine = sa.create_engine(url, connect_args={"timeout": statement_timeout},
                                                pool_size=2, max_overflow=2, pool_timeout=statement_timeout)
                sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            else:
                milliseconds = int(statement_timeout * 1000)
                options = f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}"
                self._engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                                pool_timeout=statement_timeout,
                                                connect_args={"connect_timeout": max(1, round(connect_timeout)),
                                                              "options": options})
            metadata.create_all(self._engine)
            self._add_missing_columns(sa)
        except Exception as error:  # OperationalError, a missing driver, a refused connection ...
            raise StoreError(f"cannot open the corrections store {self.safe_location}: {_reason(error)}") from None
        self._lock = threading.Lock()  # count-then-insert is one step per process (the cap is a soft limit)

    @property
    def engine(self):
        return self._engine

    def _add_missing_columns(self, sa) -> None:
        """A store made before review existed gets the review columns; its corrections enter as pending."""
        present = {column["name"] for column in sa.inspect(self._engine).get_columns("corrections")}
        missing = [column for column in _review_columns(sa) if column.name not in present]
        if not missing:
            return
        with self._engine.begin() as connection:
            for column in missing:
                kind = column.type.compile(dialect=self._engine.dialect)
                default = "" if column.server_default is None else f" DEFAULT '{column.server_default.arg}' NOT NULL"
                connection.execute(sa.text(f"ALTER TABLE corrections ADD COLUMN {column.name} {kind}{default}"))
            table = self._table
            connection.execute(table.update().where(table.c.proposed_label.is_(None))
                               .values(proposed_label=table.c.label))

    @property
    def safe_location(self) -> str:
        from sqlalchemy.engine import make_url

        if "://" not in self.location:
            return self.location
        try:
            return make_url(self.location).render_as_string(hide_password=True)
        except Exception:
            return "the given URL"

    def add(self, *, label: str, inputs: np.ndarray, prediction: str | None = None,
            reported_prediction: str | None = None, model_sha256: str | None = None, upload: bytes | None = None,
            client_id: str | None = None, submitted_by: str | None = None) -> tuple[str, bool]:
        """Store one correction as pending, committed before this returns: (its id, True), or, for a client
        id already stored or the same inputs with the same label, (the stored one's id, False). StoreFull
        when the store holds max_records, or max_bytes of inputs and uploads."""
        import sqlalchemy as sa
        from sqlalchemy.exc import IntegrityError

        label = check_label(label)
        inputs = np.ascontiguousarray(inputs, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
        if len(inputs) != len(label):
            raise InvalidArgument(f"label {label!r} has {len(label)} digits but {len(inputs)} inputs were given")
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID):
            raise InvalidArgument(f"client_id must be a string of 1 to {MAX_CLIENT_ID} characters")
        kept = without_metadata(upload) if upload and len(upload) <= MAX_UPLOAD_BYTES else b""
        kept = kept if kept and len(kept) <= MAX_UPLOAD_BYTES else None
        data = inputs.tobytes()
        row = {"id": uuid.uuid4().hex, "client_id": client_id,
               "created_at": utc_now(), "label": label,
               "prediction": prediction, "reported_prediction": reported_prediction, "model_sha256": model_sha256,
               "inputs": data, "upload": kept, "status": PENDING, "proposed_label": label,
               "submitted_by": submitted_by, "inputs_sha256": hashlib.sha256(data).hexdigest(),
               "size_bytes": len(data) + len(kept or b"")}
        table = self._table
        with self._lock:
            try:
                with self._engine.begin() as connection:  # one transaction, committed on leaving the block
                    if client_id is not None:
                        existing = self._id_of(connection, client_id)
                        if existing is not None:
                            return existing, False
                    same = connection.execute(sa.select(table.c.id).where(
                        table.c.inputs_sha256 == row["inputs_sha256"], table.c.proposed_label == label)).scalar()
                    if same is not None:
                        return same, False
                    count, size = connection.execute(sa.select(
                        sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.size_bytes), 0))).one()
                    if count >= self.max_records or size + row["size_bytes"] > self.max_bytes:
                        raise StoreFull(f"the corrections store is full ({count:,} of {self.max_records:,} "
                                        f"corrections, {size / 1e6:.1f} of {self.max_bytes / 1e6:.1f} MB); "
                                        "export and delete some first")
                    connection.execute(table.insert().values(**row))
            except IntegrityError:  # another process stored the same client id between our check and insert
                with self._engine.connect() as connection:
                    return self._id_of(connection, client_id), False
            except StoreError:
                raise
            except Exception as error:
                raise StoreError(f"cannot store the correction: {_reason(error)}") from None
        return row["id"], True

    def _id_of(self, connection, client_id: str) -> str | None:
        import sqlalchemy as sa

        return connection.execute(sa.select(self._table.c.id).where(self._table.c.client_id == client_id)).scalar()

    def count_by(self, submitted_by: str, status: str = PENDING) -> int:
        """How many of one sender's corrections have ``status``: what a writer's quota counts."""
        import sqlalchemy as sa

        table = self._table
        with self._engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).where(
                table.c.submitted_by == submitted_by, table.c.status == status)).scalar_one()

    def iter_records(self, statuses: tuple[str, ...] | None = None, *, uploads: bool = True,
                     batch: int = 500) -> Iterator[Correction]:
        """Corrections with one of ``statuses`` (None: all), oldest first, fetched ``batch`` rows at a time
        (without their uploads unless asked), so that an export never holds the whole store in memory."""
        import sqlalchemy as sa

        table = self._table
        columns = [column for column in table.c if uploads or column.name != "upload"]
        query = sa.select(*columns, sa.func.length(table.c.upload).label("upload_bytes"))
        query = query.order_by(table.c.created_at, table.c.id)
        if statuses is not None:
            query = query.where(table.c.status.in_(statuses))
        with self._engine.connect() as connection:
            result = connection.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield Correction(row.id, row.created_at, row.label, row.prediction, row.reported_prediction,
                                 row.model_sha256,
                                 np.frombuffer(row.inputs, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE),
                                 row.upload if uploads else None, row.client_id, row.status, row.proposed_label,
                                 row.submitted_by, row.upload_bytes)

    def records(self, statuses: tuple[str, ...] | None = None) -> list[Correction]:
        """Every correction (with one of ``statuses``), oldest first."""
        return list(self.iter_records(statuses))

    def count(self) -> int:
        import sqlalchemy as sa

        with self._engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(self._table)).scalar_one()

    def review(self, ids: list[str] | None, action: str, decided_by: str, label: str | None = None) -> list[str]:
        """Approve, reject or relabel (and so approve) the corrections ``ids`` (None: every pending one),
        recording each decision; the ids decided. InvalidArgument for an id the store lacks."""
        import sqlalchemy as sa

        if action not in ("approve", "reject", "relabel"):
            raise InvalidArgument(f"unknown review action {action!r}")
        if action == "relabel":
            label = check_label(label)
        table, now = self._table, utc_now()
        with self._engine.begin() as connection:
            query = sa.select(table.c.id, table.c.status, table.c.label, table.c.inputs)
            query = query.where(table.c.status == PENDING) if ids is None else query.where(table.c.id.in_(ids))
            rows = connection.execute(query).all()
            unknown = sorted(set(ids or ()) - {row.id for row in rows})
            if unknown:
                raise InvalidArgument(f"no correction with id {unknown[0]!r} in {self.safe_location}")
            for row in rows:
                new_label = label if action == "relabel" else row.label
                if action == "relabel" and len(new_label) * IMAGE_SIDE * IMAGE_SIDE != len(row.inputs):
                    raise InvalidArgument(f"{row.id} holds {len(row.inputs) // (IMAGE_SIDE * IMAGE_SIDE)} digits; "
                                          f"the label {new_label!r} has {len(new_label)}")
                status = REJECTED if action == "reject" else APPROVED
                connection.execute(table.update().where(table.c.id == row.id).values(status=status, label=new_label))
                connection.execute(self.decisions.insert().values(
                    correction_id=row.id, decided_at=now, decided_by=decided_by, action=action,
                    status_before=row.status, label_before=row.label, label_after=new_label))
        return [row.id for row in rows]

    def history(self, record_id: str) -> list[dict]:
        """The decisions taken on one correction, oldest first: the audit trail."""
        import sqlalchemy as sa

        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(self.decisions).where(self.decisions.c.correction_id == record_id)
                                      .order_by(self.decisions.c.id)).all()
        return [dict(row._mapping) for row in rows]

    def delete(self, record_id: str) -> bool:
        """Remove one correction; False when there is none with that id."""
        with self._engine.begin() as connection:
            return connection.execute(self._table.delete().where(self._table.c.id == record_id)).rowcount > 0

    def close(self) -> None:
        self._engine.dispose()


def _review_columns(sa) -> list:
    """The columns review, dedupe and the byte limit added (``_add_missing_columns`` gives older stores them)."""
    return [sa.Column("status", sa.String(16), nullable=False, server_default=PENDING, index=True),
            sa.Column("proposed_label", sa.String(MAX_LABEL_DIGITS), nullable=True),
            sa.Column("submitted_by", sa.String(64), nullable=True, index=True),
            sa.Column("inputs_sha256", sa.String(64), nullable=True, index=True),
            sa.Column("size_bytes", sa.Integer, nullable=False, server_default="0")]


def _sqlite_pragmas(connection, _record) -> None:
    """WAL (readers never block the writer; several processes share the file) with a full fsync at every
    commit, so that an acknowledged correction survives the process being killed, or the power."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def open_store(store: str | os.PathLike, *, max_records: int = MAX_RECORDS, max_bytes: int = MAX_STORE_BYTES,
               create: bool = True) -> FeedbackStore:
    """The store at ``store``; a directory is made (with its database) unless ``create`` is False."""
    return FeedbackStore(store, max_records=max_records, max_bytes=max_bytes, create=create)


def delete_correction(store: str | os.PathLike, record_id: str) -> None:
    """Remove one correction from the store, for good."""
    if not record_id:
        raise InvalidArgument("give the id of the correction to delete")
    corrections = open_store(store, create=False)
    try:
        if not corrections.delete(record_id):
            raise DigitlabError(f"no correction with id {record_id!r} in {corrections.safe_location}")
    finally:
        corrections.close()
