"""Write docs/events.md from the event catalog (gamification/outbox/catalog.py), so the
reference cannot drift from it.

    .venv/bin/python docs/gen_events.py            # rewrite docs/events.md
    .venv/bin/python docs/gen_events.py --check    # exit 1 when the file is out of date

`tests/gamification/outbox/test_catalog.py` fails when the file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gamification.outbox import catalog

_DOC = Path(__file__).resolve().parent / "events.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = catalog.markdown()
    if args.check:
        return 0 if _DOC.exists() and _DOC.read_text() == text else 1
    _DOC.write_text(text)
    print(f"wrote {_DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
