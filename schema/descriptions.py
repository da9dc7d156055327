"""Descriptions that mean the same wherever a name appears: Relay's connection parts, every
payload's `errors` and `replayed`, the paging and idempotency arguments, a Node's `id`.

`describe_common` gives them to every element of the built schema that has no description of
its own (one written beside a field always wins), so that each such element is described once,
here, instead of in every type. Coverage is checked by `tests/schema/test_descriptions.py`.
"""

from __future__ import annotations

from typing import Final

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

# Fields, by name, in any object type whose name ends with the key's first part ("" = any).
_FIELDS: Final[dict[tuple[str, str], str]] = {
    ("Payload", "errors"): (
        "Expected failures (docs/errors.md); empty when the mutation succeeded. When not "
        "empty, nothing changed."
    ),
    ("Payload", "replayed"): (
        "True when this is the stored answer to an earlier request with the same "
        "idempotency key: nothing was done again."
    ),
    ("Connection", "edges"): "This page's items, in the connection's order.",
    ("Connection", "pageInfo"): "Where this page is in the whole list, for the next request.",
    ("Edge", "cursor"): "Pass as `after` to get the items following this one.",
    ("Edge", "node"): "The item.",
}

# Arguments, by name, of any field.
_ARGUMENTS: Final[dict[str, str]] = {
    "first": "How many items to return (at most `LOYALTY_MAX_PAGE_SIZE`).",
    "after": "A cursor from a previous page (`pageInfo.endCursor`): items after it.",
    "idempotencyKey": (
        "A key the client makes once per intended change (a UUID, say) and sends again on "
        "every retry of it: the change happens at most once, and a retry gets the first "
        "answer (`replayed: true`). Reusing a key for a different request is refused."
    ),
}

_NODE_ID: Final = "The object's global ID (opaque; `node(id:)` fetches it)."


def describe_common(schema: GraphQLSchema) -> None:
    """Fill in the shared descriptions where an element has none."""
    node = schema.type_map.get("Node")
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        for field_name, field in graphql_type.fields.items():
            if not field.description:
                if field_name == "id" and (
                    graphql_type is node or node in getattr(graphql_type, "interfaces", ())
                ):
                    field.description = _NODE_ID
                for (suffix, name), text in _FIELDS.items():
                    if name == field_name and type_name.endswith(suffix):
                        field.description = text
            for argument_name, argument in field.args.items():
                if not argument.description and argument_name in _ARGUMENTS:
                    argument.description = _ARGUMENTS[argument_name]
