from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from gamification.badges.models import BadgeRule
from gamification.challenges.models import ChallengeStatus, GoalType, WindowKind
from gamification.events.models import EventKind
from gamification.stores.models import Channel
from gamification.tiers.models import TierChangeReason
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_causes_follows')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Badge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=80)),
                ('description', fields.TextField(default='', unique=False)),
                ('image_url', fields.CharField(default='', max_length=500)),
                ('rule', fields.CharEnumField(description='CHALLENGE: CHALLENGE\nFIRST_PURCHASE: FIRST_PURCHASE\nFIRST_DONATION: FIRST_DONATION\nPURCHASE_COUNT: PURCHASE_COUNT\nTIER_REACHED: TIER_REACHED\nSTREAK_DAYS: STREAK_DAYS', enum_type=BadgeRule, max_length=24)),
                ('threshold', fields.IntField(null=True)),
                ('level_thresholds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tier_name', fields.CharField(null=True, max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'badge', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A badge in the catalog and the rule that earns it (a challenge, or a milestone).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Challenge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('image_url', fields.CharField(default='', max_length=500)),
                ('goal_type', fields.CharEnumField(description='COUNT: COUNT\nSUM: SUM\nDISTINCT_DAYS: DISTINCT_DAYS\nSTREAK_DAYS: STREAK_DAYS\nSTREAK_WEEKS: STREAK_WEEKS', enum_type=GoalType, max_length=16)),
                ('target', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('event_kind', fields.CharEnumField(description='PURCHASE_RECORDED: PURCHASE_RECORDED\nPURCHASE_REFUNDED: PURCHASE_REFUNDED\nREWARD_REDEEMED: REWARD_REDEEMED\nPOINTS_DONATED: POINTS_DONATED\nECO_ACTION_RECORDED: ECO_ACTION_RECORDED\nCHECK_IN: CHECK_IN\nTIER_REACHED: TIER_REACHED', enum_type=EventKind, max_length=32)),
                ('filter_channel', fields.CharEnumField(null=True, description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('filter_category', fields.CharField(null=True, max_length=40)),
                ('filter_store_id', fields.IntField(null=True)),
                ('filter_min_amount', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('filter_eco_kind', fields.CharField(null=True, max_length=40)),
                ('window_kind', fields.CharEnumField(description='FIXED: FIXED\nDAILY: DAILY\nWEEKLY: WEEKLY\nMONTHLY: MONTHLY', enum_type=WindowKind, max_length=16)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('min_tier', fields.CharField(null=True, max_length=40)),
                ('reward_points', fields.IntField(default=0)),
                ('reward_badge', fields.ForeignKeyField('models.Badge', source_field='reward_badge_id', null=True, db_constraint=True, to_field='id', related_name='challenges', on_delete=OnDelete.RESTRICT)),
                ('max_completions', fields.IntField(default=1)),
                ('opt_in', fields.BooleanField(default=False)),
                ('hidden', fields.BooleanField(default=False)),
                ('freezes_per_week', fields.IntField(default=0)),
                ('status', fields.CharEnumField(default=ChallengeStatus.ACTIVE, description='ACTIVE: ACTIVE\nARCHIVED: ARCHIVED', enum_type=ChallengeStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'challenge', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An admin-defined challenge: a goal over events matching a filter, within a fixed or a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChallengeCompletion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge', fields.ForeignKeyField('models.Challenge', source_field='challenge_id', db_constraint=True, to_field='id', related_name='completions', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='challenge_completions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('window_key', fields.CharField(max_length=16)),
                ('points', fields.IntField(default=0)),
                ('entry_id', fields.BigIntField(null=True)),
                ('event_id', fields.BigIntField()),
                ('completed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'challenge_completion', 'app': 'models', 'unique_together': (('challenge', 'member', 'window_key', 'number'),), 'pk_attr': 'id', 'table_description': 'One completion and its reward. The unique key makes a second award impossible.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChallengeParticipant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge', fields.ForeignKeyField('models.Challenge', source_field='challenge_id', db_constraint=True, to_field='id', related_name='participants', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='challenges_joined', on_delete=OnDelete.CASCADE)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'challenge_participant', 'app': 'models', 'unique_together': (('challenge', 'member'),), 'pk_attr': 'id', 'table_description': 'A member who joined an opt-in challenge (for all of its windows).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChallengeProgress',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge', fields.ForeignKeyField('models.Challenge', source_field='challenge_id', db_constraint=True, to_field='id', related_name='progress', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='challenge_progress', on_delete=OnDelete.CASCADE)),
                ('window_key', fields.CharField(max_length=16)),
                ('current', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('days', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('streak', fields.IntField(default=0)),
                ('last_period', fields.DateField(null=True)),
                ('freezes_used', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('completions', fields.IntField(default=0)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'challenge_progress', 'app': 'models', 'unique_together': (('challenge', 'member', 'window_key'),), 'indexes': [Index(fields=['member_id', 'challenge_id'])], 'pk_attr': 'id', 'table_description': 'A member\'s progress in one window of a challenge (`window_key` is "fixed" or the local'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DomainEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='PURCHASE_RECORDED: PURCHASE_RECORDED\nPURCHASE_REFUNDED: PURCHASE_REFUNDED\nREWARD_REDEEMED: REWARD_REDEEMED\nPOINTS_DONATED: POINTS_DONATED\nECO_ACTION_RECORDED: ECO_ACTION_RECORDED\nCHECK_IN: CHECK_IN\nTIER_REACHED: TIER_REACHED', enum_type=EventKind, max_length=32)),
                ('source_key', fields.CharField(unique=True, max_length=200)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('local_date', fields.DateField()),
                ('amount', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('quantity', fields.IntField(default=1)),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('store_id', fields.IntField(null=True)),
                ('categories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('subject', fields.CharField(default='', max_length=40)),
                ('qualifying_points', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'domain_event', 'app': 'models', 'indexes': [Index(fields=['member_id', 'occurred_at']), Index(fields=['member_id', 'kind', 'local_date'])], 'pk_attr': 'id', 'table_description': 'A business fact that can move progress, recorded once (unique `source_key`) in the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EcoActionKind',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('name', fields.CharField(max_length=120)),
                ('unit', fields.CharField(default='item', max_length=40)),
                ('points_per_unit', fields.IntField()),
                ('max_quantity', fields.IntField(default=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'eco_action_kind', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An admin-configured kind of eco action and the points each unit earns.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EcoAction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='eco_actions', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.ForeignKeyField('models.EcoActionKind', source_field='kind_id', db_constraint=True, to_field='id', related_name='actions', on_delete=OnDelete.RESTRICT)),
                ('quantity', fields.IntField()),
                ('points', fields.BigIntField()),
                ('channel', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('store_id', fields.IntField(null=True)),
                ('recorded_by', fields.CharField(max_length=32)),
                ('external_id', fields.CharField(max_length=128)),
                ('entry_id', fields.BigIntField(null=True)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'eco_action', 'app': 'models', 'unique_together': (('recorded_by', 'external_id'),), 'pk_attr': 'id', 'table_description': 'An eco action recorded by a device or staff. The same external id from the same'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberBadge',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='badges', on_delete=OnDelete.CASCADE)),
                ('badge', fields.ForeignKeyField('models.Badge', source_field='badge_id', db_constraint=True, to_field='id', related_name='holders', on_delete=OnDelete.RESTRICT)),
                ('level', fields.IntField(default=1)),
                ('awarded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_badge', 'app': 'models', 'unique_together': (('member', 'badge'),), 'pk_attr': 'id', 'table_description': 'A badge a member holds, once, with when it was earned.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=40)),
                ('rank', fields.IntField(unique=True)),
                ('threshold', fields.BigIntField()),
                ('earn_multiplier', fields.DecimalField(default=1, max_digits=6, decimal_places=3)),
                ('benefits', fields.TextField(default='', unique=False)),
                ('benefit_flags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tier', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One step of the tier ladder. `rank` orders the ladder (0 is the entry tier) and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberTier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.OneToOneField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='tier_status', on_delete=OnDelete.CASCADE)),
                ('tier', fields.ForeignKeyField('models.Tier', source_field='tier_id', null=True, db_constraint=True, to_field='id', related_name='holders', on_delete=OnDelete.RESTRICT)),
                ('floor_tier', fields.ForeignKeyField('models.Tier', source_field='floor_tier_id', null=True, db_constraint=True, to_field='id', related_name='floored', on_delete=OnDelete.RESTRICT)),
                ('period_starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('period_ends_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'member_tier', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member's place on the ladder: the tier held, an admin floor, and the qualification"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='tier_changes', on_delete=OnDelete.CASCADE)),
                ('from_tier_id', fields.IntField(null=True)),
                ('to_tier_id', fields.IntField(null=True)),
                ('reason', fields.CharEnumField(description='UPGRADE: UPGRADE\nDOWNGRADE: DOWNGRADE\nRETAINED: RETAINED\nFLOOR: FLOOR', enum_type=TierChangeReason, max_length=16)),
                ('qualifying_points', fields.BigIntField(default=0)),
                ('period_ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tier_change', 'app': 'models', 'indexes': [Index(fields=['member_id', 'id'])], 'pk_attr': 'id', 'table_description': "The history of a member's tier: every upgrade, downgrade, retention and floor."},
            bases=['Model'],
        ),
    ]
