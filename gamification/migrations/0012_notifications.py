from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from gamification.notifications.models import NotificationKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_outbox_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='POINTS_EXPIRING: POINTS_EXPIRING\nTIER_AT_RISK: TIER_AT_RISK\nCHALLENGE_ENDING: CHALLENGE_ENDING\nBIRTHDAY: BIRTHDAY', enum_type=NotificationKind, max_length=24)),
                ('occasion', fields.CharField(unique=True, max_length=160)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'indexes': [Index(fields=['member_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One notice to one member about one occasion, named by its unique `occasion` key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationPreference',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='notification_preferences', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='POINTS_EXPIRING: POINTS_EXPIRING\nTIER_AT_RISK: TIER_AT_RISK\nCHALLENGE_ENDING: CHALLENGE_ENDING\nBIRTHDAY: BIRTHDAY', enum_type=NotificationKind, max_length=24)),
                ('enabled', fields.BooleanField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_preference', 'app': 'models', 'unique_together': (('member', 'kind'),), 'pk_attr': 'id', 'table_description': "A member's choice for one kind of notice. No row: the kind is on."},
            bases=['Model'],
        ),
    ]
