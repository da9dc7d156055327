from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_gamification')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChallengeContribution',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('progress', fields.ForeignKeyField('models.ChallengeProgress', source_field='progress_id', db_constraint=True, to_field='id', related_name='contributions', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.BigIntField(db_index=True)),
                ('number', fields.IntField()),
                ('day', fields.DateField()),
                ('amount', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('reversed_amount', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('withdrawn', fields.BooleanField(default=False)),
            ],
            options={'table': 'challenge_contribution', 'app': 'models', 'unique_together': (('progress', 'event_id'),), 'indexes': [Index(fields=['progress_id', 'number'])], 'pk_attr': 'id', 'table_description': "What one purchase event added to a member's challenge progress, so that a refund can"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ChallengeCompletion',
            name='revoked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ChallengeProgress',
            name='revoked',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='EcoActionKind',
            name='active',
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
