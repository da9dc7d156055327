"""The one consent rule: whose proof lets points leave a member's account.

Points are spent out of a member's account (a redemption, a donation, a till's hold and what it
captures) only with that member's proof in the same request. The proofs are:

- `ACCESS_TOKEN`: the member is the caller, signed in with their own access token;
- `ONE_TIME_CODE`: a code the member made in their app (`createRedemptionToken`) for this
  purpose, used up in the same transaction as the debit it pays for;
- `APP_APPROVAL`: the member approved a kiosk's request in their app; the approval, made with
  their own token, is the request that debits;
- `HOLD`: a till captures points a one-time code held, at most the held amount, in the store
  that placed the hold (the code's authority, carried by the hold).

No device, staff member, admin or other member spends a member's points for them: a kiosk that
knows a card number or a member id can add points (purchases, eco actions) but move none out.
Three movements take points out of an account without being spent and need no consent: an
admin's correction (`adjustPoints` with a negative amount, a reason, recorded with the admin:
`Correction`), the claw-back of points a refunded purchase earned (the store that recorded the
purchase refunds it), and expiry.

Where it is enforced: `ledger.debit` and `ledger.place_hold` take the consent and refuse one
given for another member's account (`MemberProofRequired`), so no caller path can skip it; the
functions below are the only places a consent is made, each after checking its proof.
`docs/consent.md` is the table of every mutation and caller kind, checked by
`tests/schema/test_caller_table.py` against the live schema.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gamification.actors import Actor, ActorKind
from gamification.errors import ErrorCode, Refused


class Proof(enum.StrEnum):
    ACCESS_TOKEN = "ACCESS_TOKEN"
    ONE_TIME_CODE = "ONE_TIME_CODE"
    APP_APPROVAL = "APP_APPROVAL"
    HOLD = "HOLD"


class MemberProofRequired(Refused):
    code = ErrorCode.MEMBER_PROOF_REQUIRED


@dataclass(frozen=True, slots=True)
class MemberConsent:
    """The member's proof, checked, that points may leave their account in this request."""

    member_id: int
    proof: Proof


@dataclass(frozen=True, slots=True)
class Correction:
    """An admin's correction of a member's balance: not a spend, so no member consent."""

    admin_id: int


def by_access_token(actor: Actor) -> MemberConsent:
    """The signed-in person spends their own points.

    Raises MemberProofRequired for devices: a device never holds a member's access token.
    """
    if not actor.is_person:
        raise MemberProofRequired(
            "A member's points move only with their own sign-in, code or approval"
        )
    return MemberConsent(actor.id, Proof.ACCESS_TOKEN)


def by_one_time_code(member_id: int) -> MemberConsent:
    """The member's one-time code was just used up in this transaction (`channels.tokens`)."""
    return MemberConsent(member_id, Proof.ONE_TIME_CODE)


def by_app_approval(actor: Actor, member_id: int) -> MemberConsent:
    """The caller approved, in their app, a request addressed to `member_id`.

    Raises MemberProofRequired unless the caller is that member.
    """
    if not actor.is_person or actor.id != member_id:
        raise MemberProofRequired("Only the member approves a request for their points")
    return MemberConsent(member_id, Proof.APP_APPROVAL)


def by_hold(member_id: int) -> MemberConsent:
    """The member's code placed the hold now being captured, under the hold's row lock."""
    return MemberConsent(member_id, Proof.HOLD)


def correction_by(actor: Actor) -> Correction:
    """Raises MemberProofRequired for anyone but an admin."""
    if actor.kind is not ActorKind.ADMIN:
        raise MemberProofRequired("Only admins correct a member's balance")
    return Correction(actor.id)


def check_consent(consent: MemberConsent | Correction, member_id: int | None) -> None:
    """Raises MemberProofRequired unless `consent` is the account owner's own (or an admin's
    correction). Called by the ledger on every debit and hold."""
    if isinstance(consent, Correction):
        return
    if member_id is None or consent.member_id != member_id:
        raise MemberProofRequired("A member's points move only with that member's proof")
