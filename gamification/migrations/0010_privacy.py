from tortoise import migrations
from tortoise.migrations import operations as ops
from gamification.ledger.models import EntryKind
from gamification.privacy.models import ConsentChannel, ConsentKind
from gamification.stores.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

import json
import secrets
from datetime import UTC, datetime

from gamification import sql
from gamification.ledger.entries import GENESIS_HASH, entry_content, entry_hash, reason_digest
from gamification.ledger.models import LedgerEntry

# Re-chain every account whose version 1 chain verifies under version 2, whose hashes cover a
# salted digest of the free-text reason instead of the reason (docs/ledger.md#tamper-evidence).
# An account whose chain is already broken is left as it is, in version 1: re-chaining it would
# launder the break, and `loyalty verify-ledger` keeps naming it.
_BATCH = 1000
_COLUMNS = (
    "id, account_id, counter_account_id, seq, kind, points, held_change, channel, actor_kind, "
    "actor_id, reference_type, reference_id, reason, lots, created_at, prev_hash, hash, "
    "chain_version"
)


def _entry(row):
    created = row["created_at"]
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    lots = row["lots"]
    if isinstance(lots, str):
        lots = json.loads(lots)
    return LedgerEntry(
        id=row["id"],
        account_id=row["account_id"],
        counter_account_id=row["counter_account_id"],
        seq=row["seq"],
        kind=row["kind"],
        points=row["points"],
        held_change=row["held_change"],
        channel=row["channel"],
        actor_kind=row["actor_kind"],
        actor_id=row["actor_id"],
        reference_type=row["reference_type"],
        reference_id=row["reference_id"],
        reason=row["reason"],
        lots=lots,
        created_at=created,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        chain_version=row["chain_version"],
    )


async def _entries(conn, account_id):
    last_seq = 0
    while True:
        rows = await sql.fetch(
            conn,
            f"SELECT {_COLUMNS} FROM ledger_entry WHERE account_id = $1 AND seq > $2 "
            f"ORDER BY seq LIMIT {_BATCH}",
            account_id,
            last_seq,
        )
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        last_seq = rows[-1]["seq"]


async def _verifies_in_version_1(conn, account_id, entry_count, head_hash):
    prev, seq = GENESIS_HASH, 0
    async for entry in _entries(conn, account_id):
        seq += 1
        if entry.chain_version != 1 or entry.seq != seq or entry.prev_hash != prev:
            return False
        if entry_hash(prev, entry_content(entry)) != entry.hash:
            return False
        prev = entry.hash
    return seq == entry_count and (seq == 0 or prev == head_hash)


async def rechain(apps, schema_editor):
    conn = schema_editor.client
    accounts = await sql.fetch(
        conn, "SELECT id, entry_count, head_hash FROM ledger_account ORDER BY id"
    )
    for account in accounts:
        if not account["entry_count"]:
            continue
        if not await _verifies_in_version_1(
            conn, account["id"], account["entry_count"], account["head_hash"]
        ):
            continue
        prev = GENESIS_HASH
        async for entry in _entries(conn, account["id"]):
            entry.chain_version = 2
            entry.prev_hash = prev
            entry.reason_salt = secrets.token_hex(16)
            entry.reason_digest = reason_digest(entry.reason_salt, entry.reason)
            entry.hash = entry_hash(prev, entry_content(entry))
            await sql.fetch(
                conn,
                "UPDATE ledger_entry SET chain_version = 2, prev_hash = $1, hash = $2, "
                "reason_salt = $3, reason_digest = $4 WHERE id = $5",
                entry.prev_hash,
                entry.hash,
                entry.reason_salt,
                entry.reason_digest,
                entry.id,
            )
            if entry.kind == "DONATE":
                await sql.fetch(
                    conn,
                    "UPDATE donation SET entry_hash = $1 WHERE entry_id = $2",
                    entry.hash,
                    entry.id,
                )
            prev = entry.hash
        await sql.fetch(
            conn, "UPDATE ledger_account SET head_hash = $1 WHERE id = $2", prev, account["id"]
        )


async def keep_version_2(apps, schema_editor):
    # Version 1 hashes cannot be restored (they were replaced); version 1 code verifies none of
    # the re-chained entries after a rollback of the code, which is the honest answer.
    return None

class Migration(migrations.Migration):
    dependencies = [('models', '0009_qualifying_buckets')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='consent_records', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='MARKETING: MARKETING\nNOTIFICATIONS: NOTIFICATIONS', enum_type=ConsentKind, max_length=16)),
                ('channel', fields.CharEnumField(description='EMAIL: EMAIL\nPUSH: PUSH\nSMS: SMS', enum_type=ConsentChannel, max_length=8)),
                ('given', fields.BooleanField()),
                ('text_version', fields.CharField(max_length=32)),
                ('source', fields.CharEnumField(description='APP: APP\nWEB: WEB\nKIOSK: KIOSK\nPOS: POS\nSYSTEM: SYSTEM', enum_type=Channel, max_length=16)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consent_record', 'app': 'models', 'indexes': [Index(fields=['member_id', 'kind', 'channel', 'id'])], 'pk_attr': 'id', 'table_description': 'One consent given or withdrawn, never changed: the latest record per (member, kind,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ErasureRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.OneToOneField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='erasure', on_delete=OnDelete.RESTRICT)),
                ('requested_by', fields.CharField(max_length=16)),
                ('admin_id', fields.IntField(null=True)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('forfeited_points', fields.BigIntField(default=0)),
                ('released_holds', fields.IntField(default=0)),
                ('erased_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'erasure_record', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member's erasure, written in the erasure's own transaction: the proof it happened,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RetiredCardNumber',
            fields=[
                ('digest', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('retired_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'retired_card_number', 'app': 'models', 'pk_attr': 'digest', 'table_description': "A card number that was an erased member's: never issued again. Kept as its SHA-256 only,"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='LedgerEntry',
            name='kind',
            field=fields.CharEnumField(description='EARN: EARN\nBONUS: BONUS\nREDEEM: REDEEM\nHOLD: HOLD\nCAPTURE: CAPTURE\nRELEASE: RELEASE\nDONATE: DONATE\nMATCH: MATCH\nEXPIRE: EXPIRE\nADJUST: ADJUST\nREFUND: REFUND\nCLAWBACK: CLAWBACK\nREVERSAL: REVERSAL\nFORFEIT: FORFEIT', enum_type=EntryKind, max_length=16),
        ),
        ops.AddField(
            model_name='LedgerEntry',
            name='chain_version',
            field=fields.SmallIntField(default=2, db_default=1),
        ),
        ops.AddField(
            model_name='LedgerEntry',
            name='reason_digest',
            field=fields.CharField(default='', db_default='', max_length=64),
        ),
        ops.AddField(
            model_name='LedgerEntry',
            name='reason_salt',
            field=fields.CharField(default='', db_default='', max_length=32),
        ),
        ops.AddField(
            model_name='Member',
            name='erased_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(rechain, keep_version_2),
    ]
