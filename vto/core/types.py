"""Small value types shared by every layer: model types, garment categories, framing modes."""

from __future__ import annotations

import enum

from vto.errors import InvalidInput


class ModelType(str, enum.Enum):
    """Which published weights: 'hd' (half-body, tops only) or 'dc' (full-body, all categories)."""

    HD = "hd"
    DC = "dc"


class Category(str, enum.Enum):
    """Garment category. The value is vto's public name (also used by the service)."""

    UPPER_BODY = "upper_body"
    LOWER_BODY = "lower_body"
    DRESS = "dress"

    @property
    def index(self) -> int:
        """The original's integer category (run_ootd.py --category, Flask 'category')."""
        return list(Category).index(self)

    @classmethod
    def from_index(cls, index: int) -> "Category":
        try:
            return list(Category)[int(index)]
        except (IndexError, ValueError):
            raise InvalidInput(f"category index must be 0, 1 or 2, got {index!r}") from None

    @property
    def prompt_word(self) -> str:
        """The text the original feeds the dc text encoder ('upperbody', 'lowerbody', 'dress')."""
        return {"upper_body": "upperbody", "lower_body": "lowerbody", "dress": "dress"}[self.value]


class Framing(str, enum.Enum):
    """How the person photo is brought to the model's working size and back.

    ``keep`` (default): a 3:4 window around the person, results pasted back into the original
    photo at its own resolution (only the re-generated region changes).
    ``stretch``: the original's behaviour, both images squashed to the working size and the
    decoded image returned as is.
    """

    KEEP = "keep"
    STRETCH = "stretch"


def parse_model_type(value: str | ModelType) -> ModelType:
    try:
        return ModelType(value)
    except ValueError:
        raise InvalidInput(f"model type must be 'hd' or 'dc', got {value!r}") from None


def parse_category(value: str | Category) -> Category:
    aliases = {"upperbody": "upper_body", "lowerbody": "lower_body", "dresses": "dress",
               "upper": "upper_body", "lower": "lower_body"}
    if isinstance(value, str):
        value = aliases.get(value.strip().lower(), value.strip().lower())
    try:
        return Category(value)
    except ValueError:
        raise InvalidInput(
            f"category must be one of upper_body, lower_body, dress, got {value!r}") from None


def check_combination(model_type: ModelType, category: Category) -> None:
    """hd weights were trained on tops only; the original's run_ootd.py refuses the rest too."""
    if model_type is ModelType.HD and category is not Category.UPPER_BODY:
        raise InvalidInput(
            f"model type 'hd' supports only category 'upper_body' (got '{category.value}'); "
            "use model type 'dc' for lower_body and dress")
