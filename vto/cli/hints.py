"""Errors said in the CLI's own terms: where a message tells the user to "pass your own mask",
the command names its flag for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vto.errors import PersonCheckFailed

OWN_MASK = "pass your own mask"


@contextmanager
def own_mask_flag(flag: str = "--mask PATH") -> Iterator[None]:
    """Re-raise a person check whose hint is "pass your own mask" with the flag that does it."""
    try:
        yield
    except PersonCheckFailed as exc:
        if OWN_MASK not in exc.detail:
            raise
        raise type(exc)(exc.detail.replace(OWN_MASK, f"{OWN_MASK} with {flag}"),
                        **exc.extra) from None
