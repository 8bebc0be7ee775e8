"""Make the collection importable as ansible_collections.lanman.server from the repository.

``make`` links the repository at build/collections/ansible_collections/lanman/server; the
tests import the collection from there, exactly as Ansible does.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / 'build' / 'collections'
_LINK = COLLECTIONS / 'ansible_collections' / 'lanman' / 'server'
if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(REPO)
for path in (str(COLLECTIONS), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)
