"""`make demo`: a throwaway Samba lab with live sessions, the demo playbook against it, and
nothing left running afterwards (even when the playbook fails)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / 'build' / 'demo'
BIN = Path(sys.executable).parent


def lab(*args: str) -> None:
    subprocess.run([sys.executable, '-m', 'tests.lab', *args, '--state-dir', str(STATE)],
                   cwd=REPO, check=True)


def main() -> int:
    if (STATE / 'lab.json').exists():
        lab('down')  # a previous demo that was interrupted
    lab('up', '--servers', '2')
    try:
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / 'build' / 'collections'),
                   ANSIBLE_NOCOLOR='1')
        return subprocess.run([str(BIN / 'ansible-playbook'), '-i', str(STATE / 'inventory.ini'),
                               str(REPO / 'tests' / 'demo' / 'demo.yml')],
                              cwd=REPO, env=env, check=False).returncode
    finally:
        lab('down')


if __name__ == '__main__':
    sys.exit(main())
