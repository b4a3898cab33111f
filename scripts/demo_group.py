"""Print the mentor group of a school with the most open school cases today (empty when the school's pupils
have no mentor group): the demo's group mentor then finds pupils on the list.

    .venv/bin/python scripts/demo_group.py BRIN
"""

from __future__ import annotations

import sys
from collections import Counter

from riskscore.review import duties
from riskscore.settings import Settings
from riskscore.store.cases import WorklistFilter, list_worklist_rows
from riskscore.store.db import make_engine, session_factory
from riskscore.store.registrations import group_of


def main() -> None:
    school = sys.argv[1]
    engine = make_engine(Settings().resolved_database_url())
    try:
        with session_factory(engine)() as session:
            rows = list_worklist_rows(session, WorklistFilter(role="school", school_id=school))
            groups = group_of(session, {r.case.student_id for r in rows}, duties.today())
    finally:
        engine.dispose()
    counts = Counter(g for g in groups.values() if g)
    print(counts.most_common(1)[0][0] if counts else "")


if __name__ == "__main__":
    main()
