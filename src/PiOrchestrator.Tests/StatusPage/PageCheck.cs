using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.StatusPage;

/// <summary>Runs one of the playwright-core scripts beside this file against a running agent.</summary>
internal static class PageCheck
{
    /// <summary>The script's output; fails with it (and the agent's last log lines) when the script does not exit 0.</summary>
    public static async Task<string> RunAsync(AgentProcess agent, string script, params string[] arguments)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "StatusPage", script);
        var start = new ProcessStartInfo("node", [path, $"http://127.0.0.1:{agent.Port}", .. arguments])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var output = await stdout + await stderr;
        Assert.True(node.ExitCode == 0, $"{script} exited {node.ExitCode}:\n{output}\n{agent.Diagnostics()}");
        return output;
    }
}
