using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// What a site with a real ESP32-CAM meets, against the agent as a process with its product settings and the test
/// camera built from the firmware's sources: a failed grab at UXGA over an 8 Mbit/s link, a 5MP OV5640 frame, a PSRAM
/// board's frames, and a camera whose sockets browsers hold.
/// </summary>
[Trait("Agent", "Process")]
public sealed class CameraFirmwareProcessTests(ITestOutputHelper output)
{
    /// <summary>The product's settings: nothing about the camera fixed, so stale frames are told from X-Timestamp.</summary>
    private static Dictionary<string, string> Product => new() { ["PIORCH_Containers__0__FlushFrames"] = "" };

    private static ProofRig.Row Before(ProofRig rig, int cycle) =>
        rig.ReadRows().Where(r => r.Tag == "BEFORE_OPEN").OrderBy(r => r.EvidenceId, StringComparer.Ordinal).ElementAt(cycle - 1);

    [Fact]
    public async Task A_PSRAM_board_gets_one_grab_per_photo()
    {
        await using var rig = await ProofRig.StartAsync(Product);
        // Learning the camera: its first frame is judged against nothing.
        await rig.DoorCycleAsync();

        var requests = rig.Camera.CaptureRequests;
        await rig.DoorCycleAsync();
        await rig.DoorCycleAsync();
        output.WriteLine($"grabs for two PSRAM door cycles: {rig.Camera.CaptureRequests - requests}");
        Assert.Equal(4, rig.Camera.CaptureRequests - requests);
        await rig.WaitSettledAsync(3, TimeSpan.FromSeconds(60));
        await rig.AuditAsync(3);
    }

    [Fact]
    public async Task One_failed_grab_at_UXGA_over_8_Mbit_s_still_gives_the_BEFORE_OPEN()
    {
        await using var rig = await ProofRig.StartAsync(Product);
        rig.Camera.LinkBitsPerSecond = 8_000_000;
        rig.Camera.FrameSize = FrameSize.UXGA;
        rig.Camera.FailNextGrabs = 1;
        await rig.DoorCycleAsync();

        var before = Before(rig, 1);
        output.WriteLine($"BEFORE_OPEN after a failed grab: {before.Status} {before.FailureReason}");
        Assert.Equal("captured", before.Status);
        Assert.Equal(1, rig.Camera.FailedGrabs);
        Assert.DoesNotContain("is offline", rig.Agent.Output);
        await rig.WaitSettledAsync(1, TimeSpan.FromSeconds(60));
        await rig.AuditAsync(1);
    }

    [Fact]
    public async Task A_5MP_frame_from_an_OV5640_is_kept()
    {
        await using var rig = await ProofRig.StartAsync(Product);
        rig.Camera.FrameSize = FrameSize.FiveMP;
        await rig.DoorCycleAsync();

        var before = Before(rig, 1);
        output.WriteLine($"5MP BEFORE_OPEN: {before.Status} {before.FailureReason}");
        Assert.Equal("captured", before.Status);
        Assert.True(PiOrchestrator.Jpeg.JpegCodec.Check(before.Bytes!, out _) is { Ok: true, Width: 2592, Height: 1944 });
        await rig.WaitSettledAsync(1, TimeSpan.FromSeconds(60));
        await rig.AuditAsync(1);
    }

    [Fact]
    public async Task A_camera_full_of_browsers_is_busy_and_never_called_offline()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var broker = await MosquittoBroker.StartAsync();
        using var data = new TempDirectory();
        // Every socket the camera has, held by browser tabs before the agent starts.
        await using var browsers = await camera.OccupySocketsAsync(7);
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera);
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();

        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var capture = (await Eventually.UntilAsync<System.Text.Json.JsonElement?>(async () =>
        {
            var sessions = (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions");
            return sessions.GetArrayLength() == 0 ? (System.Text.Json.JsonElement?)null
                : (await agent.GetDataAsync($"/api/v1/sessions/{sessions[0].GetProperty("id").GetString()}/evidence")).GetProperty("captures")[0];
        }, TimeSpan.FromSeconds(60), "the AFTER_CLOSE"))!.Value;

        var camera0 = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0].GetProperty("camera");
        output.WriteLine($"capture {capture}; camera {camera0}; camera's open sockets {camera.OpenSockets}");
        Assert.Equal("failed", capture.GetProperty("status").GetString());
        Assert.Equal("busy", capture.GetProperty("failure_reason").GetString());
        Assert.Equal("busy", camera0.GetProperty("state").GetString());
        Assert.DoesNotContain("is offline", agent.Output);
    }
}
