using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// The timelapse reads the camera many times a minute while a door is open: a camera that turns hostile mid-session
/// (cut, corrupt, not-a-JPEG, decode-bomb frames, 500s) must cost no memory, leave no row and no stored frame that is
/// not a whole JPEG, keep the journal quiet, and not stop the frames once it behaves again. Against the agent as a process.
/// </summary>
[Trait("Agent", "Process")]
public sealed partial class HostileTimelapseCameraTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Hostile_frames_while_the_door_is_open_are_counted_not_stored_and_the_timelapse_goes_on()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-hostile-frames");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_Capture__DuringOpenIntervalSeconds"] = "0.25";
        environment["PIORCH_Containers__0__FlushFrames"] = "0";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        var sessionId = await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions").EnumerateArray()
                .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(), Deadline, "the session");
        await Eventually.UntilAsync(async () => await CapturedFramesAsync(agent) >= 1, Deadline, "a first good frame");

        var bomb = TestJpegs.DeclaringSize(TestJpegs.MakeProgressive(7), 32768, 32768);
        var hostile = new (string Name, Action Set)[]
        {
            ("truncated", () => camera.Mode = CameraMode.TruncatedNoEoi),
            ("cut with a fake EOI", () => camera.Mode = CameraMode.CutWithFakeEoi),
            ("short body", () => camera.Mode = CameraMode.ShortBody),
            ("no SOI", () => camera.Mode = CameraMode.NoSoi),
            ("garbage", () => camera.Mode = CameraMode.Garbage),
            ("HTTP 500", () => camera.Mode = CameraMode.Http500),
            ("decode bomb 32768x32768", () => { camera.CustomFrame = bomb; camera.Mode = CameraMode.Custom; }),
        };
        foreach (var (name, set) in hostile)
        {
            var failedBefore = await FailedFramesAsync(agent);
            set();
            await Eventually.UntilAsync(async () => await FailedFramesAsync(agent) >= failedBefore + 3, Deadline, $"three failed frames ({name})");
        }
        var framesWhileHostile = await CapturedFramesAsync(agent);
        camera.Mode = CameraMode.Healthy;
        await Eventually.UntilAsync(async () => await CapturedFramesAsync(agent) >= framesWhileHostile + 2, Deadline, "frames again once the camera behaves");

        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("status").GetString() == "complete", Deadline, "the session complete");

        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var failed = await FailedFramesAsync(agent);
        output.WriteLine($"{failed} hostile frames refused; agent peak RSS (VmHWM) {peak / 1048576} MB, CPU {cpu.TotalSeconds:F1} s for the session");
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1048576} MB");

        // No row for a frame that was not taken; every stored frame whole, signed and in the chain; the pair complete.
        var pair = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence/pair");
        Assert.Equal("complete", pair.GetProperty("pair_status").GetString());
        var frames = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false&capture_tag=DURING_OPEN&limit=100");
        Assert.All(frames.GetProperty("captures").EnumerateArray(), f => Assert.Equal("captured", f.GetProperty("status").GetString()));
        var stored = frames.GetProperty("captures").EnumerateArray().Select(f => f.GetProperty("sequence").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, stored.Count), stored);
        var verify = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());

        // The journal says so in a few lines, not one per frame.
        var frameWarnings = agent.Output.Split('\n').Count(l => l.Contains("warn:") && l.Contains("frame", StringComparison.OrdinalIgnoreCase));
        Assert.InRange(frameWarnings, 1, 10);
        Assert.False(agent.HasExited, agent.Diagnostics());
        Assert.DoesNotContain("Unhandled exception", agent.Output);
    }

    private static async Task<long> CapturedFramesAsync(AgentProcess agent) => Sum(await agent.Http.GetStringAsync("/metrics"), "captured");

    private static async Task<long> FailedFramesAsync(AgentProcess agent) => Sum(await agent.Http.GetStringAsync("/metrics"), "failed");

    private static long Sum(string metrics, string outcome) =>
        FrameLine().Matches(metrics).Where(m => m.Groups["outcome"].Value == outcome).Sum(m => long.Parse(m.Groups["value"].Value));

    [GeneratedRegex("""^piorchestrator_frames_total\{[^}]*outcome="(?<outcome>[a-z]+)"[^}]*\} (?<value>\d+)""", RegexOptions.Multiline)]
    private static partial Regex FrameLine();
}
