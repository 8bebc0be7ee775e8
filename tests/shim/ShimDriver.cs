// Runs the shim's C# (compiled from SHIM_SCRIPT unchanged) under Mono against the netapi32
// stand-in: one request per line of stdin, tab-separated, "<null>" for null:
//   enum LEVEL CLIENT USER PREF_MAX_LEN | delete CLIENT USER | configure CALL STATUS MODE
//   | plan PREF_MAX_LEN LEVEL|CLIENT|USER|FALLBACK... (FALLBACK: "status,next,..." or empty)
//   | deleteeach CLIENT|USER... | files BASE_PATH USER PREF_MAX_LEN | closefiles ID...
// and for each, one line of JSON on stdout: {"response": <what the shim answers>, "stub": {...}}.
// The response goes through SessionApi.AsciiJson as in the script; the serialiser below stands in
// for ConvertTo-Json (which Mono does not have).
//
// Copyright (c) lanman.server contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
using System;
using System.Collections;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using LanmanServer.Shim;

public static class ShimDriver
{
    // Mapped to the stand-in by the same dllmap as the shim's own imports.
    [DllImport("netapi32.dll")]
    private static extern long stub_counter(int which);

    [DllImport("netapi32.dll")]
    private static extern void stub_reset_counters();

    [DllImport("netapi32.dll")]
    private static extern void stub_configure(long call, long status, long mode);

    private static readonly string[] Counters = {
        "allocs", "frees", "live", "bad_frees", "null_frees", "enum_calls", "getinfo_calls", "del_calls",
        "last_client", "last_user", "last_prefmaxlen", "file_enum_calls", "file_close_calls",
    };

    public static int Main()
    {
        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            if (line.Length == 0)
            {
                continue;
            }
            string[] f = line.Split('\t');
            if (f[0] == "configure")
            {
                stub_configure(long.Parse(f[1]), long.Parse(f[2]), long.Parse(f[3]));
                continue;
            }
            stub_reset_counters();
            object response;
            if (f[0] == "enum")
            {
                response = SessionApi.Enumerate(int.Parse(f[1]), Arg(f[2]), Arg(f[3]), int.Parse(f[4]));
            }
            else if (f[0] == "delete")
            {
                response = SessionApi.Delete(Arg(f[1]), Arg(f[2]));
            }
            else if (f[0] == "plan")
            {
                int steps = f.Length - 2;
                int[] levels = new int[steps];
                string[] clients = new string[steps];
                string[] users = new string[steps];
                int[][] fallback = new int[steps][];
                for (int i = 0; i < steps; i++)
                {
                    string[] step = f[i + 2].Split('|');
                    levels[i] = int.Parse(step[0]);
                    clients[i] = Arg(step[1]);
                    users[i] = Arg(step[2]);
                    fallback[i] = step[3].Length == 0 ? new int[0] : Array.ConvertAll(step[3].Split(','), int.Parse);
                }
                response = SessionApi.EnumeratePlan(levels, clients, users, fallback, int.Parse(f[1]));
            }
            else if (f[0] == "files")
            {
                response = SessionApi.EnumerateFiles(Arg(f[1]), Arg(f[2]), int.Parse(f[3]));
            }
            else if (f[0] == "closefiles")
            {
                long[] ids = new long[f.Length - 1];
                for (int i = 0; i < ids.Length; i++)
                {
                    ids[i] = long.Parse(f[i + 1]);
                }
                response = SessionApi.CloseFiles(ids);
            }
            else if (f[0] == "deleteeach")
            {
                int pairs = f.Length - 1;
                string[] clients = new string[pairs];
                string[] users = new string[pairs];
                for (int i = 0; i < pairs; i++)
                {
                    string[] pair = f[i + 1].Split('|');
                    clients[i] = Arg(pair[0]);
                    users[i] = Arg(pair[1]);
                }
                response = SessionApi.DeleteEach(clients, users);
            }
            else
            {
                Console.Error.WriteLine("unknown request: " + line);
                return 2;
            }
            StringBuilder stub = new StringBuilder("{");
            for (int i = 0; i < Counters.Length; i++)
            {
                stub.AppendFormat(CultureInfo.InvariantCulture, "{0}\"{1}\":{2}", i == 0 ? "" : ",", Counters[i], stub_counter(i));
            }
            stub.Append("}");
            Console.Out.WriteLine("{\"response\":" + SessionApi.AsciiJson(Json(response)) + ",\"stub\":" + stub + "}");
        }
        return 0;
    }

    private static string Arg(string field)
    {
        return field == "<null>" ? null : field;
    }

    private static string Json(object value)
    {
        if (value == null)
        {
            return "null";
        }
        string text = value as string;
        if (text != null)
        {
            StringBuilder quoted = new StringBuilder("\"");
            foreach (char c in text)
            {
                if (c == '"' || c == '\\')
                {
                    quoted.Append('\\').Append(c);
                }
                else if (c < 0x20)
                {
                    quoted.AppendFormat("\\u{0:x4}", (int)c);
                }
                else
                {
                    quoted.Append(c);
                }
            }
            return quoted.Append('"').ToString();
        }
        IDictionary dictionary = value as IDictionary;
        if (dictionary != null)
        {
            StringBuilder members = new StringBuilder("{");
            foreach (DictionaryEntry entry in dictionary)
            {
                members.Append(members.Length > 1 ? "," : "").Append(Json(entry.Key)).Append(':').Append(Json(entry.Value));
            }
            return members.Append('}').ToString();
        }
        IEnumerable list = value as IEnumerable;
        if (list != null)
        {
            StringBuilder items = new StringBuilder("[");
            foreach (object item in list)
            {
                items.Append(items.Length > 1 ? "," : "").Append(Json(item));
            }
            return items.Append(']').ToString();
        }
        // Numbers: the type name too, so the tests see that DWORDs stay unsigned.
        return "{\"" + value.GetType().Name + "\":" + Convert.ToString(value, CultureInfo.InvariantCulture) + "}";
    }
}
