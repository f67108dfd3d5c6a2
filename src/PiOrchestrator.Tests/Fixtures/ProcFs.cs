using System.Globalization;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>What /proc says about a process: its peak resident memory and the CPU time it has used.</summary>
public static class ProcFs
{
    /// <summary>Peak resident memory a Pi can afford for the whole agent under any hostile input.</summary>
    public const long PeakRssLimitBytes = 300L * 1024 * 1024;

    /// <summary>VmHWM: the most resident memory the process ever had.</summary>
    public static long PeakRssBytes(int pid) => StatusBytes(pid, "VmHWM:");

    /// <summary>A memory figure of /proc/pid/status (VmRSS:, VmHWM:, …) in bytes.</summary>
    public static long StatusBytes(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>User + system CPU time, from /proc/pid/stat (clock ticks of 1/100 s on Linux).</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }
}
