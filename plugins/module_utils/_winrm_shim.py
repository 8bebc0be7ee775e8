# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PowerShell the WinRM transport runs on the server: constants only.

Private to the lanman.server collection: not a public API. AnsiballZ ships only imported
``.py`` module_utils, so the script lives here as a raw string and this file holds nothing else.

``BOOTSTRAP`` goes on the command line (``powershell.exe -EncodedCommand``); it reads all of
stdin, which is ``SHIM_SCRIPT``, a NUL, then the request as JSON, and runs the script with the
request as its only argument. The script text never changes: requests travel only as data.
Both texts are ASCII (requests are ``json.dumps`` output, also ASCII, and the answer escapes
everything else), so the console code pages of the server do not matter.
"""

from __future__ import annotations

__all__ = ['BOOTSTRAP', 'SHIM_SCRIPT']

# Windows PowerShell 5.1 (powershell.exe). $input is stdin line by line (as Ansible's bootstrap_wrapper.ps1 reads
# it). IndexOf([char]0) is ordinal; IndexOf("`0") would compare by culture, where NUL is
# ignorable and always found at 0. First, the language mode: under an AppLocker or App Control
# policy PowerShell runs in ConstrainedLanguage, where [scriptblock]::Create and Add-Type fail
# with messages that point nowhere; reading the mode is allowed there, and the bootstrap exits
# with ERROR_ACCESS_DISABLED_BY_POLICY (1260), naming the mode on stdout, before trying either.
BOOTSTRAP = r'''trap { $host.UI.WriteErrorLine('lanman.server bootstrap: ' + $_.Exception.Message); exit 1 }
$m = $ExecutionContext.SessionState.LanguageMode
if ($m -ne 'FullLanguage') { "lanman.server: PowerShell runs in $m mode"; exit 1260 }
$t = @($input) -join "`n"
$i = $t.IndexOf([char]0)
if ($i -lt 0) { throw 'no NUL between the script and the request on stdin' }
& ([scriptblock]::Create($t.Substring(0, $i))) $t.Substring($i + 1)
'''

SHIM_SCRIPT = r'''# lanman.server WinRM shim: NetSessionEnum, -GetInfo, -Del, NetFileEnum, -Close on this host.
# Argument: the request, JSON, one of
#   {"operation": "enum", "plan": [step, ...], "pref_max_len": int (optional, default -1)}, where a
#     step is {"level": int, "client": "\\name"|null, "username": string|null,
#     "fallback": [status, next step, ...] (optional)}; answer
#     {"status": int, "steps": [int, ...], "statuses": [int, ...], "entries": [...]};
#   {"operation": "delete", "pairs": [{"client": "\\name"|null, "username": string}, ...]};
#     answer {"status": int, "statuses": [int, ...]};
#   {"operation": "files", "base_path": string|null, "username": string|null,
#     "pref_max_len": int (optional)}; answer {"status": int, "entries": [...]} (level 3);
#   {"operation": "close_files", "ids": [int, ...]}; answer {"status": int, "statuses": [int, ...]}.
# One JSON line. Win32 failures are statuses; anything else goes to stderr, with exit code 1.
param([string]$RequestJson)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

# C# 5 only: Windows PowerShell 5.1 compiles Add-Type with .NET Framework's CodeDom.
$source = @'
using Microsoft.Win32.SafeHandles;
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace LanmanServer.Shim
{
    // [MS-SRVS] 2.2.4 SESSION_INFO_0, 1, 2, 10, 502 (lmshare.h); SESSION_INFO_502 is 48 bytes on x64.
    public class NativeHelpers
    {
        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct SESSION_INFO_0
        {
            public string sesi0_cname;
        }

        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct SESSION_INFO_1
        {
            public string sesi1_cname, sesi1_username;
            public UInt32 sesi1_num_opens, sesi1_time, sesi1_idle_time, sesi1_user_flags;
        }

        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct SESSION_INFO_2
        {
            public string sesi2_cname, sesi2_username;
            public UInt32 sesi2_num_opens, sesi2_time, sesi2_idle_time, sesi2_user_flags;
            public string sesi2_cltype_name;
        }

        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct SESSION_INFO_10
        {
            public string sesi10_cname, sesi10_username;
            public UInt32 sesi10_time, sesi10_idle_time;
        }

        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct SESSION_INFO_502
        {
            public string sesi502_cname, sesi502_username;
            public UInt32 sesi502_num_opens, sesi502_time, sesi502_idle_time, sesi502_user_flags;
            public string sesi502_cltype_name, sesi502_transport;
        }

        // [MS-SRVS] 2.2.4.7 FILE_INFO_3 (lmshare.h)
        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        public struct FILE_INFO_3
        {
            public UInt32 fi3_id, fi3_permissions, fi3_num_locks;
            public string fi3_pathname, fi3_username;
        }
    }

    public class NativeMethods
    {
        // tests/shim maps this name to a stand-in library (Mono's dllmap).
        public const string Netapi32 = "netapi32.dll";

        [DllImport(Netapi32, CharSet = CharSet.Unicode)]
        public static extern Int32 NetSessionEnum(string servername, string UncClientName, string username,
            Int32 level, out SafeNetApiBuffer bufptr, Int32 prefmaxlen, out Int32 entriesread,
            out Int32 totalentries, ref Int32 resume_handle);

        [DllImport(Netapi32, CharSet = CharSet.Unicode)]
        public static extern Int32 NetSessionGetInfo(string servername, string UncClientName, string username,
            Int32 level, out SafeNetApiBuffer bufptr);

        [DllImport(Netapi32, CharSet = CharSet.Unicode)]
        public static extern Int32 NetSessionDel(string servername, string UncClientName, string username);

        // resume_handle is a PDWORD_PTR here, unlike NetSessionEnum's LPDWORD.
        [DllImport(Netapi32, CharSet = CharSet.Unicode)]
        public static extern Int32 NetFileEnum(string servername, string basepath, string username, Int32 level,
            out SafeNetApiBuffer bufptr, Int32 prefmaxlen, out Int32 entriesread, out Int32 totalentries,
            ref IntPtr resume_handle);

        [DllImport(Netapi32)]
        public static extern Int32 NetFileClose(string servername, UInt32 fileid);

        [DllImport(Netapi32)]
        public static extern Int32 NetApiBufferFree(IntPtr Buffer);
    }

    // A netapi32 buffer, freed on Dispose (or finalisation) whatever the status was.
    public class SafeNetApiBuffer : SafeHandleZeroOrMinusOneIsInvalid
    {
        public SafeNetApiBuffer() : base(true) { }

        protected override bool ReleaseHandle()
        {
            return NativeMethods.NetApiBufferFree(handle) == 0;
        }
    }

    public static class SessionApi
    {
        // [MS-ERREF] 2.2 and lmerr.h
        public const int NERR_Success = 0;
        public const int ERROR_INVALID_PARAMETER = 87;
        public const int ERROR_INVALID_LEVEL = 124;
        public const int ERROR_MORE_DATA = 234;
        public const int NERR_UserNotFound = 2221;
        public const int NERR_ClientNameNotFound = 2312;
        public const int ERROR_FILE_NOT_FOUND = 2;
        public const int NERR_FileIdNotFound = 2314;
        public const int MAX_PAGES = 1000; // ERROR_MORE_DATA pages of one enumeration, at most

        // A fallback plan, walked as the controller's _transport.walk_plan: step i enumerates
        // levels[i] with clients[i] and users[i]; fallback[i] holds pairs (status, next step): a
        // refusal with one of those statuses goes on at that later step, any other ends the walk.
        // {"status": int, "steps": [...], "statuses": [...], "entries": [... of the last step]}
        public static Dictionary<string, object> EnumeratePlan(int[] levels, string[] clients, string[] users,
            int[][] fallback, int prefMaxLen)
        {
            List<int> steps = new List<int>();
            List<int> statuses = new List<int>();
            Dictionary<string, object> answer = Response(ERROR_INVALID_PARAMETER);
            answer.Add("entries", new List<Dictionary<string, object>>());
            int step = 0;
            while (step >= 0 && step < levels.Length)
            {
                answer = Enumerate(levels[step], clients[step], users[step], prefMaxLen);
                int status = (int)answer["status"];
                steps.Add(step);
                statuses.Add(status);
                step = NextStep(fallback[step], status, step);
            }
            answer.Add("steps", steps);
            answer.Add("statuses", statuses);
            return answer;
        }

        // [MS-SRVS] 3.1.4.6, as the controller's _transport.DELETE_GOES_ON_AFTER: each pair in
        // order; a pair closed or already gone goes on to the next, any other status stops there.
        // {"status": int (the last one), "statuses": [...]}
        public static Dictionary<string, object> DeleteEach(string[] clients, string[] users)
        {
            List<int> statuses = new List<int>();
            int status = ERROR_INVALID_PARAMETER;
            for (int i = 0; i < clients.Length && i < users.Length; i++)
            {
                status = (int)Delete(clients[i], users[i])["status"];
                statuses.Add(status);
                if (status != NERR_Success && status != NERR_ClientNameNotFound && status != NERR_UserNotFound)
                {
                    break;
                }
            }
            Dictionary<string, object> response = Response(status);
            response.Add("statuses", statuses);
            return response;
        }

        // {"status": int, "entries": [...]}: NetFileEnum at level 3, page after page.
        public static Dictionary<string, object> EnumerateFiles(string basePath, string username, int prefMaxLen)
        {
            List<Dictionary<string, object>> entries = new List<Dictionary<string, object>>();
            IntPtr resume = IntPtr.Zero;
            int status = ERROR_MORE_DATA;
            for (int page = 0; page < MAX_PAGES && status == ERROR_MORE_DATA; page++)
            {
                SafeNetApiBuffer buffer;
                int read;
                int total;
                status = NativeMethods.NetFileEnum(null, NullIfEmpty(basePath), NullIfEmpty(username), 3, out buffer,
                    prefMaxLen, out read, out total, ref resume);
                using (buffer)
                {
                    if (status == NERR_Success || status == ERROR_MORE_DATA)
                    {
                        AddEntries(entries, buffer, typeof(NativeHelpers.FILE_INFO_3), read);
                    }
                }
                if (status == ERROR_MORE_DATA && read == 0)
                {
                    break;
                }
            }
            Dictionary<string, object> response = Response(status);
            response.Add("entries", status == NERR_Success ? entries : new List<Dictionary<string, object>>());
            return response;
        }

        // As DeleteEach, for open files: a file closed or already gone goes on to the next.
        // {"status": int (the last one), "statuses": [...]}
        public static Dictionary<string, object> CloseFiles(long[] ids)
        {
            List<int> statuses = new List<int>();
            int status = ERROR_INVALID_PARAMETER;
            foreach (long id in ids)
            {
                status = id < 0 || id > UInt32.MaxValue ? ERROR_INVALID_PARAMETER
                    : NativeMethods.NetFileClose(null, (UInt32)id);
                statuses.Add(status);
                if (status != NERR_Success && status != NERR_FileIdNotFound && status != ERROR_FILE_NOT_FOUND)
                {
                    break;
                }
            }
            Dictionary<string, object> response = Response(status);
            response.Add("statuses", statuses);
            return response;
        }

        // The step after a refusal, or -1: only a later step, so the walk always ends.
        private static int NextStep(int[] fallback, int status, int step)
        {
            for (int k = 0; status != NERR_Success && k + 1 < fallback.Length; k += 2)
            {
                if (fallback[k] == status && fallback[k + 1] > step)
                {
                    return fallback[k + 1];
                }
            }
            return -1;
        }

        // {"status": int, "entries": [...]}: NetSessionGetInfo when both filters are given
        // (levels 0, 1, 2, 10), NetSessionEnum page after page otherwise. Entries only with 0.
        public static Dictionary<string, object> Enumerate(int level, string client, string username, int prefMaxLen)
        {
            client = NullIfEmpty(client);
            username = NullIfEmpty(username);
            List<Dictionary<string, object>> entries = new List<Dictionary<string, object>>();
            int status;
            if (EntryType(level) == null)
            {
                status = ERROR_INVALID_LEVEL;
            }
            else if (client != null && username != null && level != 502)
            {
                status = GetInfo(level, client, username, entries);
            }
            else
            {
                status = EnumPages(level, client, username, prefMaxLen, entries);
            }
            Dictionary<string, object> response = Response(status);
            response.Add("entries", status == NERR_Success ? entries : new List<Dictionary<string, object>>());
            return response;
        }

        // {"status": int}. Never both NULL: that would close every session on the server.
        public static Dictionary<string, object> Delete(string client, string username)
        {
            client = NullIfEmpty(client);
            username = NullIfEmpty(username);
            int status = ERROR_INVALID_PARAMETER;
            if (client != null || username != null)
            {
                status = NativeMethods.NetSessionDel(null, client, username);
            }
            return Response(status);
        }

        private static Dictionary<string, object> Response(int status)
        {
            Dictionary<string, object> response = new Dictionary<string, object>();
            response.Add("status", status);
            return response;
        }

        // JSON whose non-ASCII characters are \uXXXX escapes: safe through any console code page.
        public static string AsciiJson(string json)
        {
            StringBuilder text = new StringBuilder(json.Length);
            foreach (char c in json)
            {
                text.Append(c > 0x7E ? String.Format("\\u{0:x4}", (int)c) : c.ToString());
            }
            return text.ToString();
        }

        private static int EnumPages(int level, string client, string username, int prefMaxLen,
            List<Dictionary<string, object>> entries)
        {
            int resume = 0;
            for (int page = 0; page < MAX_PAGES; page++)
            {
                SafeNetApiBuffer buffer;
                int read;
                int total;
                int status = NativeMethods.NetSessionEnum(null, client, username, level, out buffer, prefMaxLen,
                    out read, out total, ref resume);
                using (buffer)
                {
                    if (status != NERR_Success && status != ERROR_MORE_DATA)
                    {
                        return status;
                    }
                    AddEntries(entries, buffer, EntryType(level), read);
                }
                // Loop on the status, not on the resume handle; stop if a page brought nothing.
                if (status == NERR_Success || read == 0)
                {
                    return status;
                }
            }
            return ERROR_MORE_DATA;
        }

        private static int GetInfo(int level, string client, string username, List<Dictionary<string, object>> entries)
        {
            SafeNetApiBuffer buffer;
            int status = NativeMethods.NetSessionGetInfo(null, client, username, level, out buffer);
            using (buffer)
            {
                if (status == NERR_Success)
                {
                    AddEntries(entries, buffer, EntryType(level), 1);
                }
            }
            return status;
        }

        private static void AddEntries(List<Dictionary<string, object>> entries, SafeNetApiBuffer buffer, Type type,
            int count)
        {
            if (buffer == null || buffer.IsInvalid)
            {
                return;
            }
            IntPtr buf = buffer.DangerousGetHandle();
            for (int i = 0; i < count; i++)
            {
                entries.Add(ReadEntry(buf, type, i));
            }
        }

        private static Type EntryType(int level)
        {
            switch (level)
            {
                case 0: return typeof(NativeHelpers.SESSION_INFO_0);
                case 1: return typeof(NativeHelpers.SESSION_INFO_1);
                case 2: return typeof(NativeHelpers.SESSION_INFO_2);
                case 10: return typeof(NativeHelpers.SESSION_INFO_10);
                case 502: return typeof(NativeHelpers.SESSION_INFO_502);
                default: return null;
            }
        }

        // Entry i of the buffer, keyed by the MS-SRVS field names without their sesiN_ prefix.
        private static Dictionary<string, object> ReadEntry(IntPtr buf, Type type, int i)
        {
            object info = Marshal.PtrToStructure(IntPtr.Add(buf, i * Marshal.SizeOf(type)), type);
            Dictionary<string, object> entry = new Dictionary<string, object>();
            foreach (FieldInfo field in type.GetFields())
            {
                entry.Add(field.Name.Substring(field.Name.IndexOf('_') + 1), field.GetValue(info));
            }
            return entry;
        }

        // PowerShell passes $null to a string parameter as "": both mean NULL here.
        private static string NullIfEmpty(string value)
        {
            return String.IsNullOrEmpty(value) ? null : value;
        }
    }
}
'@

# Member $Name of a request object ($Default if missing: strict mode throws on a missing
# property), checked: 'int' a JSON integer (ConvertFrom-Json gives Int32 for every such integer
# the controller sends), 'string' a string or null, 'objects' an array of objects, 'ints' an
# array of integers (null or missing: empty), 'ids' an array of integers that may pass 2^31
# (ConvertFrom-Json gives Int64 for those). Arrays are assigned, never piped (a pipeline unrolls a
# one-item array), and returned whole with the comma operator.
function Get-RequestValue {
    param($Request, [string]$Name, [string]$Type, $Default)

    if ($Request -isnot [System.Management.Automation.PSCustomObject]) {
        throw ('request member "{0}" must be in a JSON object' -f $Name)
    }
    $property = $Request.PSObject.Properties[$Name]
    $value = $Default
    if ($null -ne $property) {
        $value = $property.Value
    }
    if ($Type -eq 'int') {
        if ($value -isnot [int]) {
            throw ('request member "{0}" must be an integer' -f $Name)
        }
        return $value
    }
    if ($Type -eq 'string') {
        if ($null -ne $value -and $value -isnot [string]) {
            throw ('request member "{0}" must be a string or null' -f $Name)
        }
        return $value
    }
    if ($Type -eq 'ints' -and $null -eq $value) {
        $value = [object[]]@()
    }
    $itemTypes = @{ 'ints' = @([int]); 'ids' = @([int], [long]); 'objects' = @([System.Management.Automation.PSCustomObject]) }[$Type]
    $wrong = @($value | Where-Object { $item = $_; -not @($itemTypes | Where-Object { $item -is $_ }).Count })
    if ($value -isnot [array] -or $wrong.Count -gt 0) {
        throw ('request member "{0}" must be an array of {1}' -f $Name, $Type)
    }
    if ($Type -eq 'ints') {
        return , ([int[]]$value)
    }
    if ($Type -eq 'ids') {
        return , ([long[]]$value)
    }
    return , $value
}

try {
    $request = ConvertFrom-Json -InputObject $RequestJson
    if ($request -isnot [System.Management.Automation.PSCustomObject]) {
        throw 'the request is not a JSON object'
    }
    $operation = Get-RequestValue $request 'operation' 'string' $null

    if (-not ('LanmanServer.Shim.SessionApi' -as [type])) {
        # -IgnoreWarnings: a compiler warning must not stop the shim.
        Add-Type -TypeDefinition $source -Language CSharp -IgnoreWarnings
    }

    if ($operation -eq 'enum') {
        $plan = Get-RequestValue $request 'plan' 'objects' $null
        $prefMaxLen = Get-RequestValue $request 'pref_max_len' 'int' (-1)
        $levels = New-Object 'int[]' $plan.Count
        $clients = New-Object 'string[]' $plan.Count
        $users = New-Object 'string[]' $plan.Count
        $fallback = New-Object 'int[][]' $plan.Count
        for ($i = 0; $i -lt $plan.Count; $i++) {
            $levels[$i] = Get-RequestValue $plan[$i] 'level' 'int' $null
            $clients[$i] = Get-RequestValue $plan[$i] 'client' 'string' $null
            $users[$i] = Get-RequestValue $plan[$i] 'username' 'string' $null
            $fallback[$i] = Get-RequestValue $plan[$i] 'fallback' 'ints' $null
        }
        $response = [LanmanServer.Shim.SessionApi]::EnumeratePlan($levels, $clients, $users, $fallback, $prefMaxLen)
    }
    elseif ($operation -eq 'delete') {
        $pairs = Get-RequestValue $request 'pairs' 'objects' $null
        $clients = New-Object 'string[]' $pairs.Count
        $users = New-Object 'string[]' $pairs.Count
        for ($i = 0; $i -lt $pairs.Count; $i++) {
            $clients[$i] = Get-RequestValue $pairs[$i] 'client' 'string' $null
            $users[$i] = Get-RequestValue $pairs[$i] 'username' 'string' $null
        }
        $response = [LanmanServer.Shim.SessionApi]::DeleteEach($clients, $users)
    }
    elseif ($operation -eq 'files') {
        $basePath = Get-RequestValue $request 'base_path' 'string' $null
        $username = Get-RequestValue $request 'username' 'string' $null
        $prefMaxLen = Get-RequestValue $request 'pref_max_len' 'int' (-1)
        $response = [LanmanServer.Shim.SessionApi]::EnumerateFiles($basePath, $username, $prefMaxLen)
    }
    elseif ($operation -eq 'close_files') {
        $ids = Get-RequestValue $request 'ids' 'ids' $null
        $response = [LanmanServer.Shim.SessionApi]::CloseFiles($ids)
    }
    else {
        throw 'request member "operation" must be "enum", "delete", "files" or "close_files"'
    }

    # $response is a C# Dictionary (the pipeline never enumerates one) whose "entries" is a List:
    # ConvertTo-Json writes a list value as a JSON array, even of one entry. -InputObject, as the
    # pipeline unrolls collections (5.1 then writes a lone entry as a bare object).
    # Depth: response 1, entries (and steps, statuses) 2, entry 3, values 4.
    $json = ConvertTo-Json -InputObject $response -Compress -Depth 4
    [Console]::Out.WriteLine([LanmanServer.Shim.SessionApi]::AsciiJson($json))
}
catch {
    $host.UI.WriteErrorLine('lanman.server shim: ' + $_.Exception.Message)
    exit 1
}
'''
