"""Who is acting. Every service call takes one; pages keep it in the session."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.models import Role, User


@dataclass(frozen=True)
class Actor:
    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def of(cls, user: User) -> Actor:
        assert user.id is not None
        return cls(id=user.id, username=user.username, role=user.role)


SYSTEM = Actor(id=0, username="system:reconciler", role=Role.ADMIN)
