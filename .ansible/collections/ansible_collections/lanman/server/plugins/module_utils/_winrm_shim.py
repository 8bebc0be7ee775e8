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

# PowerShell 5.1 and 7. $input is stdin line by line (as Ansible's bootstrap_wrapper.ps1 reads
# it). IndexOf([char]0) is ordinal; IndexOf("`0") would compare by culture, where NUL is
# ignorable and always found at 0.
BOOTSTRAP = r'''trap { $host.UI.WriteErrorLine('lanman.server bootstrap: ' + $_.Exception.Message); exit 1 }
$t = @($input) -join "`n"
$i = $t.IndexOf([char]0)
if ($i -lt 0) { throw 'no NUL between the script and the request on stdin' }
& ([scriptblock]::Create($t.Substring(0, $i))) $t.Substring($i + 1)
'''

SHIM_SCRIPT = r'''# lanman.server WinRM shim: NetSessionEnum, NetSessionGetInfo, NetSessionDel on this host.
# Argument: the request, JSON {"operation": "enum"|"delete", "level": int, "client": "\\name"|null,
# "username": string|null, "pref_max_len": int (optional, default -1)}. Answer: one JSON line,
# {"status": int, "entries": [...]} or {"status": int}. Win32 failures are statuses; anything
# else goes to stderr, with exit code 1.
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
        public const int MAX_PAGES = 1000; // ERROR_MORE_DATA pages of one enumeration, at most

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
                    AddEntries(entries, buffer, level, read);
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
                    AddEntries(entries, buffer, level, 1);
                }
            }
            return status;
        }

        private static void AddEntries(List<Dictionary<string, object>> entries, SafeNetApiBuffer buffer, int level,
            int count)
        {
            if (buffer == null || buffer.IsInvalid)
            {
                return;
            }
            IntPtr buf = buffer.DangerousGetHandle();
            for (int i = 0; i < count; i++)
            {
                entries.Add(ReadEntry(buf, level, i));
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
        private static Dictionary<string, object> ReadEntry(IntPtr buf, int level, int i)
        {
            Type type = EntryType(level);
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

# Request member $Name ($Default if missing: strict mode throws on a missing property), checked:
# 'int' is a JSON integer (Int32 on PowerShell 5.1, Int64 on 7), 'string' a string or null.
function Get-RequestValue {
    param($Request, [string]$Name, [string]$Type, $Default)

    $property = $Request.PSObject.Properties[$Name]
    $value = if ($null -eq $property) { $Default } else { $property.Value }
    if ($Type -eq 'int') {
        if ($value -isnot [int] -and $value -isnot [long]) {
            throw ('request member "{0}" must be an integer' -f $Name)
        }
        return [int]$value
    }
    if ($null -ne $value -and $value -isnot [string]) {
        throw ('request member "{0}" must be a string or null' -f $Name)
    }
    return $value
}

try {
    $request = ConvertFrom-Json -InputObject $RequestJson
    if ($request -isnot [System.Management.Automation.PSCustomObject]) {
        throw 'the request is not a JSON object'
    }
    $operation = Get-RequestValue $request 'operation' 'string' $null
    $client = Get-RequestValue $request 'client' 'string' $null
    $username = Get-RequestValue $request 'username' 'string' $null

    if (-not ('LanmanServer.Shim.SessionApi' -as [type])) {
        # -IgnoreWarnings: a compiler warning must not stop the shim.
        Add-Type -TypeDefinition $source -Language CSharp -IgnoreWarnings
    }

    if ($operation -eq 'enum') {
        $level = Get-RequestValue $request 'level' 'int' $null
        $prefMaxLen = Get-RequestValue $request 'pref_max_len' 'int' (-1)
        $response = [LanmanServer.Shim.SessionApi]::Enumerate($level, $client, $username, $prefMaxLen)
    }
    elseif ($operation -eq 'delete') {
        $response = [LanmanServer.Shim.SessionApi]::Delete($client, $username)
    }
    else {
        throw 'request member "operation" must be "enum" or "delete"'
    }

    # $response is a C# Dictionary (the pipeline never enumerates one) whose "entries" is a List:
    # ConvertTo-Json writes a list value as a JSON array, even of one entry. -InputObject, as the
    # pipeline unrolls collections (5.1 then writes a lone entry as a bare object).
    # Depth: response 1, entries 2, entry 3, values 4.
    $json = ConvertTo-Json -InputObject $response -Compress -Depth 4
    [Console]::Out.WriteLine([LanmanServer.Shim.SessionApi]::AsciiJson($json))
}
catch {
    $host.UI.WriteErrorLine('lanman.server shim: ' + $_.Exception.Message)
    exit 1
}
'''
