"""Self-tests of the domain lab (tests/lab/domain.py), checked with Samba's and MIT's own tools.

Needs root (network namespaces, port 445) and samba-ad-dc with krb5-user; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from . import domain as ad
from .__main__ import DOMAIN_SESSION_MIX
from .samba import find_processes

if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("samba", "kinit", "ip")):
    pytest.skip("the domain lab needs root, samba-ad-dc, krb5-user and iproute2", allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_domain_lab_up_holds_ntlm_and_kerberos_sessions_and_down_leaves_nothing(tmp_path: Path) -> None:
    # A short path: samba's sockets live below it, and a Unix socket path has at most 107 bytes.
    state_dir = Path(tempfile.mkdtemp(prefix="dlab-")) / "lab"
    state_dir.parent.chmod(0o755)  # domain users open files on the share below it
    namespace = None
    try:
        started = lab_cli("up", "--domain", "--state-dir", str(state_dir))
        assert started.returncode == 0, started.stderr
        lab = json.loads((state_dir / "lab.json").read_text())
        namespace = lab["domain"]["namespace"]
        inventory = (state_dir / "inventory.ini").read_text()
        assert f"{ad.DC_FQDN} ansible_host={ad.DC_ADDRESS}" in inventory
        assert (Path("/etc/netns") / namespace / "hosts").read_text().count(ad.DC_FQDN) == 1
        run_inside = lab["domain"]["run_inside"].split()
        conf = Path(lab["domain"]["base_dir"]) / "run" / "dc" / "etc" / "smb.conf"
        # smbstatus (Samba's own view): one session per held spec, from its own address.
        status = subprocess.run(run_inside + ["smbstatus", "-s", str(conf), "-b"],
                                capture_output=True, text=True, timeout=60, check=True).stdout
        clients = re.findall(r"\(ipv4:(127\.0\.1\.\d+):\d+\)", status)
        assert sorted(clients) == sorted(session[0] for session in DOMAIN_SESSION_MIX)
        # MIT kinit inside the namespace reaches the lab's KDC by its krb5.conf.
        account = ad.ACCOUNTS[0]
        cache = tmp_path / "probe.cc"
        subprocess.run(run_inside + ["kinit", "-c", str(cache), f"{account.name}@{ad.REALM}"],
                       input=account.password + "\n", capture_output=True, text=True, timeout=60,
                       check=True)
        assert f"{account.name}@{ad.REALM}" in subprocess.run(
            ["klist", "-c", str(cache)], capture_output=True, text=True, check=True).stdout
    finally:
        stopped = lab_cli("down", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert namespace is not None
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                           text=True, check=True).stdout
    assert not (Path("/etc/netns") / namespace).exists()
    assert str(state_dir) not in Path("/proc/mounts").read_text()
    assert not (state_dir / "lab.json").exists()
    assert find_processes(lambda argv: any(str(state_dir) in arg for arg in argv)) == []
    shutil.rmtree(state_dir.parent)
