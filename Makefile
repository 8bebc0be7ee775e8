# lanman.server: set-up, demo and tests on a Debian/Ubuntu machine (run as root).
# `make demo` and `make test` each do the whole set-up first; nothing else needs installing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTIONS := build/collections
LINK := $(COLLECTIONS)/ansible_collections/lanman/server
SANITY_ROOT := build/sanity/ansible_collections/lanman/server
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
# Ansible's own home (temp files, caches, default install paths) in build/, not ~/.ansible:
# make demo and make test leave nothing in the user's home.
export ANSIBLE_HOME := $(CURDIR)/build/ansible-home

.PHONY: setup system-packages demo test unit static lab e2e windows shim molecule changelog docs lint sanity build clean bench

setup: system-packages $(BIN)/.installed $(LINK)

# Samba from the distribution: the real server the demo and the tests talk to, and its AD
# domain controller with MIT Kerberos' tools for the domain lab (ip from iproute2 makes its
# network namespace); venv support, which Debian and Ubuntu ship apart from python3; Mono's C# 5
# compiler and gcc for the shim; the MIT Kerberos and Python headers that pykerberos (pywinrm's
# Kerberos) and gssapi (the WinRM test endpoint's) are built with; Chromium, which opens the
# HTML report in a test.
system-packages:
	@command -v smbd >/dev/null && command -v rpcclient >/dev/null && command -v mcs >/dev/null \
	  && command -v chromium >/dev/null && command -v samba >/dev/null \
	  && command -v kinit >/dev/null && command -v ip >/dev/null && command -v krb5-config >/dev/null \
	  && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    samba samba-ad-dc krb5-user iproute2 libkrb5-dev python3-dev smbclient python3-venv \
	    mono-mcs gcc chromium \
	    >/dev/null; }

$(BIN)/.installed: tests/requirements.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Ansible finds the collection as lanman.server through this link to the repository.
$(LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

demo: setup
	$(BIN)/python tests/demo/run.py

test: setup unit static lab e2e windows shim molecule changelog docs lint sanity

# The fast tier: no root, no network, seconds (tests/unit mirrors plugins/).
unit:
	$(BIN)/python -m pytest tests/unit -q

# ruff (ruff.toml) and mypy (mypy.ini) on the collection and the tests. mypy reads the
# collection through its ansible_collections link, the way the tests import it.
static:
	$(BIN)/ruff check plugins tests
	$(BIN)/mypy $(LINK)/plugins tests

lab:
	$(BIN)/python -m pytest tests/lab -q

e2e:
	$(BIN)/python -m pytest tests/e2e -q

# The Windows model, served over SMB (srvsvc pipe) and WS-Management, and the WinRM endpoint.
windows:
	$(BIN)/python -m pytest tests/windows tests/wsman -q

shim:
	$(BIN)/python -m pytest tests/shim -q

# Each role's Molecule scenario starts its own Samba lab (tests/molecule) and stops it again.
# Molecule's working files go to build/, not ~/.ansible/tmp; the scenarios' prerun is off so
# nothing installs the collection into ~/.ansible (see their molecule.yml).
molecule:
	for role in session_report session_drain; do \
	  (cd roles/$$role && PATH=$(CURDIR)/$(BIN):$$PATH \
	    MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/build/molecule/$$role-ephemeral \
	    $(CURDIR)/$(BIN)/molecule test) || exit 1; \
	done

changelog:
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

# The docsite guides and every plugin's and role's documentation, their option and return
# value references included.
docs:
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .

# The whole repository at the production profile (.ansible-lint says what is left out).
lint:
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint

# ansible-test needs the collection in a real ansible_collections/lanman/server folder, with
# a git repository of its own (build/ is ignored by ours, so it would see no files).
# Its sanity venvs bootstrap pip from a host we cannot reach: see tests/sanity/get_pip_standin.py.
# ansible-test keeps its venvs and caches under ~/.ansible/test: a home in build/ keeps them
# (and the pip stand-in) out of the user's home.
SANITY_HOME := $(CURDIR)/build/sanity-home
sanity: setup
	mkdir -p $(SANITY_HOME)/.ansible/test/cache
	cp tests/sanity/get_pip_standin.py $(SANITY_HOME)/.ansible/test/cache/get_pip_24_2.py
	rm -rf build/sanity && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(SANITY_ROOT)
	cd $(SANITY_ROOT) && git init -q && git add -A
	cd $(SANITY_ROOT) && HOME=$(SANITY_HOME) $(CURDIR)/$(BIN)/ansible-test sanity --venv --requirements \
	  --python $$($(CURDIR)/$(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

build: setup
	mkdir -p build/dist
	$(BIN)/ansible-galaxy collection build --force --output-path build/dist .

clean:
	rm -rf build .pytest_cache

# Performance figures side by side on real Samba servers (a few minutes); writes bench-results.json.
bench: setup
	$(BIN)/python tests/bench/run.py
