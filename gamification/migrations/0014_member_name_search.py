from tortoise import migrations
from tortoise.migrations import operations as ops

# The admins' search by the start of a member's name (gamification.members.search) compares
# lower(display_name) with LIKE 'prefix%'. On PostgreSQL text_pattern_ops lets the index serve
# that whatever the database's collation; SQLite has no operator classes (and no need).
_CREATE_POSTGRES = (
    "CREATE INDEX IF NOT EXISTS member_name_prefix_idx "
    "ON member (lower(display_name) text_pattern_ops)"
)
_CREATE_SQLITE = "CREATE INDEX IF NOT EXISTS member_name_prefix_idx ON member (lower(display_name))"


async def create_index(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_script(_CREATE_POSTGRES if postgres else _CREATE_SQLITE)


async def drop_index(apps, schema_editor):
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS member_name_prefix_idx")


class Migration(migrations.Migration):
    dependencies = [('models', '0013_account_closed')]

    initial = False

    operations = [
        ops.RunPython(create_index, drop_index),
    ]
