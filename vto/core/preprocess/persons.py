"""Person checks on the pose result, before any diffusion runs.

The original takes the first detected person and crashes when there is none. vto refuses
clearly instead: no person, several people (unless the caller asks for the largest), or a
person whose body parts needed for the garment category are not visible.
"""

from __future__ import annotations

from typing import Literal

from vto.core.preprocess.openpose import PART_NAMES, Person
from vto.core.types import Category
from vto.errors import BodyPartsNotVisible, InvalidInput, NoPersonFound, SeveralPersonsFound

PersonSelect = Literal["error", "largest"]
PERSON_SELECT_VALUES = ("error", "largest")

NECK, R_SHOULDER, L_SHOULDER, R_HIP, R_KNEE, L_HIP, L_KNEE = 1, 2, 5, 8, 9, 11, 12

# Per category: parts that must all be visible, and groups of which one must be visible.
REQUIRED_PARTS: dict[Category, tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]] = {
    # the mask follows the shoulders and arms; the neck anchors the collar
    Category.UPPER_BODY: ((NECK, R_SHOULDER, L_SHOULDER), ()),
    # trousers/skirts need the waist and at least some leg
    Category.LOWER_BODY: ((R_HIP, L_HIP), ((R_KNEE, L_KNEE),)),
    # a dress spans shoulders to hips
    Category.DRESS: ((R_SHOULDER, L_SHOULDER, R_HIP, L_HIP), ()),
}


def select_person(people: list[Person], person_select: PersonSelect | str = "error") -> Person:
    """The one person to dress. ``people`` must be sorted most prominent first (as the
    detector returns them). ``person_select="largest"`` picks the first of several."""
    if person_select not in PERSON_SELECT_VALUES:
        raise InvalidInput(f"person_select must be 'error' or 'largest', got {person_select!r}")
    if not people:
        raise NoPersonFound("no person found in the photo; use a photo that shows one person "
                            "from the front, or pass your own mask")
    if len(people) > 1 and person_select == "error":
        raise SeveralPersonsFound(f"{len(people)} people found in the photo; crop it to one "
                                  "person or choose the largest one (person_select='largest')",
                                  count=len(people))
    return people[0]


def missing_parts(person: Person, category: Category) -> list[str]:
    """Names of the body parts ``category`` needs that ``person`` does not show."""
    all_of, one_of = REQUIRED_PARTS[category]
    visible = set(person.visible)
    missing = [PART_NAMES[p] for p in all_of if p not in visible]
    for group in one_of:
        if not visible.intersection(group):
            missing.append(" or ".join(PART_NAMES[p] for p in group))
    return missing


def check_body_parts(person: Person, category: Category) -> None:
    """Raise BodyPartsNotVisible naming what is missing for this garment category."""
    missing = missing_parts(person, category)
    if missing:
        raise BodyPartsNotVisible(
            f"the photo does not show the {', '.join(missing)} needed for a "
            f"{category.value.replace('_', '-')} garment", missing=missing)


def check_person(people: list[Person], category: Category,
                 person_select: PersonSelect | str = "error") -> Person:
    """select_person + check_body_parts: the person to dress, or a PersonCheckFailed."""
    person = select_person(people, person_select)
    check_body_parts(person, category)
    return person
