using System.Diagnostics;
using System.Text;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>Runs a real command (openssl, sha256sum, sh, a build script) and returns its exit code and output.</summary>
public static class Shell
{
    /// <summary>
    /// How long a build (cross-publish, an ahead-of-time compile, dpkg-deb, lintian) may take: its time is the
    /// machine's, several times longer on a loaded one, so the deadline only catches a hang.
    /// </summary>
    public static readonly TimeSpan BuildDeadline = TimeSpan.FromMinutes(30);

    public static Task<(int ExitCode, string Output)> RunAsync(string directory, string file, params string[] args) =>
        RunAsync(file, args, TimeSpan.FromSeconds(60), directory);

    /// <summary>
    /// <paramref name="file"/> with <paramref name="args"/>; past <paramref name="deadline"/> the process and its children
    /// are killed and a <see cref="TimeoutException"/> carries what it had printed, so a hang shows where it hung.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan deadline,
        string? directory = null, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        if (directory is not null) start.WorkingDirectory = directory;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var output = new StringBuilder();
        void Append(string? line) { if (line is not null) lock (output) output.AppendLine(line); }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = Stopwatch.GetTimestamp();
        try
        {
            await process.WaitForExitAsync().WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            string printed;
            lock (output) printed = output.ToString();
            throw new TimeoutException($"`{file} {string.Join(' ', args)}` still ran after {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s; " +
                                       $"its last output:\n{string.Join('\n', printed.Split('\n').TakeLast(60))}");
        }
        lock (output) return (process.ExitCode, output.ToString());
    }
}
