"""Person checks: none, several, largest, and the body parts each category needs."""

from __future__ import annotations

import pytest

from vto.core.preprocess.openpose import Person
from vto.core.preprocess.persons import check_person, missing_parts, select_person
from vto.core.types import Category
from vto.errors import (BodyPartsNotVisible, InvalidInput, NoPersonFound, PersonCheckFailed,
                        SeveralPersonsFound)


def make_person(visible: range | list[int] = range(18), scale: float = 1.0, dx: float = 100,
                score: float = 10.0) -> Person:
    base = [(60, 60), (60, 100), (35, 100), (25, 160), (20, 220), (85, 100), (95, 160),
            (100, 220), (45, 230), (45, 320), (45, 410), (75, 230), (75, 320), (75, 410),
            (52, 52), (68, 52), (45, 58), (75, 58)]
    points = [(x * scale + dx, y * scale) if i in visible else None
              for i, (x, y) in enumerate(base)]
    scores = [1.0 if p else None for p in points]
    return Person(points, scores, score, sum(p is not None for p in points))


def test_no_person():
    with pytest.raises(NoPersonFound, match="no person found") as info:
        select_person([])
    assert isinstance(info.value, PersonCheckFailed) and info.value.status == 422
    assert "\n" not in str(info.value)


def test_several_people_and_largest():
    big, small = make_person(scale=1.5), make_person(scale=0.5)
    with pytest.raises(SeveralPersonsFound, match="2 people") as info:
        select_person([big, small])
    assert info.value.extra["count"] == 2
    assert select_person([big, small], "largest") is big
    assert select_person([big]) is big
    with pytest.raises(InvalidInput, match="person_select"):
        select_person([big], "smallest")


@pytest.mark.parametrize("category,hidden,named", [
    (Category.UPPER_BODY, [1], ["neck"]),
    (Category.UPPER_BODY, [2, 5], ["right shoulder", "left shoulder"]),
    (Category.LOWER_BODY, [8], ["right hip"]),
    (Category.LOWER_BODY, [9, 12], ["right knee or left knee"]),
    (Category.DRESS, [11], ["left hip"]),
    (Category.DRESS, [5], ["left shoulder"]),
])
def test_missing_body_parts(category, hidden, named):
    person = make_person([i for i in range(18) if i not in hidden])
    assert missing_parts(person, category) == named
    with pytest.raises(BodyPartsNotVisible) as info:
        check_person([person], category)
    message = str(info.value)
    assert all(name in message for name in named) and "\n" not in message
    assert info.value.extra["missing"] == named


def test_enough_parts_pass():
    # upper body: a half-body photo without legs is fine
    half = make_person(list(range(8)) + [14, 15, 16, 17])
    assert check_person([half], Category.UPPER_BODY) is half
    # lower body: one knee is enough
    legs = make_person([8, 11, 9])
    assert check_person([legs], Category.LOWER_BODY) is legs
    with pytest.raises(BodyPartsNotVisible, match="hip"):
        check_person([half], Category.DRESS)
