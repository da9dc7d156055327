from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_member_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Redemption',
            name='used_device_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Redemption',
            name='used_store_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='RedemptionToken',
            name='cause_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Reward',
            name='store_ids',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
