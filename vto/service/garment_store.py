"""Garments as callers see them: the operator's catalog (shared, read-only to tenants) and each
tenant's private uploads.

    store.list(caller)              the operator's garments, then the caller's own
    store.get(id, owner)            the caller's own garment of that id, else the operator's
    store.add(data, …, caller)      admin: into the operator's catalog; tenant: private
    store.delete(id, caller)        own garments; the operator's only with an admin key
    store.thumbnail(id, token)      operator garments openly; private ones with the token of
                                    their ``thumbnail_url`` (an <img> tag cannot send a key)

Who may do what:

* The **operator's catalog** (``VTO_CATALOG``, a directory) is visible to every caller. Only a
  caller with an admin key (``VTO_ADMIN_KEYS``) may add to it or delete from it over HTTP. With
  no admin keys configured it cannot be changed over HTTP at all (the operator edits the
  directory): a catalog every tenant shares must not be writable by whoever reaches the port,
  and "loopback only" is no safe default, since a reverse proxy on the same host makes every
  client look local.
* A **tenant's uploads** live under ``DATA_DIR/garments/<owner>/``; only that tenant lists,
  reads, uses and deletes them; another tenant gets 404 (existence is not revealed). At most
  ``max_garments_per_key`` each (409 beyond). On a server without API keys every caller is the
  one anonymous tenant, so uploads are shared among all callers, like jobs.

Every decode (uploads, thumbnails, category predictions) goes through the shared decode budget.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from pathlib import Path
from typing import Any

from vto.errors import Conflict, Forbidden, InputNotFound
from vto.service.callers import Caller
from vto.service.catalog import Catalog, Classifier, Garment
from vto.service.uploads import DecodeBudget

_OWNER = re.compile(r"[0-9a-f]{16}")
ANONYMOUS_DIR = "anonymous"


class GarmentStore:
    def __init__(self, catalog: Catalog, private_root: Path, *, signing_key: bytes,
                 classify: Classifier | None = None, decoding: DecodeBudget | None = None,
                 max_per_owner: int = 100) -> None:
        self.catalog = catalog
        self.private_root = Path(private_root)
        self.signing_key = signing_key
        self.classify = classify
        self.decoding = decoding
        self.max_per_owner = max_per_owner
        self._private: dict[str, Catalog] = {}
        self._lock = threading.Lock()

    # --- the caller's garments ----------------------------------------------------------------
    def _dir(self, owner: str) -> Path:
        if owner == "":
            return self.private_root / ANONYMOUS_DIR
        if not _OWNER.fullmatch(owner):  # owner ids are key digests; never a path of a client's
            raise ValueError(f"not an owner id: {owner!r}")
        return self.private_root / owner

    def private(self, owner: str, *, create: bool = False) -> Catalog | None:
        """The tenant's own catalog (None when it never uploaded and ``create`` is False)."""
        with self._lock:
            catalog = self._private.get(owner)
            if catalog is None:
                root = self._dir(owner)
                if not create and not root.is_dir():
                    return None
                catalog = Catalog(root, classify=self.classify, owner=owner,
                                  decoding=self.decoding)
                self._private[owner] = catalog
            return catalog

    def list(self, caller: Caller) -> list[Garment]:
        own = self.private(caller.owner)
        return self.catalog.list() + (own.list() if own is not None else [])

    def get(self, garment_id: str, owner: str | None) -> Garment:
        """The garment ``garment_id`` as ``owner`` sees it (None: the operator's catalog only)."""
        return self._holder(garment_id, owner).get(garment_id)

    def _holder(self, garment_id: str, owner: str | None) -> Catalog:
        if owner is not None:
            own = self.private(owner)
            if own is not None:
                try:
                    own.get(garment_id)
                    return own
                except InputNotFound:
                    pass
        self.catalog.get(garment_id)  # InputNotFound when neither has it
        return self.catalog

    def read(self, garment_id: str, owner: str | None) -> bytes:
        """The stored file of a garment the owner may use."""
        return self._holder(garment_id, owner).read(garment_id)

    def get_by_int(self, n: int) -> Garment:
        """The seed's ``clothe_id``: positions in the operator's catalog only."""
        return self.catalog.get_by_int(n)

    # --- changes ------------------------------------------------------------------------------
    def add(self, data: bytes, filename: str, name: str | None, category: Any,
            caller: Caller) -> Garment:
        if caller.admin:
            return self.catalog.add(data, filename, name, category)
        own = self.private(caller.owner, create=True)
        assert own is not None
        if len(own.list()) >= self.max_per_owner:
            raise Conflict(f"this key already has {self.max_per_owner} garments; delete some "
                           "first (DELETE /v1/garments/{id})")
        return own.add(data, filename, name, category)

    def delete(self, garment_id: str, caller: Caller) -> None:
        holder = self._holder(garment_id, caller.owner)
        if holder is self.catalog and not caller.admin:
            raise Forbidden(f"garment {garment_id} is in the operator's catalog; removing it "
                            "needs an admin key (VTO_ADMIN_KEYS)")
        holder.delete(garment_id)

    # --- thumbnails ---------------------------------------------------------------------------
    def thumbnail_token(self, garment: Garment) -> str | None:
        """The token a private garment's thumbnail URL carries (None for the operator's)."""
        if garment.owner is None:
            return None
        digest = hmac.new(self.signing_key, f"{garment.owner}/{garment.id}".encode(),
                          hashlib.sha256).hexdigest()[:32]
        return f"{garment.owner or ANONYMOUS_DIR}.{digest}"

    def thumbnail(self, garment_id: str, token: str | None) -> bytes:
        """A JPEG thumbnail: of an operator garment, or of a private one whose token is right
        (anything else is 404, as an unknown id)."""
        if token:
            owner_part, _, _ = token.partition(".")
            owner = "" if owner_part == ANONYMOUS_DIR else owner_part
            if owner == "" or _OWNER.fullmatch(owner):
                own = self.private(owner)
                if own is not None:
                    try:
                        garment = own.get(garment_id)
                    except InputNotFound:
                        garment = None
                    expected = self.thumbnail_token(garment) if garment is not None else None
                    if expected is not None and hmac.compare_digest(expected, token):
                        return own.thumbnail(garment_id)
        return self.catalog.thumbnail(garment_id)

    # --- upkeep -------------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        with self._lock:
            privates = list(self._private.values())
        return self.catalog.pending or any(c.pending for c in privates)

    def reload_pending(self) -> None:
        """Ask again for the categories the model worker could not predict yet."""
        with self._lock:
            privates = list(self._private.values())
        for catalog in (self.catalog, *privates):
            if catalog.pending:
                catalog.reload()
