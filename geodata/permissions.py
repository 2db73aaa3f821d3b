"""The one permission table: may this actor do this action to this object."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ROLES = ("anonymous", "resident", "volunteer", "social_worker", "official", "admin")
STAFF_ROLES = frozenset({"social_worker", "official", "admin"})


class Scope(Enum):
    """How far a role's permission reaches for one action."""

    ANY = "any"  # every object
    AREA = "area"  # objects in one of the actor's areas
    ASSIGNED = "assigned"  # issues assigned to the actor's party (a volunteer's group)
    OWN = "own"  # the actor's own report (by account, or by the reporter's private link)
    OWN_OR_AREA = "own_or_area"


class PermissionDenied(Exception):
    """The actor is known but may not do this."""

    def __init__(self, action: str, message: str | None = None):
        super().__init__(message or f"You may not do this ({action}).")
        self.action = action


class AuthenticationRequired(PermissionDenied):
    """Nobody is signed in, and this needs an account."""

    def __init__(self, action: str):
        super().__init__(action, "Sign in first.")


@dataclass(frozen=True)
class Actor:
    """Who is acting: an account (with its role, areas and party) or an anonymous client."""

    role: str = "anonymous"
    user_id: int | None = None
    username: str | None = None
    # Every area the actor serves, with the areas below them (a street's communities) already included.
    area_ids: frozenset[int] = frozenset()
    party_ids: frozenset[int] = frozenset()
    # Issues whose reporter's private link came with this request.
    reporter_of: frozenset[int] = frozenset()
    # A stable, non-reversible key of an anonymous client (for "me too" and rate limits).
    client_key: str | None = None
    via_token: str | None = field(default=None, compare=False)

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def label(self) -> str:
        """How the actor appears in histories and audit logs."""
        if self.user_id is None:
            # Command-line tools act without an account but under a name ("cli:root").
            return self.username or "anonymous"
        return self.username or f"user:{self.user_id}"


ANONYMOUS = Actor()

A, R, V, S, O, AD = ROLES
ANY, AREA, ASSIGNED, OWN, OWN_OR_AREA = Scope.ANY, Scope.AREA, Scope.ASSIGNED, Scope.OWN, Scope.OWN_OR_AREA

# action -> {role: scope}. A role missing from an action's entry may not do it. Admin may do everything.
PERMISSIONS: dict[str, dict[str, Scope]] = {
    # Residents, signed in or not.
    "issue.report": {A: ANY, R: ANY, V: ANY, S: ANY, O: ANY},
    "issue.view": {A: ANY, R: ANY, V: ANY, S: ANY, O: ANY},
    "issue.support": {A: ANY, R: ANY, V: ANY, S: ANY, O: ANY},
    "issue.comment": {A: ANY, R: ANY, V: ANY, S: ANY, O: ANY},
    # Close with a rating, or reopen, after resolution: the reporter, or a social worker of the community.
    "issue.confirm": {A: OWN, R: OWN, V: OWN, S: OWN_OR_AREA, O: OWN},
    # The workflow: staff of the community; a volunteer group only on issues assigned to it.
    "issue.transition": {V: ASSIGNED, S: AREA},
    "issue.assign": {S: AREA},
    "comment.hide": {S: AREA},
    # Private details of reporters and users.
    "issue.view_contact": {S: AREA, O: AREA},
    "user.view_email": {S: AREA, O: AREA},
    # Officials' and social workers' views.
    "dashboard.view": {S: AREA, O: AREA},
    # Hot spots aggregate public reports, but are read as a judgement on places: staff only for now.
    "hotspots.view": {S: AREA, O: AREA},
    "issues.export": {S: AREA, O: AREA},
    # Social work.
    "walkabout.plan": {S: AREA},
    "walkabout.record_visit": {S: AREA},
    "deliberation.manage": {S: AREA},
    "deliberation.vote": {R: AREA, V: AREA, S: AREA, O: AREA},
    "party.manage": {S: AREA},
    "party.report_work": {V: ASSIGNED},
    # Administration.
    "users.manage": {},
    "tokens.manage": {},
    "audit.read": {},
}


def _get(obj: Any, name: str):
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _in_scope(actor: Actor, scope: Scope, obj: Any) -> bool:
    if scope is Scope.ANY:
        return True
    if obj is None:
        # Without an object (a list page, a "new" form) area scope means "has some area at all".
        return scope in (Scope.AREA, Scope.OWN_OR_AREA) and bool(actor.area_ids)
    own = (actor.user_id is not None and _get(obj, "reporter_id") == actor.user_id) or _get(obj, "id") in actor.reporter_of
    area = _get(obj, "area_id") in actor.area_ids
    if scope is Scope.OWN:
        return own
    if scope is Scope.AREA:
        return area
    if scope is Scope.OWN_OR_AREA:
        return own or area
    if scope is Scope.ASSIGNED:
        return _get(obj, "assigned_party_id") in actor.party_ids
    return False


def may(actor: Actor, action: str, obj: Any = None) -> bool:
    """Whether the actor may do the action to the object (anything with id, area_id, reporter_id, assigned_party_id)."""
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}")
    if actor.role == "admin":
        return True
    scope = PERMISSIONS[action].get(actor.role)
    return scope is not None and _in_scope(actor, scope, obj)


def require(actor: Actor, action: str, obj: Any = None) -> None:
    """Raise AuthenticationRequired (nobody signed in) or PermissionDenied unless may() says yes."""
    if may(actor, action, obj):
        return
    if actor.is_anonymous:
        raise AuthenticationRequired(action)
    raise PermissionDenied(action)


# How much of another scope a scope covers: a role whose scope is on the right may do all the left one may.
_COVERS = {
    ANY: {ANY, AREA, ASSIGNED, OWN, OWN_OR_AREA},
    OWN_OR_AREA: {OWN_OR_AREA, OWN, AREA},
    AREA: {AREA},
    OWN: {OWN},
    ASSIGNED: {ASSIGNED},
}


def roles_within(role: str) -> tuple[str, ...]:
    """The roles whose every permission this role also has (itself included): what its API tokens may act as."""
    if role == "admin":
        return ROLES[1:]
    found = []
    for other in ROLES[1:]:
        if other == "admin":
            continue
        if all(
            entry.get(other) is None or (entry.get(role) is not None and entry[other] in _COVERS[entry[role]])
            for entry in PERMISSIONS.values()
        ):
            found.append(other)
    return tuple(found)
