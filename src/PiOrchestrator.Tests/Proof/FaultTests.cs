using PiOrchestrator.Jpeg;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// Door cycles with faults thrown in at random moments (seeded, so a failure can be replayed), each run ending
/// with the integrity audit: every capture's bytes in S3 at its key with its sha256, nothing missing, nothing extra.
/// CI runs them short; PROOF_SCALE=long (scripts/proof.sh --long) runs the full counts.
/// </summary>
[Trait("Agent", "Process")]
public sealed class FaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static Random Seeded(out int seed)
    {
        seed = Environment.GetEnvironmentVariable("PROOF_SEED") is { } text ? int.Parse(text) : Random.Shared.Next();
        return new Random(seed);
    }

    [Fact]
    public async Task Kill_9_at_random_moments_during_door_cycles_with_uploads_loses_nothing()
    {
        var cycles = ProofScale.Pick(30, 500);
        var kills = ProofScale.Pick(4, 20);
        var random = Seeded(out var seed);
        output.WriteLine($"PROOF_SEED={seed}");
        var killAt = Enumerable.Range(0, cycles).OrderBy(_ => random.Next()).Take(kills).ToHashSet();
        await using var rig = await ProofRig.StartAsync();
        for (var i = 0; i < cycles; i++)
        {
            Func<Task>? kill = killAt.Contains(i)
                ? async () =>
                {
                    // Anywhere from just after the event was published (the agent may not have recorded it: the
                    // broker still holds it unacknowledged and sends it again) to mid-upload.
                    await rig.ReachAsync(random.Next(4));
                    await rig.KillAndRestartAsync();
                }
                : null;
            // Half the kills fall between the door's two events, half after them.
            if (i % 2 == 0) await rig.DoorCycleAsync(betweenEvents: kill);
            else await rig.DoorCycleAsync(afterEvents: kill);
        }
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(ProofScale.Pick(90, 900)));
        var rows = await rig.AuditAsync(cycles);
        Assert.Equal(kills, rig.Restarts);
        // A capture cut by a kill is a failed row saying so, never a late or half-written photo.
        Assert.All(rows.Where(r => r.Status == "failed"), r => Assert.Equal("interrupted", r.FailureReason));
        Assert.True(rows.Count(r => r.Status == "captured") >= 2 * cycles - 2 * kills, $"seed {seed}: too many captures lost to kills");
    }

    [Fact]
    public async Task Kill_9_during_a_hanging_AFTER_CLOSE_among_camera_faults_records_it_interrupted_and_never_takes_it_late()
    {
        var cycles = ProofScale.Pick(12, 120);
        var kills = ProofScale.Pick(3, 20);
        var random = Seeded(out var seed);
        output.WriteLine($"PROOF_SEED={seed}");
        var killAt = Enumerable.Range(0, cycles).OrderBy(_ => random.Next()).Take(kills).ToHashSet();
        CameraMode[] sometimes = [CameraMode.Healthy, CameraMode.Healthy, CameraMode.Http500, CameraMode.Hang];
        await using var rig = await ProofRig.StartAsync(new() { ["PIORCH_Capture__TimeoutMs"] = "800", ["PIORCH_Capture__Attempts"] = "1" });
        for (var i = 0; i < cycles; i++)
        {
            if (!killAt.Contains(i))
            {
                rig.Camera.Mode = sometimes[random.Next(sometimes.Length)];
                await rig.DoorCycleAsync();
                continue;
            }
            rig.Camera.Mode = CameraMode.Healthy;
            var requests = 0;
            await rig.DoorCycleAsync(
                betweenEvents: async () =>
                {
                    // BEFORE_OPEN stored, then the camera hangs for AFTER_CLOSE and the agent is killed mid-grab.
                    await rig.ReachAsync(2);
                    requests = rig.Camera.CaptureRequests;
                    rig.Camera.Mode = CameraMode.Hang;
                },
                afterEvents: async () =>
                {
                    await Eventually.UntilAsync(() => rig.Camera.CaptureRequests > requests, TimeSpan.FromSeconds(20), "the AFTER_CLOSE request");
                    await rig.Agent.KillAsync();
                    rig.Camera.Mode = CameraMode.Healthy;
                    await rig.KillAndRestartAsync();
                });
        }
        rig.Camera.Mode = CameraMode.Healthy;
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(ProofScale.Pick(90, 600)));
        var rows = await rig.AuditAsync(cycles);
        Assert.Equal(kills, rig.Restarts);
        Assert.Equal(kills, rows.Count(r => r.Tag == "AFTER_CLOSE" && r.FailureReason == "interrupted"));
        Assert.All(rows.Where(r => r.Status == "failed"), r => Assert.Contains(r.FailureReason, new[] { "interrupted", CaptureFailure.GrabFailed, CaptureFailure.Busy }));
    }

    [Fact]
    public async Task A_broker_restarted_during_door_cycles_loses_no_door_event()
    {
        var cycles = ProofScale.Pick(20, 200);
        await using var rig = await ProofRig.StartAsync();
        for (var i = 0; i < cycles; i++)
            await rig.DoorCycleAsync(betweenEvents: i % 5 == 2 ? rig.Broker.RestartAsync : null);
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(ProofScale.Pick(90, 600)));
        var rows = await rig.AuditAsync(cycles);
        Assert.All(rows, r => Assert.Equal("captured", r.Status));
    }

    [Fact]
    public async Task S3_down_for_part_of_the_door_cycles_then_the_queue_drains()
    {
        var cycles = ProofScale.Pick(20, 200);
        await using var rig = await ProofRig.StartAsync();
        for (var i = 0; i < cycles; i++)
        {
            if (i == cycles / 4) await rig.S3.StopAsync();
            await rig.DoorCycleAsync();
        }
        await Eventually.UntilAsync(async () => (await rig.Agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() > 0,
            TimeSpan.FromSeconds(30), "captures to queue while S3 is down");
        if (ProofScale.Long) await Task.Delay(TimeSpan.FromMinutes(3));
        await rig.S3.LaunchAsync();
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(ProofScale.Pick(120, 900)));
        var rows = await rig.AuditAsync(cycles);
        Assert.All(rows, r => Assert.Equal("captured", r.Status));
    }

    [Fact]
    public async Task Camera_faults_mixed_in_never_store_a_corrupt_image_as_captured()
    {
        var cycles = ProofScale.Pick(24, 200);
        var random = Seeded(out _);
        CameraMode[] faults = [CameraMode.Http500, CameraMode.Hang, CameraMode.TruncatedNoEoi, CameraMode.ShortBody, CameraMode.CutWithFakeEoi, CameraMode.Garbage, CameraMode.NoSoi];
        await using var rig = await ProofRig.StartAsync(new() { ["PIORCH_Capture__TimeoutMs"] = "600", ["PIORCH_Capture__Attempts"] = "1" });
        for (var i = 0; i < cycles; i++)
        {
            rig.Camera.Mode = i % 2 == 0 ? CameraMode.Healthy : faults[random.Next(faults.Length)];
            await rig.DoorCycleAsync();
        }
        rig.Camera.Mode = CameraMode.Healthy;
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(60));
        var rows = await rig.AuditAsync(cycles);
        Assert.Contains(rows, r => r.Status == "failed");
        Assert.Contains(rows, r => r.Status == "captured");
        Assert.All(rows.Where(r => r.Status == "failed"), r => Assert.Null(r.Bytes));
    }
}
