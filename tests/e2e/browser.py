"""Headless Chromium for the tests: a page's DOM after its scripts ran, and its console output."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which('chromium')
# Flags for a closed network: no background traffic, no component updates, no QUIC, no sandbox
# (root); a new empty profile each time.
_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync',
          '--enable-logging=stderr', '--v=0']
# Chromium logs each console message as `...:CONSOLE:<line>] "<text>", source: <url> (<line>)`
# (older builds: `CONSOLE(<line>)]`).
_CONSOLE = re.compile(r'CONSOLE[:(]\d+\)?\] "(.*?)", source: ', re.S)


def render(page: Path, screenshot: Path | None = None) -> tuple[str, list[str]]:
    """The page's DOM once loaded, and every message its scripts logged (errors included)."""
    with tempfile.TemporaryDirectory() as profile:
        base = [CHROMIUM or 'chromium', *_FLAGS, f'--user-data-dir={profile}']
        done = subprocess.run([*base, '--dump-dom', page.as_uri()], capture_output=True, text=True,
                              timeout=120, check=True)
        if screenshot is not None:
            subprocess.run([*base, f'--screenshot={screenshot}', '--window-size=1200,1400',
                            page.as_uri()], capture_output=True, timeout=120, check=True)
    return done.stdout, _CONSOLE.findall(done.stderr)
