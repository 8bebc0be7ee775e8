"""Run a command and report the peak memory of its whole process tree; run as a script.

``python _rss.py TIMEOUT COMMAND...`` prints one JSON line: the exit status, the wall time, the
peak RSS of the largest single process in the tree (``RUSAGE_CHILDREN`` ``ru_maxrss``: this
wrapper has no other children) and the peak of the summed RSS of every live process of the
tree, polled every 10 ms from /proc (shared pages of forked workers count once per process).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_POLL_SECONDS = 0.01
_PAGE = os.sysconf('SC_PAGE_SIZE')


def _tree_rss(root: int) -> int:
    """Summed RSS (bytes) of ``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def main() -> int:
    timeout = float(sys.argv[1])
    argv = sys.argv[2:]
    started = time.monotonic()
    # A file, not a pipe: a module's JSON can be far larger than a pipe's buffer.
    output_file = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, stdout=output_file, stderr=subprocess.STDOUT)
    peak_tree = 0
    deadline = started + timeout
    while process.poll() is None and time.monotonic() < deadline:
        peak_tree = max(peak_tree, _tree_rss(process.pid))
        time.sleep(_POLL_SECONDS)
    if process.poll() is None:
        process.kill()
    process.wait()
    output_file.seek(0)
    output = output_file.read().decode(errors='replace')
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({'rc': process.returncode, 'wall_seconds': wall,
                      'max_process_rss_mb': usage.ru_maxrss / 1024,
                      'peak_tree_rss_mb': peak_tree / 2 ** 20,
                      'output': output}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
