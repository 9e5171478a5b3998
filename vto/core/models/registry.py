"""Every model vto serves, by id (torch-free: the API validates against these specs).

To add a model: a package under vto/core/models/ with a torch-free ``spec.py`` holding its
:class:`~vto.core.models.base.ModelSpec`, and a line in :data:`SPECS`.
"""

from __future__ import annotations

from vto.core.models.base import ModelSpec
from vto.core.models.catvton.spec import CATVTON
from vto.core.models.cp_vton_plus.spec import CP_VTON_PLUS
from vto.core.models.hr_viton.spec import HR_VITON
from vto.core.models.ootd.spec import OOTD_DC, OOTD_HD
from vto.core.models.viton_hd.spec import VITON_HD
from vto.errors import InvalidInput

SPECS: tuple[ModelSpec, ...] = (OOTD_HD, OOTD_DC, CATVTON, VITON_HD, HR_VITON, CP_VTON_PLUS)
# Names that mean another model, with the line to tell the user.
NOTICES = {"cp-vton": "cp-vton has no published weights; using CP-VTON+ (cp-vton-plus)"}
DEFAULT_MODEL = OOTD_HD.id

_BY_NAME = {name: spec for spec in SPECS for name in (spec.id, *spec.aliases)}


def model_ids() -> list[str]:
    return [spec.id for spec in SPECS]


def notice(name: str) -> str | None:
    """A line to show when ``name`` stands in for another model (None for a plain id)."""
    return NOTICES.get(str(name).strip().lower())


def get_spec(name: str) -> ModelSpec:
    """The spec for a model id or alias (case-insensitive); InvalidInput naming the choices."""
    spec = _BY_NAME.get(str(name).strip().lower())
    if spec is None:
        raise InvalidInput(f"unknown model {name!r}; choose one of {', '.join(model_ids())}")
    return spec
