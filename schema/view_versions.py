"""After commit, for every mutation: new versions for what its writes changed, before the
response is sent (see `gamification.view_versions` and `server.response_cache`).

The members bumped: every member the ledger wrote an entry for, whose challenge progress,
badges or tier moved (`gamification.events.progress`), whom the domain reported otherwise
(`gamification.view_versions`), and the caller when they are a person (whatever their own
mutation changed, they see it next: read-your-writes without listing every kind of write).
The program's version: whenever a configuration change was reported (`program_cache`), a
challenge was redefined, or an admin made the mutation (admins' writes are rare, and one that
changes what every member sees without reporting it is then covered all the same).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gamification import view_versions
from gamification.events import progress as progress_updates


class ViewVersionBumps(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if (
            self.execution_context.operation_type is not OperationType.MUTATION
            or context.settings.home_cache_seconds <= 0
        ):
            yield
            return
        with (
            view_versions.collect_changed_views() as changed,
            progress_updates.collect_progress_updates() as progress,
        ):
            yield
        members = set(changed.members)
        members.update(change.member_id for change in progress.changes)
        members.update(award.member_id for award in progress.awards)
        members.update(upgrade.member_id for upgrade in progress.upgrades)
        actor = context.actor
        if actor is not None and actor.is_person:
            members.add(actor.id)
        program = changed.program or bool(progress.redefined) or bool(actor and actor.is_admin)
        await view_versions.bump(context.redis, members, program=program)
