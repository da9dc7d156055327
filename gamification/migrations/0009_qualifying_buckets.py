from tortoise import migrations
from tortoise.migrations import operations as ops
from gamification.tiers.models import BucketSpan
from tortoise.fields.base import OnDelete
from tortoise import fields

# The buckets of the events already recorded: one UTC day and one UTC month per event, summed.
_BACKFILL_POSTGRES = """
INSERT INTO qualifying_points_bucket (member_id, span, starts_on, points)
SELECT member_id, 'day', (occurred_at AT TIME ZONE 'UTC')::date, SUM(qualifying_points)
FROM domain_event WHERE qualifying_points <> 0 GROUP BY 1, 2, 3
UNION ALL
SELECT member_id, 'month', date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
    SUM(qualifying_points)
FROM domain_event WHERE qualifying_points <> 0 GROUP BY 1, 2, 3
"""
_BACKFILL_SQLITE = """
INSERT INTO qualifying_points_bucket (member_id, span, starts_on, points)
SELECT member_id, 'day', date(occurred_at), SUM(qualifying_points)
FROM domain_event WHERE qualifying_points <> 0 GROUP BY 1, 2, 3
UNION ALL
SELECT member_id, 'month', strftime('%Y-%m-01', occurred_at), SUM(qualifying_points)
FROM domain_event WHERE qualifying_points <> 0 GROUP BY 1, 2, 3
"""


async def backfill(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_script(_BACKFILL_POSTGRES if postgres else _BACKFILL_SQLITE)


async def forget(apps, schema_editor):
    return None


class Migration(migrations.Migration):
    dependencies = [('models', '0008_consent')]

    initial = False

    operations = [
        ops.CreateModel(
            name='QualifyingPointsBucket',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='qualifying_buckets', on_delete=OnDelete.CASCADE)),
                ('span', fields.CharEnumField(description='DAY: day\nMONTH: month', enum_type=BucketSpan, max_length=8)),
                ('starts_on', fields.DateField()),
                ('points', fields.BigIntField(default=0)),
            ],
            options={'table': 'qualifying_points_bucket', 'app': 'models', 'unique_together': (('member', 'span', 'starts_on'),), 'pk_attr': 'id', 'table_description': "The member's qualifying points (Σ `DomainEvent.qualifying_points`) of the events that"},
            bases=['Model'],
        ),
        ops.RunPython(backfill, forget),
    ]
