"""The client kit: every example operation (the app's and kiosk's registered set, the admin
console's examples in clients/operations) is valid against the schema the server runs, and a
TypeScript client generated from schema.graphql with graphql-codegen compiles under
`tsc --strict` (clients/typescript; its node_modules are installed with `npm ci`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse, validate

from server.settings import Settings
from tests.factories import schema_for
from tests.server.node import installed_node_modules

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "clients" / "typescript"
OPERATION_FILES = sorted(
    [
        *(ROOT / "schema" / "registered_operations").glob("*.graphql"),
        *(ROOT / "clients" / "operations").rglob("*.graphql"),
    ]
)
STEP_TIMEOUT_SECONDS = 180
# The same in both CI passes (and two builds at once would write one generated file): once.
pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("path", OPERATION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_operation_is_valid_against_the_schema(path: Path, settings: Settings) -> None:
    document = parse(path.read_text())

    errors = validate(schema_for(settings)._schema, document)

    assert errors == []
    names = [
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    ]
    assert names == [path.stem], "one named operation per file, named as the file"


def test_there_are_examples_for_the_app_the_kiosk_and_the_admin_console() -> None:
    names = {path.stem for path in OPERATION_FILES}
    assert {"HomeScreen", "RedeemWithToken", "Members"} <= names


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=KIT, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS
    )


def test_the_generated_typescript_client_compiles_strictly() -> None:
    npm = installed_node_modules("the TypeScript client kit", KIT).npm

    generated = _run(npm, "run", "--silent", "generate")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    checked = _run(npm, "run", "--silent", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    types = (KIT / "src" / "generated" / "graphql.ts").read_text()
    assert "export type HomeScreenQuery" in types
    assert "Decimal: { input: string; output: string; }" in types
