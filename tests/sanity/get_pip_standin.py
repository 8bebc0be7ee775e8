"""Stand-in for the pip bootstrap script that ansible-test downloads into its venvs.

ansible-test fetches get-pip.py from a host outside the package registries, which this
project's machines cannot reach. This script does the same job from what they can reach:
ensurepip puts the bundled pip into the new venv, then pip installs what ansible-test asked
for (e.g. ``pip==24.2``) from PyPI. ``make sanity`` copies it into ansible-test's cache.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip.py's own switches; pip install does not know them.
_GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}

ensurepip.bootstrap(upgrade=True)
# ensurepip sets PIP_CONFIG_FILE=/dev/null in our environment; the install below must see the
# machine's pip configuration (its index and certificate settings) like any other pip run.
os.environ.pop('PIP_CONFIG_FILE', None)
subprocess.check_call([sys.executable, '-m', 'pip', 'install']
                      + [arg for arg in sys.argv[1:] if arg not in _GET_PIP_ONLY])
