"""The privacy registry names every table that points at a member."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.fields.relational import ForeignKeyFieldInstance, OneToOneFieldInstance
from tortoise.models import Model

from gamification.ledger.models import LedgerAccount
from gamification.members.models import Member
from gamification.privacy.registry import BY_MODEL, TABLES


def _points_at(model: type[Model], targets: set[type[Model]]) -> bool:
    for field in model._meta.fields_map.values():
        if (
            isinstance(field, ForeignKeyFieldInstance | OneToOneFieldInstance)
            and field.related_model in targets
        ):
            return True
    return any(
        name == "member_id" or name.endswith("_member_id")
        for name in model._meta.fields_db_projection.values()
    )


def _models_about_members() -> set[type[Model]]:
    """Models with a key to a member, to a member's ledger account, or to such a model."""
    models = set(Tortoise.apps["models"].values())
    about: set[type[Model]] = {Member, LedgerAccount}
    while True:
        more = {m for m in models - about if _points_at(m, about)}
        if not more:
            return about
        about |= more


def test_every_model_that_points_at_a_member_is_registered() -> None:
    # given
    about = _models_about_members()

    # then
    missing = sorted(m.__name__ for m in about if m not in BY_MODEL)
    assert not missing, (
        "register these in gamification/privacy/registry.py (how to export and erase them): "
        f"{missing}"
    )


def test_every_registered_table_is_a_model_and_has_one_section() -> None:
    models = set(Tortoise.apps["models"].values())
    assert all(table.model in models for table in TABLES)
    sections = [table.section for table in TABLES]
    assert len(sections) == len(set(sections))
    for table in TABLES:
        columns = table.model._meta.fields_db_projection
        assert set(table.blank) <= set(columns), table.model.__name__
        assert set(table.withheld) <= set(columns), table.model.__name__
