using System.Diagnostics;
using System.Security.Cryptography;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Proof;

/// <summary>The data directory on a small tmpfs (mounted by the test; it runs as root) that fills up mid-run.</summary>
[Trait("Agent", "Process")]
public sealed class DiskFullTests
{
    private static void Run(string tool, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardError = true, UseShellExecute = false })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: {error}");
    }

    [Fact]
    public async Task A_full_disk_fails_captures_loudly_damages_nothing_stored_and_recovers_when_space_returns()
    {
        using var mount = new TempDirectory();
        Run("mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", mount.Path);
        try
        {
            await using var rig = await ProofRig.StartAsync(new() { ["PIORCH_Storage__DiskReserveKilobytes"] = "256" }, dataDirectory: mount.Path);
            // Uploads off the table: every byte stays on the small disk.
            await rig.S3.StopAsync();
            var cycles = 0;
            while (rig.CountRows("status = 'failed'") == 0)
            {
                Assert.True(cycles < 200, "the disk never filled");
                try
                {
                    await rig.DoorCycleAsync();
                }
                catch (TimeoutException ex)
                {
                    throw new TimeoutException($"{ex.Message}\n{rig.Agent.Output}", ex);
                }
                cycles++;
            }
            var rows = rig.ReadRows();
            var failed = rows.Where(r => r.Status == "failed").ToList();
            Assert.All(failed, r => Assert.Contains("disk", r.FailureReason!, StringComparison.OrdinalIgnoreCase));
            await rig.Agent.WaitForOutputAsync("is full: released 256 KB of reserve");
            // Everything stored before is intact.
            Assert.All(rows.Where(r => r.Status == "captured"), r => Assert.Equal(r.Sha256, Convert.ToHexStringLower(SHA256.HashData(r.Bytes!))));
            Assert.Equal(200, (int)(await rig.Agent.Http.GetAsync("/healthz")).StatusCode);
            Assert.True((await rig.Agent.GetDataAsync("/api/v1/status")).GetProperty("store").GetProperty("disk_full").GetBoolean());

            // Space returns: the next cycles are captured again, and the agent never needed a restart.
            Run("mount", "-o", "remount,size=64m", mount.Path);
            var before = rig.CountRows("status = 'captured'");
            await rig.DoorCycleAsync();
            await rig.DoorCycleAsync();
            Assert.Equal(before + 4, rig.CountRows("status = 'captured'"));
            await rig.Agent.WaitForOutputAsync("has space again");
            Assert.False((await rig.Agent.GetDataAsync("/api/v1/status")).GetProperty("store").GetProperty("disk_full").GetBoolean());
            Assert.Equal(0, rig.Restarts);
        }
        finally
        {
            Run("umount", "-l", mount.Path);
        }
    }
}
