from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from gamification.ledger.models import AccountKind, EntryKind
from gamification.stores.models import Channel
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EarnPromotion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('multiplier', fields.DecimalField(max_digits=8, decimal_places=4)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'earn_promotion', 'app': 'models', 'pk_attr': 'id', 'table_description': "A multiplier on one channel's earnings for a period (e.g. double points in the app)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EarnRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('currency', fields.CharField(unique=True, max_length=3)),
                ('points_per_unit', fields.DecimalField(max_digits=12, decimal_places=4)),
                ('minimum_spend', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('category_multipliers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'earn_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How purchases in one currency earn points. Rates are decimal strings, points integers.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyKey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope', fields.CharField(max_length=64)),
                ('key', fields.CharField(max_length=128)),
                ('operation', fields.CharField(max_length=64)),
                ('request_hash', fields.CharField(max_length=64)),
                ('response', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_key', 'app': 'models', 'unique_together': (('scope', 'key'),), 'pk_attr': 'id', 'table_description': "A client's retry key, claimed in the same transaction as the effect it guards, with the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerAccount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='MEMBER: MEMBER\nPROGRAM: PROGRAM\nCAUSE: CAUSE', enum_type=AccountKind, max_length=16)),
                ('member', fields.OneToOneField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='account', on_delete=OnDelete.RESTRICT)),
                ('code', fields.CharField(unique=True, max_length=64)),
                ('balance', fields.BigIntField(default=0)),
                ('held', fields.BigIntField(default=0)),
                ('lifetime_earned', fields.BigIntField(default=0)),
                ('clawback_outstanding', fields.BigIntField(default=0)),
                ('entry_count', fields.BigIntField(default=0)),
                ('head_hash', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_account', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A points account. Member accounts cache their balance, updated only in the transaction'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.LedgerAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('counter_account', fields.ForeignKeyField('models.LedgerAccount', source_field='counter_account_id', db_constraint=True, to_field='id', related_name='counter_entries', on_delete=OnDelete.RESTRICT)),
                ('seq', fields.BigIntField()),
                ('kind', fields.CharEnumField(description='EARN: EARN\nBONUS: BONUS\nREDEEM: REDEEM\nHOLD: HOLD\nCAPTURE: CAPTURE\nRELEASE: RELEASE\nDONATE: DONATE\nMATCH: MATCH\nEXPIRE: EXPIRE\nADJUST: ADJUST\nREFUND: REFUND\nCLAWBACK: CLAWBACK\nREVERSAL: REVERSAL', enum_type=EntryKind, max_length=16)),
                ('points', fields.BigIntField()),
                ('held_change', fields.BigIntField(default=0)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('reference_type', fields.CharField(default='', max_length=32)),
                ('reference_id', fields.CharField(default='', max_length=128)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('lots', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'ledger_entry', 'app': 'models', 'unique_together': (('account', 'seq'),), 'indexes': [Index(fields=['account_id', 'id']), Index(fields=['account_id', 'kind', 'id'])], 'pk_attr': 'id', 'table_description': 'One append-only movement of points between two accounts.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsLot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.LedgerAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.RESTRICT)),
                ('entry_id', fields.BigIntField()),
                ('points', fields.BigIntField()),
                ('remaining', fields.BigIntField()),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'points_lot', 'app': 'models', 'indexes': [Index(fields=['account_id', 'expires_at', 'id']), Index(fields=['expires_at'])], 'pk_attr': 'id', 'table_description': 'Points earned together, spent earliest expiry first. `remaining` is what is unspent.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Purchase',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('external_id', fields.CharField(max_length=128)),
                ('amount', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('currency', fields.CharField(max_length=3)),
                ('line_items', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('points_earned', fields.BigIntField()),
                ('refunded_amount', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('points_refunded', fields.BigIntField(default=0)),
                ('entry_id', fields.BigIntField()),
                ('balance_after', fields.BigIntField(default=0)),
                ('recorded_by', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'purchase', 'app': 'models', 'unique_together': (('channel', 'store', 'external_id'),), 'pk_attr': 'id', 'table_description': 'A purchase as recorded by a device, staff or the web shop, with the points it earned.'},
            bases=['Model'],
        ),
    ]
