"""Members: sign-up, credentials, profile.

Passwords are hashed with Argon2 and never kept in clear.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Final
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.members.models import Member, Role

MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 128
MAX_DISPLAY_NAME_LENGTH: Final = 40
MAX_EXTERNAL_SUBJECT_LENGTH: Final = 255  # the column's width
# The handful of passwords that every credential-stuffing list starts with.
COMMON_PASSWORDS: Final = frozenset(
    {
        "password123",
        "password1234",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "0123456789",
        "iloveyou123",
        "letmein1234",
        "passw0rd123",
        "loyalty1234",
    }
)

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a wrong email and a wrong password take
# the same time and cannot be told apart.
_DUMMY_HASH: Final = _hasher.hash("dummy password for timing only")


class _Unset:
    pass


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    display_name: str | _Unset = UNSET
    birthday: date | _Unset | None = UNSET
    timezone: str | _Unset = UNSET
    marketing_consent: bool | _Unset = UNSET
    leaderboard_visible: bool | _Unset = UNSET


def normalize_email(email: str) -> str:
    """Raises InvalidInput(INVALID_EMAIL) when `email` is not a well-formed address."""
    if len(email) > 254:
        raise InvalidInput("Email address is too long", code=ErrorCode.INVALID_EMAIL, field="email")
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(str(exc), code=ErrorCode.INVALID_EMAIL, field="email") from None
    return result.normalized.lower()


def check_password(password: str, *, email: str = "") -> None:
    """Raises InvalidInput(WEAK_PASSWORD / PASSWORD_TOO_LONG) for passwords we refuse."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters",
            code=ErrorCode.PASSWORD_TOO_LONG,
            field="password",
        )
    local_part = email.split("@", 1)[0].lower()
    lowered = password.lower()
    if (
        len(password) < MIN_PASSWORD_LENGTH
        or lowered in COMMON_PASSWORDS
        or len(set(password)) < 4
        or (len(local_part) >= 4 and local_part in lowered)
    ):
        raise InvalidInput(
            f"Password must have at least {MIN_PASSWORD_LENGTH} characters, not be a common "
            "password and not contain your email",
            code=ErrorCode.WEAK_PASSWORD,
            field="password",
        )


def clean_display_name(display_name: str) -> str:
    """Raises InvalidInput(INVALID_DISPLAY_NAME) when empty, too long or holding control chars."""
    name = unicodedata.normalize("NFC", display_name).strip()
    if not name or len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidInput(
            f"Display name must have 1 to {MAX_DISPLAY_NAME_LENGTH} characters",
            code=ErrorCode.INVALID_DISPLAY_NAME,
            field="displayName",
        )
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidInput(
            "Display name must not contain control characters",
            code=ErrorCode.INVALID_DISPLAY_NAME,
            field="displayName",
        )
    return name


# Names the zoneinfo database holds that are not zones of the world: the host's own setting
# (which differs per machine) and placeholders.
_NOT_IANA_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _iana_zones() -> frozenset[str]:
    # Looked up in the list rather than by opening the file: `ZoneInfo("Europe")` opens a
    # directory (IsADirectoryError), and file names like `localtime` are not zones.
    return frozenset(available_timezones()) - _NOT_IANA_ZONES


def check_timezone(timezone: str) -> str:
    """Raises InvalidInput(INVALID_TIMEZONE) unless `timezone` is an IANA zone name."""
    if timezone not in _iana_zones():
        raise InvalidInput(
            f"Unknown timezone {timezone[:64]!r}", code=ErrorCode.INVALID_TIMEZONE, field="timezone"
        )
    return timezone


def check_birthday(birthday: date | None) -> date | None:
    """Raises InvalidInput(INVALID_BIRTHDAY) for dates in the future or before 1900."""
    if birthday is None:
        return None
    if birthday > datetime.now(UTC).date() or birthday.year < 1900:
        raise InvalidInput(
            "Birthday must be a past date", code=ErrorCode.INVALID_BIRTHDAY, field="birthday"
        )
    return birthday


def new_card_number() -> str:
    """A member card number: 16 digits, random, so that numbers say nothing about members."""
    return "".join(secrets.choice("0123456789") for _ in range(16))


async def hash_password(password: str) -> str:
    # Argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def sign_up(
    *,
    email: str,
    password: str,
    display_name: str,
    birthday: date | None = None,
    timezone: str = "UTC",
    marketing_consent: bool = False,
    role: Role = Role.MEMBER,
    store_id: int | None = None,
) -> Member:
    """Create a member.

    Raises InvalidInput for a malformed email, weak or overlong password, bad display name,
    timezone or birthday; Conflict(EMAIL_TAKEN) when the email is registered (case-insensitive).
    """
    normalized = normalize_email(email)
    check_password(password, email=normalized)
    name = clean_display_name(display_name)
    tz = check_timezone(timezone)
    born = check_birthday(birthday)
    if await Member.filter(email=normalized).exists():
        raise Conflict(
            "This email is already registered", code=ErrorCode.EMAIL_TAKEN, field="email"
        )
    password_hash = await hash_password(password)
    try:
        async with in_transaction():
            return await Member.create(
                email=normalized,
                password_hash=password_hash,
                display_name=name,
                birthday=born,
                timezone=tz,
                marketing_consent=marketing_consent,
                role=role,
                store_id=store_id,
                card_number=new_card_number(),
            )
    except IntegrityError:
        # A concurrent sign-up with the same email won the unique index.
        raise Conflict(
            "This email is already registered", code=ErrorCode.EMAIL_TAKEN, field="email"
        ) from None


async def authenticate(*, email: str, password: str) -> Member:
    """Raises Refused(INVALID_CREDENTIALS) when the email or password is wrong, not saying
    which."""
    try:
        normalized = normalize_email(email)
    except InvalidInput:
        normalized = ""
    member = await Member.get_or_none(email=normalized) if normalized else None
    if member is None or member.password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
        # Every refusal costs one verification, so that response times do not tell whether
        # the email is registered.
        await _verify_password(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        raise Refused("Wrong email or password", code=ErrorCode.INVALID_CREDENTIALS)
    if not await _verify_password(member.password_hash, password):
        raise Refused("Wrong email or password", code=ErrorCode.INVALID_CREDENTIALS)
    return member


async def get_member(member_id: int) -> Member:
    """Raises NotFound when no member has this id."""
    # Member ids are a 32-bit column: PostgreSQL raises on a larger number instead of
    # finding no row.
    member = await Member.get_or_none(id=member_id) if 0 < member_id < 2**31 else None
    if member is None:
        raise NotFound("Member not found", field="memberId")
    return member


async def members_by_id(member_ids: Collection[int]) -> dict[int, Member]:
    """The members with these ids, in one statement; ids of no member are left out."""
    # A 32-bit column, as in `get_member`.
    wanted = {i for i in member_ids if 0 < i < 2**31}
    return {m.id: m for m in await Member.filter(id__in=wanted)} if wanted else {}


async def update_profile(member_id: int, changes: ProfileChanges) -> Member:
    """Apply the given profile changes; nothing is written when any of them is invalid.

    Raises InvalidInput for a bad display name, timezone or birthday; NotFound for no member.
    """
    updates: dict[str, object] = {}
    if not isinstance(changes.display_name, _Unset):
        updates["display_name"] = clean_display_name(changes.display_name)
    if not isinstance(changes.birthday, _Unset):
        updates["birthday"] = check_birthday(changes.birthday)
    if not isinstance(changes.timezone, _Unset):
        updates["timezone"] = check_timezone(changes.timezone)
    if not isinstance(changes.marketing_consent, _Unset):
        updates["marketing_consent"] = changes.marketing_consent
    if not isinstance(changes.leaderboard_visible, _Unset):
        updates["leaderboard_visible"] = changes.leaderboard_visible
    async with in_transaction():
        member = await Member.select_for_update().get_or_none(id=member_id)
        if member is None:
            raise NotFound("Member not found", field="memberId")
        if updates:
            member.update_from_dict(updates)
            await member.save(update_fields=[*updates, "updated_at"])
    return member


async def find_or_create_external_member(
    *, subject: str, email: str | None, display_name: str | None
) -> Member:
    """The member an external identity provider vouches for, created on first sight.

    Raises InvalidInput when the subject is empty or too long for the column, or a first-time
    identity carries no usable email; Conflict when a password account holds that email.
    """
    if not subject or len(subject) > MAX_EXTERNAL_SUBJECT_LENGTH:
        raise InvalidInput("The identity provider sent an unusable subject")
    member = await Member.get_or_none(external_subject=subject)
    if member is not None:
        return member
    if not email:
        raise InvalidInput("The identity provider sent no email", code=ErrorCode.INVALID_EMAIL)
    normalized = normalize_email(email)
    # An existing password account is never linked by email alone: the provider may not have
    # verified the address, and linking would hand that account to whoever claims it.
    if await Member.filter(email=normalized).exists():
        raise Conflict("This email is already registered", code=ErrorCode.EMAIL_TAKEN)
    try:
        name = clean_display_name((display_name or "")[:MAX_DISPLAY_NAME_LENGTH])
    except InvalidInput:
        # The provider's name is missing or unusable here: the member can set one later.
        name = clean_display_name(normalized.split("@", 1)[0][:MAX_DISPLAY_NAME_LENGTH])
    try:
        return await Member.create(
            email=normalized,
            external_subject=subject,
            display_name=name,
            card_number=new_card_number(),
        )
    except IntegrityError:
        # The same identity arrived twice at once; the first request created the member.
        member = await Member.get_or_none(external_subject=subject)
        if member is None:
            raise
        return member
