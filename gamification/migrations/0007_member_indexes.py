from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_challenge_refunds_eco_kinds')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ChallengeCompletion',
            index=Index(fields=['member_id', 'challenge_id']),
        ),
        ops.AddIndex(
            model_name='ChallengeParticipant',
            index=Index(fields=['member_id', 'challenge_id']),
        ),
    ]
