from tortoise import migrations
from tortoise.migrations import operations as ops
from gamification.members.models import Role
from gamification.stores.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Store',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'store', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('credential_id', fields.UUIDField(unique=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'device', 'app': 'models', 'pk_attr': 'id', 'table_description': "A kiosk, a till or the web shop's server, registered by an admin for one store and channel."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('external_subject', fields.CharField(null=True, unique=True, max_length=255)),
                ('display_name', fields.CharField(max_length=40)),
                ('birthday', fields.DateField(null=True)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('marketing_consent', fields.BooleanField(default=False)),
                ('leaderboard_visible', fields.BooleanField(default=True)),
                ('role', fields.CharEnumField(default=Role.MEMBER, description='MEMBER: member\nSTAFF: staff\nADMIN: admin', enum_type=Role, max_length=16)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.RESTRICT)),
                ('card_number', fields.CharField(unique=True, max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'member', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Everyone who logs in. Loyalty members have role `member`, staff work in one store.'},
            bases=['Model'],
        ),
    ]
