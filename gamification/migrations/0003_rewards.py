from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from gamification.rewards.models import HoldStatus, LimitPeriod, RedemptionStatus, RewardKind
from gamification.stores.models import Channel
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_ledger')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PointsHold',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.RESTRICT)),
                ('points', fields.BigIntField()),
                ('captured', fields.BigIntField(default=0)),
                ('status', fields.CharEnumField(default=HoldStatus.ACTIVE, description='ACTIVE: ACTIVE\nCAPTURED: CAPTURED\nRELEASED: RELEASED\nEXPIRED: EXPIRED', enum_type=HoldStatus, max_length=16)),
                ('reference', fields.CharField(max_length=128)),
                ('device_id', fields.IntField()),
                ('store_id', fields.IntField()),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'points_hold', 'app': 'models', 'indexes': [Index(fields=['status', 'expires_at'])], 'pk_attr': 'id', 'table_description': 'Points a till reserved, then captured (up to the held amount) or released, exactly once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RedemptionToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='redemption_tokens', on_delete=OnDelete.RESTRICT)),
                ('reward_id', fields.IntField(null=True)),
                ('points', fields.BigIntField(null=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'redemption_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time, short-lived token the app shows as a QR code for a kiosk or till.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reward',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('image_url', fields.CharField(default='', max_length=500)),
                ('category', fields.CharField(default='', max_length=40)),
                ('kind', fields.CharEnumField(description='VOUCHER: VOUCHER\nPRODUCT: PRODUCT\nDISCOUNT: DISCOUNT\nEXPERIENCE: EXPERIENCE', enum_type=RewardKind, max_length=16)),
                ('cost_points', fields.BigIntField()),
                ('stock', fields.IntField(null=True)),
                ('per_member_limit', fields.IntField(null=True)),
                ('limit_period', fields.CharEnumField(default=LimitPeriod.EVER, description='DAY: DAY\nWEEK: WEEK\nMONTH: MONTH\nYEAR: YEAR\nEVER: EVER', enum_type=LimitPeriod, max_length=8)),
                ('channels', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('valid_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('valid_to', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('min_tier', fields.CharField(null=True, max_length=40)),
                ('voucher_valid_days', fields.IntField(default=30)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reward', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Something members spend points on. `stock` null means unlimited.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', null=True, db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('points', fields.BigIntField()),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('store_id', fields.IntField(null=True)),
                ('device_id', fields.IntField(null=True)),
                ('status', fields.CharEnumField(default=RedemptionStatus.ISSUED, description='ISSUED: ISSUED\nUSED: USED\nCANCELLED: CANCELLED', enum_type=RedemptionStatus, max_length=16)),
                ('voucher_code', fields.CharField(unique=True, max_length=32)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('entry_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'redemption', 'app': 'models', 'indexes': [Index(fields=['member_id', 'reward_id', 'created_at']), Index(fields=['member_id', 'id'])], 'pk_attr': 'id', 'table_description': 'Points spent on a reward (or an amount of points at a kiosk), whatever the channel.'},
            bases=['Model'],
        ),
    ]
