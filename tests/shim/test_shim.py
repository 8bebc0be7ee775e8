"""The WinRM shim itself (module_utils/_winrm_shim.py): its PowerShell and C#, checked here.

No PowerShell runs on this machine. What does run: both tree-sitter grammars over the texts,
Mono's C# compiler held to C# 5 (what Windows PowerShell 5.1's Add-Type accepts), and the C#
itself under Mono, against a native stand-in for netapi32 (netapi32_standin.c) that pages with
ERROR_MORE_DATA and counts every buffer it hands out and gets back.

Needs the PyPI packages tree-sitter, tree-sitter-powershell and tree-sitter-c-sharp (see
tests/requirements.txt), and the Debian packages mono-mcs (which brings mono-runtime) and gcc;
without mcs, mono or gcc the tests that need them skip and say which package to install.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_c_sharp as ts_csharp
import tree_sitter_powershell as ts_powershell

from ansible_collections.lanman.server.plugins.module_utils import _winrm_shim
from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT


HERE = Path(__file__).resolve().parent
STANDIN_C = HERE / 'netapi32_standin.c'
DRIVER_CS = HERE / 'ShimDriver.cs'

# cmd.exe's limit on one command line, and the longest command line the transport sends.
CMD_LINE_LIMIT = 8191
COMMAND_PREFIX = 'powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand '
# The shim travels on stdin with every call: it must stay far below one chunk (96 KiB).
SHIM_SIZE_LIMIT = 32 * 1024

PS = ts.Parser(ts.Language(ts_powershell.language()))
CS = ts.Parser(ts.Language(ts_csharp.language()))


def syntax_errors(parser, text: str) -> list[str]:
    """Every ERROR or MISSING node of the parse, as 'line:column: text'."""
    errors = []
    stack = [parser.parse(text.encode('utf-8')).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, column = node.start_point
            errors.append(f"{row + 1}:{column + 1}: {node.type} {node.text[:60]!r}")
        stack.extend(node.children)
    return errors


def csharp_source(script: str = SHIM_SCRIPT) -> str:
    """The C# of the script's one verbatim here-string (@'...'@), found by the PowerShell grammar."""
    found = []
    stack = [PS.parse(script.encode('utf-8')).root_node]
    while stack:
        node = stack.pop()
        if node.type == 'verbatim_here_string_characters' and node.text is not None:
            found.append(node.text.decode('utf-8'))
        stack.extend(node.children)
    assert len(found) == 1, 'the shim has exactly one here-string: the C# source'
    text = found[0]
    assert text.startswith("@'\n") and text.endswith("\n'@")
    return text[3:-3] + '\n'


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def mcs(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess:
    """Mono's compiler held to C# 5, warnings as errors, as a library."""
    compiler = tool('mcs', 'mono-mcs')
    (tmp_path / 'shim.cs').write_text(source)
    return subprocess.run([compiler, '-langversion:5', '-target:library', '-warnaserror+', *options,
                           f"-out:{tmp_path / 'shim.dll'}", str(tmp_path / 'shim.cs')],
                          capture_output=True, text=True, timeout=120, check=False)


# --- the module and the texts --------------------------------------------------------------

def test_module_holds_nothing_but_the_two_constants():
    tree = ast.parse(Path(_winrm_shim.__file__).read_text())
    names = []
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the docstring
        if isinstance(statement, ast.ImportFrom) and statement.module == '__future__':
            continue
        assert isinstance(statement, ast.Assign), ast.dump(statement)
        assert isinstance(statement.value, (ast.Constant, ast.List)), ast.dump(statement)
        names.extend(target.id for target in statement.targets)
    assert names == ['__all__', 'BOOTSTRAP', 'SHIM_SCRIPT']
    assert _winrm_shim.__all__ == ['BOOTSTRAP', 'SHIM_SCRIPT']


@pytest.mark.parametrize('name', ['BOOTSTRAP', 'SHIM_SCRIPT'])
def test_texts_are_ascii_lf_and_free_of_nul(name):
    # ASCII: no console code page can change them. LF: what the bootstrap's line join gives back.
    text = getattr(_winrm_shim, name)
    assert text.isascii()
    assert '\r' not in text
    assert '\0' not in text  # NUL separates the script from the request
    assert text.endswith('\n')


def test_shim_stays_small():
    assert len(SHIM_SCRIPT.encode('ascii')) < SHIM_SIZE_LIMIT


def test_bootstrap_command_line_fits_cmd_with_room_to_spare():
    encoded = base64.b64encode(BOOTSTRAP.encode('utf-16-le')).decode('ascii')
    command = COMMAND_PREFIX + encoded
    assert len(command) < CMD_LINE_LIMIT
    # "Far below": the script could grow four times over and still fit.
    assert len(command) * 4 < CMD_LINE_LIMIT


def test_bootstrap_reads_stdin_and_runs_the_script_with_the_request_as_its_argument():
    assert '$input' in BOOTSTRAP
    assert 'IndexOf([char]0)' in BOOTSTRAP  # ordinal; IndexOf("`0") is culture-aware and finds 0
    assert '[scriptblock]::Create($t.Substring(0, $i))' in BOOTSTRAP
    assert '$t.Substring($i + 1)' in BOOTSTRAP
    assert 'exit 1' in BOOTSTRAP


def test_bootstrap_split_gives_back_the_script_byte_for_byte():
    # What the bootstrap does, in Python: stdin as lines ($input), joined with LF, cut at the
    # first NUL. The script and the request must come back unchanged.
    request = {'operation': 'enum', 'level': 502, 'client': '\\\\127.0.1.1', 'username': 'J\u00f6rg',
               'pref_max_len': -1}
    stdin = (SHIM_SCRIPT + '\0' + json.dumps(request, separators=(',', ':'))).encode('utf-8')
    assert stdin.isascii()  # json.dumps escapes non-ASCII by default
    text = '\n'.join(stdin.decode('ascii').splitlines())
    cut = text.index('\0')
    assert text[:cut] == SHIM_SCRIPT
    assert json.loads(text[cut + 1:]) == request


def test_script_takes_the_request_as_data_and_answers_one_json_line():
    assert re.search(r'^param\(\[string\]\$RequestJson\)$', SHIM_SCRIPT, re.M)
    assert 'ConvertFrom-Json -InputObject $RequestJson' in SHIM_SCRIPT
    assert 'ConvertTo-Json -InputObject $response -Compress -Depth 4' in SHIM_SCRIPT
    assert '| ConvertTo-Json' not in SHIM_SCRIPT  # the pipeline unrolls one-entry lists on 5.1
    assert '[Console]::Out.WriteLine([LanmanServer.Shim.SessionApi]::AsciiJson($json))' in SHIM_SCRIPT
    assert 'Add-Type -TypeDefinition $source -Language CSharp' in SHIM_SCRIPT
    assert re.search(r"catch \{\n    \$host\.UI\.WriteErrorLine\([^\n]*\)\n    exit 1\n\}\n\Z", SHIM_SCRIPT)
    for operation in ('enum', 'delete'):
        assert f"$operation -eq '{operation}'" in SHIM_SCRIPT


def test_csharp_imports_netapi32_in_the_shipped_text():
    source = csharp_source()
    assert 'public const string Netapi32 = "netapi32.dll";' in source
    imports = re.findall(r'\[DllImport\(([^)]*)\)\]\s*public static extern Int32 (\w+)\(', source)
    assert sorted(imports) == [
        ('Netapi32', 'NetApiBufferFree'),
        ('Netapi32', 'NetFileClose'),
        ('Netapi32, CharSet = CharSet.Unicode', 'NetFileEnum'),
        ('Netapi32, CharSet = CharSet.Unicode', 'NetSessionDel'),
        ('Netapi32, CharSet = CharSet.Unicode', 'NetSessionEnum'),
        ('Netapi32, CharSet = CharSet.Unicode', 'NetSessionGetInfo'),
    ]
    assert source.count('[StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]') == 6
    assert 'class SafeNetApiBuffer : SafeHandleZeroOrMinusOneIsInvalid' in source
    assert 'IntPtr.Add(buf, i * Marshal.SizeOf(type))' in source
    assert 'ToInt32' not in source and 'ToInt64' not in source


@pytest.mark.parametrize('construct', [r'\$"', r'\)\s*=>', r'\?\.', r'\bnameof\b', r'\bout var\b', r'\{ get; \} ='])
def test_csharp_text_has_no_csharp6_construct(construct):
    # A cheap guard that runs even without mcs; the compiler test below is the real one.
    assert not re.search(construct, csharp_source())


# --- tree-sitter ----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['BOOTSTRAP', 'SHIM_SCRIPT'])
def test_powershell_parses_without_errors(name):
    assert syntax_errors(PS, getattr(_winrm_shim, name)) == []


def test_embedded_csharp_parses_without_errors():
    source = csharp_source()
    assert 'namespace LanmanServer.Shim' in source
    assert syntax_errors(CS, source) == []


@pytest.mark.parametrize('old, new', [
    ("if ($operation -eq 'enum') {", "if ($operation -eq 'enum' {"),
    ('catch {', 'catch '),
])
def test_powershell_check_bites(old, new):
    assert syntax_errors(PS, SHIM_SCRIPT.replace(old, new, 1)) != []


def test_csharp_check_bites():
    broken = csharp_source().replace('int resume = 0;', 'int resume = 0', 1)
    assert syntax_errors(CS, broken) != []


# --- Mono's C# compiler at C# 5 -------------------------------------------------------------

def test_csharp_compiles_as_csharp5_without_warnings(tmp_path):
    result = mcs(tmp_path, csharp_source())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('feature, member', [
    ('interpolated strings', 'private static string Six(int x) { return $"{x}"; }'),
    ('expression bodied members', 'private static int Six() => 6;'),
    ('nameof operator', 'private static string Six() { return nameof(MAX_PAGES); }'),
    ('out variable declaration', 'private static int Six(string s) { int.TryParse(s, out var v); return v; }'),
    ('null propagating operator', 'private static string Six(object o) { return o?.ToString(); }'),
    ('auto-implemented property initializer', 'public static int Six { get; set; } = 6;'),
])
def test_csharp6_construct_fails_to_compile(tmp_path, feature, member):
    anchor = 'public static class SessionApi\n    {\n'
    source = csharp_source()
    assert anchor in source
    result = mcs(tmp_path, source.replace(anchor, anchor + '        ' + member + '\n', 1))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'error CS1644' in output and f"`{feature}' cannot be used" in output, output


# --- the C# under Mono, against the netapi32 stand-in ---------------------------------------

@pytest.fixture(scope='module')
def driver(tmp_path_factory):
    """Run requests through SessionApi under Mono; each gives (response, stand-in counters)."""
    compiler = tool('mcs', 'mono-mcs')
    mono = tool('mono', 'mono-runtime')
    gcc = tool('gcc', 'gcc')
    work = tmp_path_factory.mktemp('shim-mono')
    library = work / 'libnetapi32standin.so'
    subprocess.run([gcc, '-shared', '-fPIC', '-O1', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', str(library),
                    str(STANDIN_C)], check=True, timeout=120)
    (work / 'shim.cs').write_text(csharp_source())
    subprocess.run([compiler, '-langversion:5', '-target:library', '-warnaserror+', f"-out:{work / 'shim.dll'}",
                    str(work / 'shim.cs')], check=True, timeout=120)
    subprocess.run([compiler, '-langversion:5', '-warnaserror+', f"-r:{work / 'shim.dll'}",
                    f"-out:{work / 'driver.exe'}", str(DRIVER_CS)], check=True, timeout=120)
    # Mono's dllmap: the shipped DllImport("netapi32.dll") loads the stand-in; the shim is unchanged.
    dllmap = f'<configuration>\n  <dllmap dll="netapi32.dll" target="{library}"/>\n</configuration>\n'
    for assembly in ('shim.dll', 'driver.exe'):
        (work / f'{assembly}.config').write_text(dllmap)

    def run(*requests):
        lines = ['\t'.join('<null>' if field is None else str(field) for field in request) for request in requests]
        # cwd: where Mono would leave its crash reports, should the marshalling ever crash it.
        result = subprocess.run([mono, str(work / 'driver.exe')], input='\n'.join(lines) + '\n', cwd=work,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        answers = []
        for line in result.stdout.splitlines():
            assert line.isascii()
            answer = json.loads(line)
            answers.append((answer['response'], answer['stub']))
        return answers

    return run


def max_pages() -> int:
    match = re.search(r'public const int MAX_PAGES = (\d+);', csharp_source())
    assert match is not None, 'the C# source declares MAX_PAGES'
    return int(match.group(1))


def enum(level, client=None, username=None, pref_max_len=-1):
    return ('enum', level, client, username, pref_max_len)


def delete(client, username):
    return ('delete', client, username)


def plan(*steps, pref_max_len=-1):
    """Steps as (level, client, username, {status: next step})."""
    return ('plan', pref_max_len, *(
        '|'.join(['<null>' if value is None else str(value) for value in (level, client, username)]
                 + [','.join(f'{status},{following}' for status, following in fallback.items())])
        for level, client, username, fallback in steps))


def delete_each(*pairs):
    return ('deleteeach', *('|'.join('<null>' if value is None else value for value in pair) for pair in pairs))


# What _operations.fallback_plan makes of level auto: 502, 2, 1 need one right, 10 and 0 another.
AUTO = [(502, None, None, {124: 1, 5: 3}), (2, None, None, {124: 2, 5: 3}), (1, None, None, {124: 3, 5: 3}),
        (10, None, None, {124: 4}), (0, None, None, {})]


def configure(fault_call=0, fault_status=0, mode=0):
    return ('configure', fault_call, fault_status, mode)


def plain(value):
    """The driver tags numbers with their .NET type ({"UInt32": 5}); the values alone."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ('Int32', 'UInt32'):
        return next(iter(value.values()))
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def freed_everything(stub, buffers):
    return (stub['allocs'] == buffers and stub['frees'] == buffers and stub['live'] == 0
            and stub['bad_frees'] == 0)


# The stand-in's sessions (netapi32_standin.c), at level 502.
SESSIONS = [
    {'cname': '127.0.1.1', 'username': 'alice', 'num_opens': 2, 'time': 300, 'idle_time': 10, 'user_flags': 0,
     'cltype_name': 'Windows 10 Enterprise 19045', 'transport': '\\Device\\NetbiosSmb'},
    {'cname': '127.0.1.2', 'username': 'bob', 'num_opens': 0, 'time': 200, 'idle_time': 200, 'user_flags': 2,
     'cltype_name': '', 'transport': '\\Device\\NetbiosSmb'},
    {'cname': '127.0.1.3', 'username': 'guest', 'num_opens': 1, 'time': 100, 'idle_time': 5, 'user_flags': 1,
     'cltype_name': None, 'transport': '\\Device\\NetBT_Tcpip_{B0A}'},
    {'cname': '127.0.1.4', 'username': 'J\u00f6rg \U0001F600', 'num_opens': 5, 'time': 4000000000, 'idle_time': 0,
     'user_flags': 0, 'cltype_name': 'Samba 4.17', 'transport': '\\Device\\NetbiosSmb'},
    {'cname': '127.0.1.1', 'username': 'carol', 'num_opens': 0, 'time': 50, 'idle_time': 50, 'user_flags': 0,
     'cltype_name': '', 'transport': '\\Device\\NetbiosSmb'},
]
LEVEL_FIELDS = {
    0: ['cname'],
    1: ['cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags'],
    2: ['cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags', 'cltype_name'],
    10: ['cname', 'username', 'time', 'idle_time'],
    502: ['cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags', 'cltype_name', 'transport'],
}


@pytest.mark.parametrize('level', sorted(LEVEL_FIELDS))
def test_enum_marshals_every_field_of_every_level(driver, level):
    [(response, stub)] = driver(enum(level))
    assert list(response) == ['status', 'entries']
    assert plain(response) == {'status': 0, 'entries': [
        {field: session[field] for field in LEVEL_FIELDS[level]} for session in SESSIONS]}
    assert stub['enum_calls'] == 1 and stub['getinfo_calls'] == 0
    assert stub['last_prefmaxlen'] == 0xFFFFFFFF  # MAX_PREFERRED_LENGTH
    assert freed_everything(stub, 1)


def test_dwords_stay_unsigned(driver):
    [(response, _stub)] = driver(enum(1))
    assert response['entries'][3]['time'] == {'UInt32': 4000000000}


@pytest.mark.parametrize('level, pref_max_len, pages', [
    (502, 96, 3),   # two 48-byte SESSION_INFO_502 a page
    (1, 100, 2),    # three 32-byte SESSION_INFO_1 a page
    (0, 1, 5),      # one a page
])
def test_enum_pages_through_error_more_data_and_frees_every_page(driver, level, pref_max_len, pages):
    [(paged, stub), (whole, _whole_stub)] = driver(enum(level, pref_max_len=pref_max_len), enum(level))
    assert plain(paged) == plain(whole)
    assert len(paged['entries']) == len(SESSIONS)
    assert stub['enum_calls'] == pages and stub['last_prefmaxlen'] == pref_max_len
    assert freed_everything(stub, pages)


def test_enum_failing_on_a_later_page_reports_the_status_and_frees_the_earlier_pages(driver):
    [(response, stub)] = driver(configure(fault_call=2, fault_status=8), enum(502, pref_max_len=96))
    assert plain(response) == {'status': 8, 'entries': []}
    assert stub['enum_calls'] == 2
    assert freed_everything(stub, 1)


def test_enum_that_never_ends_is_cut_at_max_pages(driver):
    [(response, stub)] = driver(configure(mode=1), enum(502))
    assert plain(response) == {'status': 234, 'entries': []}
    assert stub['enum_calls'] == max_pages() == 1000
    assert freed_everything(stub, max_pages())


def test_enum_page_without_entries_stops_the_loop(driver):
    [(response, stub)] = driver(configure(mode=2), enum(1))
    assert plain(response) == {'status': 234, 'entries': []}
    assert stub['enum_calls'] == 1
    assert freed_everything(stub, 0)


@pytest.mark.parametrize('client, username, expected', [
    ('\\\\127.0.1.1', None, [0, 4]),
    (None, 'bob', [1]),
    ('\\\\127.0.1.4', None, [3]),
])
def test_enum_filters_and_a_single_entry_is_still_a_list(driver, client, username, expected):
    [(response, stub)] = driver(enum(502, client, username))
    assert plain(response) == {'status': 0, 'entries': [SESSIONS[index] for index in expected]}
    assert stub['last_client'] == (0 if client is None else 2) and stub['last_user'] == (0 if username is None else 2)
    assert freed_everything(stub, 1)


@pytest.mark.parametrize('client, username, status', [
    ('\\\\127.0.9.9', None, 2312),  # NERR_ClientNameNotFound
    (None, 'nobody', 2221),         # NERR_UserNotFound
    ('127.0.1.1', None, 87),        # no leading \\
])
def test_enum_statuses_come_back_as_statuses(driver, client, username, status):
    [(response, stub)] = driver(enum(1, client, username))
    assert plain(response) == {'status': status, 'entries': []}
    assert freed_everything(stub, 0)


@pytest.mark.parametrize('level', [0, 1, 2, 10])
def test_enum_with_both_filters_calls_netsessiongetinfo(driver, level):
    [(response, stub)] = driver(enum(level, '\\\\127.0.1.1', 'carol'))
    assert plain(response) == {'status': 0, 'entries': [{field: SESSIONS[4][field] for field in LEVEL_FIELDS[level]}]}
    assert stub['getinfo_calls'] == 1 and stub['enum_calls'] == 0
    assert freed_everything(stub, 1)


def test_enum_with_both_filters_at_level_502_calls_netsessionenum(driver):
    [(response, stub)] = driver(enum(502, '\\\\127.0.1.1', 'carol'))
    assert plain(response) == {'status': 0, 'entries': [SESSIONS[4]]}
    assert stub['getinfo_calls'] == 0 and stub['enum_calls'] == 1
    assert stub['last_client'] == 2 and stub['last_user'] == 2


def test_getinfo_not_found_is_a_status(driver):
    [(response, stub)] = driver(enum(1, '\\\\127.0.1.1', 'bob'))
    assert plain(response) == {'status': 2221, 'entries': []}
    assert stub['getinfo_calls'] == 1
    assert freed_everything(stub, 0)


def test_enum_unknown_level_is_error_invalid_level_without_a_call(driver):
    [(response, stub)] = driver(enum(3))
    assert plain(response) == {'status': 124, 'entries': []}
    assert stub['enum_calls'] == 0 and stub['getinfo_calls'] == 0


def test_empty_strings_travel_as_null(driver):
    # PowerShell hands $null to a string parameter as "": the shim must send NULL on.
    [(_enum_response, enum_stub), (response, del_stub)] = driver(enum(0, '', ''), delete('', 'bob'))
    assert enum_stub['enum_calls'] == 1 and enum_stub['last_client'] == 0 and enum_stub['last_user'] == 0
    assert plain(response) == {'status': 0}
    assert del_stub['last_client'] == 0 and del_stub['last_user'] == 2


def test_delete_closes_what_it_names(driver):
    answers = driver(delete('\\\\127.0.1.1', None), enum(0), delete(None, 'bob'), enum(0),
                     delete('\\\\127.0.1.1', None))
    assert [plain(response) for response, _stub in answers] == [
        {'status': 0}, {'status': 0, 'entries': [{'cname': '127.0.1.2'}, {'cname': '127.0.1.3'}, {'cname': '127.0.1.4'}]},
        {'status': 0}, {'status': 0, 'entries': [{'cname': '127.0.1.3'}, {'cname': '127.0.1.4'}]},
        {'status': 2312},
    ]
    assert [stub['del_calls'] for _response, stub in answers] == [1, 0, 1, 0, 1]


@pytest.mark.parametrize('client, username', [(None, None), ('', ''), ('', None)])
def test_delete_never_sends_both_null(driver, client, username):
    [(response, stub)] = driver(delete(client, username))
    assert plain(response) == {'status': 87}
    assert stub['del_calls'] == 0


# --- the plan and the list of pairs: one PowerShell process for all of a run's work --------

def test_plan_answers_at_the_first_step_that_succeeds(driver):
    [(response, stub)] = driver(plan(*AUTO))
    assert plain(response) == {'status': 0, 'entries': SESSIONS, 'steps': [0], 'statuses': [0]}
    assert stub['enum_calls'] == 1 and freed_everything(stub, 1)


def test_plan_falls_back_by_the_status_and_skips_what_the_fallback_skips(driver):
    # Access denied at 502: straight to 10, as the fallback says (2 and 1 need the same right).
    [(response, stub)] = driver(configure(fault_call=1, fault_status=5), plan(*AUTO))
    assert plain(response) == {'status': 0, 'steps': [0, 3], 'statuses': [5, 0], 'entries': [
        {field: session[field] for field in LEVEL_FIELDS[10]} for session in SESSIONS]}
    assert stub['enum_calls'] == 2 and freed_everything(stub, 1)


def test_plan_goes_on_to_the_next_level_after_invalid_level(driver):
    [(response, stub)] = driver(plan((3, None, None, {124: 1}), (0, None, None, {})))
    assert plain(response)['steps'] == [0, 1] and plain(response)['statuses'] == [124, 0]
    assert len(response['entries']) == len(SESSIONS) and stub['enum_calls'] == 1


@pytest.mark.parametrize('steps, status', [
    ([(502, None, 'nobody', {124: 1, 5: 1}), (10, None, 'nobody', {})], 2221),  # no match: not a fallback
    ([(502, None, None, {5: 0}), (10, None, None, {})], 5),                      # never back to an earlier step
])
def test_plan_ends_at_a_status_it_has_no_fallback_for(driver, steps, status):
    [(response, stub)] = driver(configure(fault_call=1, fault_status=5) if status == 5 else configure(), plan(*steps))
    assert plain(response) == {'status': status, 'entries': [], 'steps': [0], 'statuses': [status]}
    assert stub['enum_calls'] == 1


def test_delete_each_goes_on_past_a_pair_already_gone(driver):
    [(response, stub), (listed, _stub)] = driver(
        delete_each(('\\\\127.0.1.2', 'bob'), ('\\\\127.0.9.9', 'nobody'), ('\\\\127.0.1.1', 'carol')), enum(0))
    assert plain(response) == {'status': 0, 'statuses': [0, 2312, 0]}
    assert stub['del_calls'] == 3
    assert plain(listed)['entries'] == [{'cname': '127.0.1.1'}, {'cname': '127.0.1.3'}, {'cname': '127.0.1.4'}]


def test_delete_each_stops_at_the_first_refusal_and_leaves_the_rest(driver):
    [(response, stub), (listed, _stub)] = driver(
        configure(fault_call=2, fault_status=5, mode=3),
        delete_each(('\\\\127.0.1.2', 'bob'), ('\\\\127.0.1.3', 'guest'), ('\\\\127.0.1.1', 'carol')), enum(0))
    assert plain(response) == {'status': 5, 'statuses': [0, 5]}
    assert stub['del_calls'] == 2
    assert len(plain(listed)['entries']) == len(SESSIONS) - 1  # bob only: guest refused, carol never asked


def test_delete_each_never_sends_both_null_and_stops_there(driver):
    [(response, stub)] = driver(delete_each((None, None), ('\\\\127.0.1.2', 'bob')))
    assert plain(response) == {'status': 87, 'statuses': [87]}
    assert stub['del_calls'] == 0


def test_one_item_lists_stay_lists(driver):
    # ConvertTo-Json writes a List value as an array even of one item: the driver's serialiser
    # stands in for it; what matters here is that the shim hands over Lists, not arrays of one.
    [(response, _stub)] = driver(delete_each(('\\\\127.0.1.2', 'bob')))
    assert plain(response) == {'status': 0, 'statuses': [0]}


# --- open files: NetFileEnum at level 3, NetFileClose of a list of ids -------------------------

# The stand-in's open files (netapi32_standin.c), as the shim answers them.
OPEN_FILES = [
    {'id': 7, 'permissions': 1, 'num_locks': 0, 'pathname': 'C:\\DATA\\a.txt', 'username': 'alice'},
    {'id': 0x80000007, 'permissions': 3, 'num_locks': 2, 'pathname': 'C:\\DATA\\J\u00f6rg.xlsx', 'username': 'bob'},
    {'id': 4294967295, 'permissions': 0, 'num_locks': 0, 'pathname': '\\PIPE\\srvsvc', 'username': 'admin'},
]


def files(base_path=None, username=None, pref_max_len=-1):
    return ('files', base_path, username, pref_max_len)


def test_files_marshal_every_field_and_ids_stay_unsigned(driver):
    [(response, stub)] = driver(files())
    assert plain(response) == {'status': 0, 'entries': OPEN_FILES}
    assert response['entries'][1]['id'] == {'UInt32': 0x80000007}
    assert stub['file_enum_calls'] == 1 and freed_everything(stub, 1)


@pytest.mark.parametrize('pref_max_len, pages', [(40, 3), (80, 2), (-1, 1)])
def test_files_page_through_error_more_data_with_a_pointer_sized_resume_handle(driver, pref_max_len, pages):
    [(response, stub)] = driver(files(pref_max_len=pref_max_len))
    assert plain(response) == {'status': 0, 'entries': OPEN_FILES}
    assert stub['file_enum_calls'] == pages and freed_everything(stub, pages)


def test_files_pass_the_filters_on_and_empty_means_null(driver):
    [(response, stub), (_all, empty)] = driver(files('C:\\DATA', 'bob'), files('', ''))
    assert plain(response)['entries'] == [OPEN_FILES[1]]
    assert (stub['last_client'], stub['last_user']) == (2, 2)  # base path, user name: both sent
    assert (empty['last_client'], empty['last_user']) == (0, 0)


def test_close_files_goes_on_past_an_id_already_gone_and_takes_ids_past_2_31(driver):
    [(response, stub), (listed, _stub)] = driver(('closefiles', 7, 99, 0x80000007), files())
    assert plain(response) == {'status': 0, 'statuses': [0, 2314, 0]}
    assert stub['file_close_calls'] == 3
    assert plain(listed)['entries'] == [OPEN_FILES[2]]


def test_close_files_stops_at_the_first_refusal(driver):
    [(response, stub), (listed, _stub)] = driver(configure(fault_call=1, fault_status=5, mode=4),
                                                 ('closefiles', 7, 0x80000007), files())
    assert plain(response) == {'status': 5, 'statuses': [5]}
    assert stub['file_close_calls'] == 1 and len(plain(listed)['entries']) == 3


def test_close_files_refuses_an_id_that_is_no_dword_without_a_call(driver):
    [(response, stub)] = driver(('closefiles', -1, 7))
    assert plain(response) == {'status': 87, 'statuses': [87]}
    assert stub['file_close_calls'] == 0
