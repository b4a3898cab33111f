"""Who an actor id names: the audit log and case histories record `user:<id>` for a person and the key
id for a machine key; pages and the pupil's dossier show the person's name or the key's label instead."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskscore.store.db import translate_errors
from riskscore.store.models import ApiKey, User

USER_PREFIX = "user:"


def actor_labels(session: Session, actor_ids: Iterable[str]) -> dict[str, str]:
    """Actor id → display name (people) or label (API keys); ids that name neither are left out."""
    ids = sorted({str(a) for a in actor_ids if a})
    user_ids = [a[len(USER_PREFIX):] for a in ids if a.startswith(USER_PREFIX)]
    key_ids = [a for a in ids if not a.startswith(USER_PREFIX)]
    labels: dict[str, str] = {}
    with translate_errors():
        for i in range(0, len(user_ids), 500):
            rows = session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids[i:i + 500])))
            labels.update({f"{USER_PREFIX}{row.id}": row.display_name for row in rows})
        for i in range(0, len(key_ids), 500):
            rows = session.execute(select(ApiKey.id, ApiKey.label).where(ApiKey.id.in_(key_ids[i:i + 500])))
            labels.update({row.id: row.label for row in rows})
    return labels
