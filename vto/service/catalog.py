"""The garment catalog: a directory of garment photos, each optionally with a JSON sidecar.

Layout::

    catalog/
      blue-shirt.jpg           garment image (jpg, jpeg, png or webp)
      blue-shirt.json          optional: {"name": "Blue shirt", "category": "upper_body",
                                          "model_types": ["hd", "dc"]}
      .thumbs/                 thumbnail cache, written by the service

A garment's ``id`` is its file stem made safe (``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$``); ids from
requests are matched against that pattern and looked up in the index, never joined into paths.
``int_id`` is the seed server's ``clothe_id``: the 1-based position in the list sorted by file
name (the seed enumerates its sorted glob from 1), so it shifts when garments are added/removed.

The category comes from, in order: the sidecar (or the form field on upload), the file name
(the seed's keywords, e.g. ``shirt`` → upper_body, ``jeans`` → lower_body, ``dress`` → dress),
a zero-shot prediction by ``classify`` (CLIP, provided by the engine; its scores are kept and
shown), else ``upper_body`` with source ``default``.

The same class indexes one tenant's private uploads (``owner`` set; vto.service.garment_store
decides who sees which): their ids carry a random suffix, so they are unguessable and never
collide with the operator's, and they have no ``int_id``. Decoding goes through the shared
:class:`~vto.service.uploads.DecodeBudget` when one is given.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from vto.core.images import SERVICE_FORMATS, open_image
from vto.core.types import Category, ModelType, parse_category
from vto.errors import ImageTooLarge, InputNotFound, InvalidInput, Unavailable
from vto.service.storage import write_atomic
from vto.service.uploads import DecodeBudget

log = logging.getLogger(__name__)

Classifier = Callable[[Image.Image], Mapping[Category, float]]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
THUMB_DIR = ".thumbs"
MAX_PIXELS = 40_000_000
MAX_SIDE = 8192

# The seed's file-name keywords (English and Spanish), extended. Checked dress → lower → upper,
# like the seed, so "shirt-dress" is a dress. A word matches when it equals a keyword or ends
# with one ("sweatshirt", "raincoat", "minidress"), ignoring a plural s/es.
_KEYWORDS: list[tuple[Category, tuple[str, ...]]] = [
    (Category.DRESS, ("dress", "gown", "vestido", "jumpsuit", "overall", "mono")),
    (Category.LOWER_BODY, ("pants", "pant", "jean", "trouser", "skirt", "short", "legging",
                           "pantalon", "falda")),
    (Category.UPPER_BODY, ("shirt", "tshirt", "top", "blouse", "sweater", "hoodie", "jacket",
                           "coat", "tee", "camisa", "blusa", "chaqueta")),
]


def category_from_filename(filename: str) -> Category | None:
    """The category the seed would infer from a file name, or None when no keyword matches."""
    words = re.findall(r"[a-z]+", Path(filename).stem.lower())
    for category, keywords in _KEYWORDS:
        for word in words:
            for form in {word, word[:-1] if word.endswith("s") else word,
                         word[:-2] if word.endswith("es") else word}:
                if any(form == k or (form.endswith(k) and len(k) >= 4) for k in keywords):
                    return category
    return None


def model_types_for(category: Category) -> list[str]:
    """hd was trained on tops only; dc covers every category."""
    if category is Category.UPPER_BODY:
        return [ModelType.HD.value, ModelType.DC.value]
    return [ModelType.DC.value]


def make_id(stem: str) -> str:
    """A safe id from a file stem: runs of other characters become '-', at most 64 long."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).lstrip("-_")[:64].rstrip("-")
    return safe or "garment"


@dataclass(frozen=True)
class Garment:
    id: str
    int_id: int
    name: str
    category: Category
    category_source: str  # "sidecar" | "form" | "filename" | "predicted" | "pending" | "default"
    category_scores: dict[str, float] | None
    model_types: list[str]
    filename: str
    path: Path = field(repr=False, compare=False)
    owner: str | None = None  # None: the operator's catalog; else the tenant who uploaded it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready public fields (no filesystem path, no owner id)."""
        private = self.owner is not None
        return {"id": self.id, "int_id": None if private else self.int_id, "name": self.name,
                "category": self.category.value, "category_source": self.category_source,
                "category_scores": self.category_scores, "model_types": list(self.model_types),
                "filename": self.filename, "scope": "private" if private else "catalog"}

    def to_seed_dict(self) -> dict[str, Any]:
        """The seed's ``GET /clothes`` entry (``path`` is the file name, not a server path)."""
        return {"id": self.int_id, "name": self.filename, "path": self.filename,
                "category": self.category.index, "category_name": self.category.prompt_word,
                "model_type": self.model_types[0]}


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, str]:
    """Decode JPEG/PNG/WEBP bytes into an upright RGB image; returns (image, source format).

    :func:`vto.core.images.open_image` decodes (format allowlist, pixel cap checked before the
    pixels are decoded, no animations, EXIF orientation, transparency onto white, the usual
    background of catalog garment photos); the catalog is stricter still: ``MAX_SIDE`` per side.
    """
    image = open_image(data, max_pixels=max_pixels, formats=SERVICE_FORMATS,
                       name="the garment image")
    with Image.open(io.BytesIO(data), formats=list(SERVICE_FORMATS)) as header:  # header only
        source_format = header.format or "PNG"
    if max(image.size) > MAX_SIDE:
        raise ImageTooLarge(f"the garment image is {image.width}x{image.height}; the limit is "
                            f"{MAX_SIDE} per side")
    return image, source_format


class Catalog:
    """An index over a garment directory. Thread-safe; :meth:`reload` re-reads the directory.

    ``classify`` predictions are cached per (file, mtime, size), so a reload only classifies
    new or changed images.
    """

    def __init__(self, root: Path | str, classify: Classifier | None = None, *,
                 owner: str | None = None, decoding: DecodeBudget | None = None) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.classify = classify
        self.owner = owner
        self.decoding = decoding
        self._lock = threading.RLock()
        self._by_id: dict[str, Garment] = {}
        self._ordered: list[Garment] = []
        self._predictions: dict[tuple[str, int, int], dict[str, float]] = {}
        self._pending: set[str] = set()
        self.reload()

    # --- reading ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild the index from the directory."""
        files = sorted(p for p in self.root.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        ordered: list[Garment] = []
        by_id: dict[str, Garment] = {}
        for int_id, path in enumerate(files, start=1):
            garment_id = make_id(path.stem)
            n = 2
            while garment_id in by_id:  # "a b.jpg" and "a-b.png" both want "a-b"
                garment_id = f"{make_id(path.stem)[:60]}-{n}"
                n += 1
            garment = self._describe(path, garment_id, int_id)
            ordered.append(garment)
            by_id[garment_id] = garment
        with self._lock:
            self._ordered, self._by_id = ordered, by_id
        log.info("catalog %s: %d garments", self.root, len(ordered))

    def list(self) -> list[Garment]:
        with self._lock:
            return list(self._ordered)

    def get(self, id: str) -> Garment:
        if not isinstance(id, str) or not ID_PATTERN.fullmatch(id):
            raise InputNotFound(f"no garment {id!r} in the catalog")
        with self._lock:
            garment = self._by_id.get(id)
        if garment is None:
            raise InputNotFound(f"no garment {id!r} in the catalog")
        return garment

    def get_by_int(self, n: int) -> Garment:
        """The garment the seed's ``clothe_id`` names (1-based position in :meth:`list`)."""
        with self._lock:
            ordered = self._ordered
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(ordered):
            available = f"1..{len(ordered)}" if ordered else "none"
            raise InputNotFound(f"no garment with clothe_id {n!r} (available: {available})")
        return ordered[n - 1]

    def read(self, id: str) -> bytes:
        """The stored file of a garment (decode it with :func:`decode_image`)."""
        garment = self.get(id)
        try:
            return garment.path.read_bytes()
        except FileNotFoundError:
            raise InputNotFound(f"garment {id!r} was removed from the catalog") from None

    def image(self, id: str) -> Image.Image:
        data = self.read(id)
        with self._decoding(data):
            return decode_image(data)[0]

    def _decoding(self, *data: bytes) -> Any:
        return self.decoding.hold(*data) if self.decoding is not None else nullcontext()

    def thumbnail(self, id: str, size: int = 256) -> bytes:
        """A JPEG that fits in ``size``×``size``, cached in ``.thumbs`` until the image changes."""
        if not 16 <= int(size) <= 1024:
            raise InvalidInput(f"thumbnail size must be 16..1024, got {size}")
        garment = self.get(id)
        thumbs = self.root / THUMB_DIR
        cached = thumbs / f"{garment.id}-{int(size)}.jpg"
        try:
            if cached.stat().st_mtime_ns >= garment.path.stat().st_mtime_ns:
                return cached.read_bytes()
        except FileNotFoundError:
            pass
        data = self.read(id)
        with self._decoding(data):
            image = decode_image(data)[0]
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        thumbs.mkdir(exist_ok=True)
        write_atomic(cached, buffer.getvalue())
        return buffer.getvalue()

    # --- writing ------------------------------------------------------------------------------

    def add(self, data: bytes, filename: str, name: str | None = None,
            category: Category | str | None = None) -> Garment:
        """Decode, re-encode and store an uploaded garment; returns it with its new id.

        The upload bytes are never stored as such (metadata and anything hidden is dropped).
        An id already taken gets a numeric suffix; a private garment's id a random one.
        """
        chosen = parse_category(category) if category else None
        with self._decoding(data):
            image, source_format = decode_image(data)
            suffix, options = {"JPEG": (".jpg", {"quality": 95}),
                               "WEBP": (".webp", {"quality": 95})}.get(source_format, (".png", {}))
            buffer = io.BytesIO()
            image.save(buffer, {".jpg": "JPEG", ".webp": "WEBP", ".png": "PNG"}[suffix], **options)
            del image
        stem = Path(filename or "garment").stem
        base = make_id(stem)
        if self.owner is not None:
            base = f"{base[:55].rstrip('-_')}-{secrets.token_hex(4)}"
        source = "form"
        if chosen is None and (chosen := category_from_filename(stem + ".x")) is not None:
            source = "filename"  # the uploaded name says it (the stored one may not)
        with self._lock:
            garment_id, n = base, 2
            while garment_id in self._by_id or self._taken(garment_id):
                garment_id, n = f"{base[:60]}-{n}", n + 1
            sidecar: dict[str, Any] = {"name": name or stem or garment_id}
            if chosen is not None:
                sidecar["category"] = chosen.value
                sidecar["category_source"] = source
            # Sidecar first: the image appearing is what makes the garment visible.
            write_atomic(self.root / f"{garment_id}.json", json.dumps(sidecar).encode())
            write_atomic(self.root / f"{garment_id}{suffix}", buffer.getvalue())
            self.reload()
            garment = self._by_id[garment_id]
            if garment.category_source == "predicted":  # kept: not asked again after a restart
                sidecar.update(category=garment.category.value, category_source="predicted",
                               category_scores=garment.category_scores)
                write_atomic(self.root / f"{garment_id}.json", json.dumps(sidecar).encode())
            return garment

    def delete(self, id: str) -> None:
        garment = self.get(id)
        with self._lock:
            garment.path.unlink(missing_ok=True)
            garment.path.with_suffix(".json").unlink(missing_ok=True)
            for thumb in (self.root / THUMB_DIR).glob(f"{garment.id}-*.jpg"):
                thumb.unlink(missing_ok=True)
            self.reload()

    def _taken(self, stem: str) -> bool:
        return any((self.root / f"{stem}{s}").exists() for s in (*IMAGE_SUFFIXES, ".json"))

    # --- metadata -----------------------------------------------------------------------------

    def _describe(self, path: Path, garment_id: str, int_id: int) -> Garment:
        meta = self._read_sidecar(path.with_suffix(".json"))
        category, source, scores = None, "default", None
        if meta.get("category"):
            try:
                category = parse_category(str(meta["category"]))
                source = (meta["category_source"] if meta.get("category_source")
                          in ("form", "filename", "predicted") else "sidecar")
                if source == "predicted" and isinstance(meta.get("category_scores"), dict):
                    scores = {str(k): float(v) for k, v in meta["category_scores"].items()}
            except InvalidInput:
                log.warning("%s: ignoring unknown category %r", path.name, meta["category"])
        if category is None and (category := category_from_filename(path.name)) is not None:
            source = "filename"
        if category is None and self.classify is not None:
            scores = self._predict(path)
            if scores:
                category, source = Category(max(scores, key=scores.__getitem__)), "predicted"
            elif scores is None and path.name in self._pending:
                source = "pending"  # the model worker could not answer yet; retried later
        if category is None:
            category = Category.UPPER_BODY
        model_types = meta.get("model_types")
        if not (isinstance(model_types, list) and model_types
                and all(m in {"hd", "dc"} for m in model_types)):
            model_types = model_types_for(category)
        elif category is not Category.UPPER_BODY:
            model_types = [m for m in model_types if m == "dc"] or ["dc"]  # hd is tops only
        name = meta.get("name") if isinstance(meta.get("name"), str) else None
        return Garment(id=garment_id, int_id=int_id, name=name or path.stem, category=category,
                       category_source=source, category_scores=scores, model_types=model_types,
                       filename=path.name, path=path, owner=self.owner)

    @staticmethod
    def _read_sidecar(path: Path) -> dict[str, Any]:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable sidecar %s: %s", path, exc)
            return {}
        return meta if isinstance(meta, dict) else {}

    def _predict(self, path: Path) -> dict[str, float] | None:
        stat = path.stat()
        key = (path.name, stat.st_mtime_ns, stat.st_size)
        if key not in self._predictions:
            try:
                data = path.read_bytes()
                with self._decoding(data):
                    raw = self.classify(decode_image(data)[0])  # type: ignore[misc]
                self._predictions[key] = {parse_category(c).value: round(float(p), 4)
                                          for c, p in raw.items()}
                self._pending.discard(path.name)
            except Unavailable as exc:  # the worker is loading or busy: ask again later
                log.info("cannot classify %s yet: %s", path.name, exc)
                self._pending.add(path.name)
                return None
            except Exception as exc:  # a broken classifier must not take the catalog down
                log.warning("cannot classify %s: %s", path.name, exc)
                return None
        return dict(self._predictions[key])

    @property
    def pending(self) -> bool:
        """Some garments wait for a category prediction (the housekeeper reloads then)."""
        return bool(self._pending)
