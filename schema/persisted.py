"""The registered set: the app's operations, one per file in `schema/registered_operations/`,
known by the SHA-256 of the file's text. In allow-list mode (`LOYALTY_PERSISTED_QUERIES=
allowlist`) only these run, over HTTP (by hash, see `server.persisted_queries`) and over
WebSockets alike (`AllowListOnly`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Final

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

OPERATIONS_DIR: Final = Path(__file__).resolve().parent / "registered_operations"


def document_hash(document: str) -> str:
    """The hex SHA-256 of the document's UTF-8 text, as clients send it in `sha256Hash`."""
    return hashlib.sha256(document.encode()).hexdigest()


@lru_cache(maxsize=1)
def registered_set() -> dict[str, str]:
    """hash -> document, for every file of the registered set."""
    return {
        document_hash(text): text
        for text in (path.read_text() for path in sorted(OPERATIONS_DIR.glob("*.graphql")))
    }


def not_allowed() -> GraphQLError:
    return GraphQLError(
        "Only the registered operations run here (send their sha256Hash)",
        extensions={"code": "PERSISTED_QUERY_NOT_ALLOWED"},
    )


class AllowListOnly(SchemaExtension):
    """Refuses, before parsing, any document that is not in the registered set."""

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is None or document_hash(query) not in registered_set():
            raise not_allowed()
        yield
