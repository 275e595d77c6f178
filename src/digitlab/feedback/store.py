"""The corrections store: what a person said a reading should have been, kept safely for the next model.

One small storage layer (SQLAlchemy Core) over two databases with the same schema:

- a directory: an embedded SQLite database, ``corrections.db``, in WAL mode with full fsync, so that a
  correction committed before its 201 survives a kill -9 of the server (and a power cut); several
  worker processes on one machine share it (WAL lets readers and one writer work at once);
- a ``postgresql://`` URL, when several servers share one store.

Each correction is one row, written in one transaction: the 28x28 input or inputs the model saw (one
per digit of the label), the original upload (size-capped, optional), the model's reading of those
inputs, the reading the client said it showed (optional), the correct label, the model's SHA-256, the
time, and an optional client id. A client id is unique: a re-sent correction is stored once and answered
with the first one's id. No IP address, header or cookie is stored.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data import IMAGE_SIDE
from digitlab.errors import DigitlabError, InvalidArgument

DATABASE_FILE = "corrections.db"
MAX_RECORDS = 100_000  # a store holding this many corrections takes no more (delete or export some first)
MAX_UPLOAD_BYTES = 1024 * 1024  # larger originals are not kept (the 28x28 inputs always are)
MAX_LABEL_DIGITS = 40
MAX_CLIENT_ID = 128


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

    def summary(self) -> dict:
        """The record without its pixels, for listings."""
        return {"id": self.id, "created_at": self.created_at, "label": self.label, "prediction": self.prediction,
                "reported_prediction": self.reported_prediction, "model_sha256": self.model_sha256,
                "upload_bytes": None if self.upload is None else len(self.upload), "client_id": self.client_id}


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
    """Corrections in SQLite (a directory) or PostgreSQL (a URL); safe to share between threads."""

    def __init__(self, store: str | os.PathLike, *, max_records: int = MAX_RECORDS, create: bool = True):
        import sqlalchemy as sa

        self.location, self.max_records = os.fspath(store), max_records
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
        )
        try:
            if self._sqlite:
                self._engine = sa.create_engine(url, connect_args={"timeout": 30})
                sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            else:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
            metadata.create_all(self._engine)
        except Exception as error:  # OperationalError, a missing driver, a refused connection ...
            raise StoreError(f"cannot open the corrections store {self.safe_location}: {_reason(error)}") from None
        self._lock = threading.Lock()  # count-then-insert is one step per process (the cap is a soft limit)

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
            client_id: str | None = None) -> tuple[str, bool]:
        """Store one correction, committed before this returns: (its id, True), or, for a client id
        already stored, (the stored one's id, False). StoreFull when the store holds max_records."""
        import sqlalchemy as sa
        from sqlalchemy.exc import IntegrityError

        label = check_label(label)
        inputs = np.ascontiguousarray(inputs, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
        if len(inputs) != len(label):
            raise InvalidArgument(f"label {label!r} has {len(label)} digits but {len(inputs)} inputs were given")
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID):
            raise InvalidArgument(f"client_id must be a string of 1 to {MAX_CLIENT_ID} characters")
        row = {"id": uuid.uuid4().hex, "client_id": client_id,
               "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "label": label,
               "prediction": prediction, "reported_prediction": reported_prediction, "model_sha256": model_sha256,
               "inputs": inputs.tobytes(), "upload": upload if upload and len(upload) <= MAX_UPLOAD_BYTES else None}
        with self._lock:
            try:
                with self._engine.begin() as connection:  # one transaction, committed on leaving the block
                    if client_id is not None:
                        existing = self._id_of(connection, client_id)
                        if existing is not None:
                            return existing, False
                    count = connection.execute(sa.select(sa.func.count()).select_from(self._table)).scalar_one()
                    if count >= self.max_records:
                        raise StoreFull(f"the corrections store is full ({count:,} of {self.max_records:,}); "
                                        "export and delete some first")
                    connection.execute(self._table.insert().values(**row))
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

    def records(self) -> list[Correction]:
        """Every correction, oldest first."""
        import sqlalchemy as sa

        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(self._table).order_by(self._table.c.created_at, self._table.c.id))
            return [Correction(row.id, row.created_at, row.label, row.prediction, row.reported_prediction,
                               row.model_sha256,
                               np.frombuffer(row.inputs, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE),
                               row.upload, row.client_id) for row in rows]

    def count(self) -> int:
        import sqlalchemy as sa

        with self._engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(self._table)).scalar_one()

    def delete(self, record_id: str) -> bool:
        """Remove one correction; False when there is none with that id."""
        with self._engine.begin() as connection:
            return connection.execute(self._table.delete().where(self._table.c.id == record_id)).rowcount > 0

    def close(self) -> None:
        self._engine.dispose()


def _sqlite_pragmas(connection, _record) -> None:
    """WAL (readers never block the writer; several processes share the file) with a full fsync at every
    commit, so that an acknowledged correction survives the process being killed, or the power."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def open_store(store: str | os.PathLike, *, max_records: int = MAX_RECORDS, create: bool = True) -> FeedbackStore:
    """The store at ``store``; a directory is made (with its database) unless ``create`` is False."""
    return FeedbackStore(store, max_records=max_records, create=create)


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
