from __future__ import annotations

from pathlib import Path

from schema.schema import build_schema
from server.settings import Settings

CHECKED_IN = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_checked_in_sdl_matches_the_live_schema() -> None:
    # when the schema changes on purpose: `loyalty export-schema` and commit schema.graphql
    live = build_schema(Settings()).as_str() + "\n"

    assert CHECKED_IN.read_text() == live


def test_root_fields_the_clients_code_against_exist() -> None:
    schema = build_schema(Settings())._schema
    assert schema.query_type is not None
    assert schema.mutation_type is not None

    query_fields = set(schema.query_type.fields)
    mutation_fields = set(schema.mutation_type.fields)
    assert {"me", "node"} <= query_fields
    assert {
        "signUp",
        "logIn",
        "updateProfile",
        "recordPurchase",
        "refundPurchase",
        "adjustPoints",
    } <= mutation_fields
