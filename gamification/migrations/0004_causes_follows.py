from tortoise import migrations
from tortoise.migrations import operations as ops
from gamification.causes.models import CauseStatus
from gamification.stores.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_rewards')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Cause',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('image_url', fields.CharField(default='', max_length=500)),
                ('partner', fields.CharField(default='', max_length=120)),
                ('impact_unit', fields.CharField(max_length=40)),
                ('points_per_unit', fields.IntField()),
                ('goal_points', fields.BigIntField(null=True)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=CauseStatus.ACTIVE, description='ACTIVE: ACTIVE\nGOAL_REACHED: GOAL_REACHED\nCLOSED: CLOSED', enum_type=CauseStatus, max_length=16)),
                ('accepts_after_goal', fields.BooleanField(default=True)),
                ('min_donation', fields.IntField(default=1)),
                ('donation_step', fields.IntField(default=1)),
                ('raised_member_points', fields.BigIntField(default=0)),
                ('raised_matched_points', fields.BigIntField(default=0)),
                ('donor_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'cause', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An eco cause members donate points to. `points_per_unit` converts points into impact'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Donation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='donations', on_delete=OnDelete.RESTRICT)),
                ('cause', fields.ForeignKeyField('models.Cause', source_field='cause_id', db_constraint=True, to_field='id', related_name='donations', on_delete=OnDelete.RESTRICT)),
                ('points', fields.BigIntField()),
                ('matched_points', fields.BigIntField(default=0)),
                ('match_capped', fields.BooleanField(default=False)),
                ('campaign_id', fields.IntField(null=True)),
                ('impact_units', fields.DecimalField(max_digits=18, decimal_places=4)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('entry_id', fields.BigIntField()),
                ('entry_hash', fields.CharField(max_length=64)),
                ('match_entry_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reversed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reversal_reason', fields.CharField(default='', max_length=500)),
            ],
            options={'table': 'donation', 'app': 'models', 'indexes': [Index(fields=['member_id', 'id']), Index(fields=['cause_id', 'member_id'])], 'pk_attr': 'id', 'table_description': "A member's donation receipt: points given, impact, matched points, the entry's hash."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Follow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('follower', fields.ForeignKeyField('models.Member', source_field='follower_id', db_constraint=True, to_field='id', related_name='following', on_delete=OnDelete.CASCADE)),
                ('followee', fields.ForeignKeyField('models.Member', source_field='followee_id', db_constraint=True, to_field='id', related_name='followers', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'follow', 'app': 'models', 'unique_together': (('follower', 'followee'),), 'pk_attr': 'id', 'table_description': 'A member following another, for the friends leaderboard.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MatchingCampaign',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('cause', fields.ForeignKeyField('models.Cause', source_field='cause_id', db_constraint=True, to_field='id', related_name='campaigns', on_delete=OnDelete.RESTRICT)),
                ('ratio', fields.DecimalField(max_digits=8, decimal_places=4)),
                ('total_cap', fields.BigIntField()),
                ('per_member_cap', fields.BigIntField(null=True)),
                ('matched_total', fields.BigIntField(default=0)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'matching_campaign', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The brand matches donations to a cause at `ratio`, within a total and a per-member cap.'},
            bases=['Model'],
        ),
    ]
