using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// A Pi without one of the Debian packages: the library is hidden from the agent alone by bind-mounting /dev/null
/// over it in a private mount namespace (unshare -m, as root), and the agent must say which package to install.
/// </summary>
[Trait("Agent", "Process")]
public class NativeLibraryTests
{
    [Theory]
    [InlineData("libturbojpeg.so.0", "libturbojpeg0")]
    public async Task A_missing_native_library_stops_the_agent_naming_the_debian_package(string soname, string package)
    {
        var target = LoadedPathOf(soname);
        using var data = new TempDirectory();
        var start = new ProcessStartInfo("unshare", ["-m", "sh", "-c", $"mount --bind /dev/null {target} && exec \"$0\" \"$@\" --urls http://127.0.0.1:{TestPorts.Free()}", AgentProcess.Command.File, .. AgentProcess.Command.LeadingArgs])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.Environment["PIORCH_CONFIG_FILE"] = "/nonexistent.json";
        start.Environment["PIORCH_Storage__DataDirectory"] = data.Path;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var output = await stdout + await stderr;

        Assert.Equal(78, process.ExitCode);
        Assert.Contains($"{soname} cannot be loaded: install the Debian package {package}", output);
        Assert.DoesNotContain("   at ", output);
    }

    /// <summary>The file the dynamic loader maps for a soname, as this process sees it.</summary>
    private static string LoadedPathOf(string soname)
    {
        System.Runtime.InteropServices.NativeLibrary.Load(soname);
        var stem = soname[..soname.IndexOf(".so", StringComparison.Ordinal)];
        return File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .First(path => Path.GetFileName(path).StartsWith(stem + ".so", StringComparison.Ordinal));
    }
}
