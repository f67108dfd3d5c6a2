using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

public sealed partial class TrixieVmTests
{
    /// <summary>WatchdogSec=30, then systemd's SIGABRT, which a stopped process only takes with the SIGKILL after TimeoutAbortSec (30 s).</summary>
    private static readonly TimeSpan RestartDeadline = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task The_agent_survives_a_hang_a_kill_mid_capture_a_reboot_and_a_power_cut_with_nothing_recorded_lost()
    {
        await using var camera = await FakeCamera.StartAsync();
        using var directory = new TempDirectory();
        await using var vm = await rig.CreateVmAsync(directory, ClosedAtBoot, camera.Port);
        using var agent = new GuestAgent(vm);
        await Step(vm, "boot", vm.BootAsync);
        await Step(vm, "install and configure a GPIO door", () => InstallAndConfigureAsync(agent, camera));
        await Step(vm, "a door cycle", () => agent.DoorCycleAsync(DoorDeadline));

        await Step(vm, "kill -STOP: systemd's watchdog restarts the agent", async () =>
        {
            var before = await agent.ShowAsync();
            await vm.RunOkAsync($"kill -STOP {before["MainPID"]}");
            var after = await WaitForRestartAsync(agent, before);
            Assert.Equal("1", after["NRestarts"]);
            Assert.Contains("Watchdog timeout", await agent.JournalAsync("-b"));
        });

        await Step(vm, "SIGKILL mid-capture: restarted, the interrupted capture recorded as failed", async () =>
        {
            var before = await agent.ShowAsync();
            var requests = camera.CaptureRequests;
            camera.Mode = CameraMode.Hang;
            await agent.MoveDoorAsync("pull-up");
            await Eventually.UntilAsync(() => camera.CaptureRequests > requests, DoorDeadline, "the BEFORE_OPEN grab to reach the camera");
            await vm.RunOkAsync($"kill -KILL {before["MainPID"]}");
            camera.Mode = CameraMode.Healthy;
            await WaitForRestartAsync(agent, before);
            await agent.WaitForApiAsync(Api);
            var session = (await agent.ContainerStatusAsync()).GetProperty("current_session_id").GetString();
            Assert.NotNull(session);
            await agent.MoveDoorAsync("pull-down");
            await agent.WaitForCompleteAsync(session!, DoorDeadline);
            var pair = await agent.GetAsync($"/api/v1/sessions/{session}/evidence/pair");
            Assert.Equal("incomplete", pair.GetProperty("pair_status").GetString());
            var failed = pair.GetProperty("before");
            Assert.True(failed.GetProperty("status").GetString() == "failed" && failed.GetProperty("failure_reason").GetString()!.Contains("interrupted"), pair.ToString());
            Assert.Equal("captured", pair.GetProperty("after").GetProperty("status").GetString());
        });

        await Step(vm, "reboot with the door open: the unit comes back, the sessions are all there", async () =>
        {
            var recorded = await RecordedAsync(agent);
            await File.WriteAllTextAsync(Path.Combine(vm.Share, "gpio-pulls"), $"{GuestAgent.DoorLine} pull-up\n");
            await vm.RebootAsync();
            await agent.WaitForApiAsync(Api);
            // Kestrel may answer a moment before systemd has taken READY=1.
            var unit = await Eventually.UntilAsync(async () => await agent.ShowAsync() is { } u && u["ActiveState"] == "active" ? u : null,
                Api, "the unit active after the reboot");
            Assert.Equal("0", unit!["NRestarts"]);
            Assert.Contains("door is open", await agent.JournalAsync("-b"));
            Assert.Equal(recorded, await RecordedAsync(agent));
        });

        await Step(vm, "power cut mid-session: nothing recorded is lost", async () =>
        {
            // The door open since boot closes: a session with no open event, complete before the next opens.
            var count = (await agent.SessionsAsync()).Count;
            await agent.MoveDoorAsync("pull-down");
            await Eventually.UntilAsync(async () =>
            {
                var sessions = await agent.SessionsAsync();
                return sessions.Count == count + 1 && sessions.All(s => s.GetProperty("status").GetString() == "complete");
            }, DoorDeadline, "the close's session complete");
            await agent.MoveDoorAsync("pull-up");
            var session = (await agent.WaitForDoorAsync("open", inSession: true, DoorDeadline)).GetProperty("current_session_id").GetString();
            await Eventually.UntilAsync(async () =>
                (await agent.GetAsync($"/api/v1/sessions/{session}/evidence/pair")).GetProperty("before").GetProperty("status").GetString() == "captured",
                DoorDeadline, "the BEFORE_OPEN capture stored");
            var recorded = await RecordedAsync(agent);
            await vm.PowerCutAsync();
            await vm.BootAsync();
            await agent.WaitForApiAsync(Api);
            Assert.Equal(recorded, await RecordedAsync(agent));
        });
    }

    /// <summary>Waits for a new main process of the unit, active again (READY=1 from the new one).</summary>
    private static async Task<Dictionary<string, string>> WaitForRestartAsync(GuestAgent agent, Dictionary<string, string> before) =>
        (await Eventually.UntilAsync(async () =>
        {
            var unit = await agent.ShowAsync();
            return unit["MainPID"] != before["MainPID"] && unit["MainPID"] != "0" && unit["ActiveState"] == "active"
                && int.Parse(unit["NRestarts"]) > int.Parse(before["NRestarts"]) ? unit : null;
        }, RestartDeadline, "systemd to restart the agent"))!;

    /// <summary>Every session with its status and each capture's tag, status and sha256: what must survive.</summary>
    private static async Task<string> RecordedAsync(GuestAgent agent)
    {
        var lines = new List<string>();
        foreach (var session in await agent.SessionsAsync())
        {
            var id = session.GetProperty("id").GetString();
            var evidence = await agent.GetAsync($"/api/v1/sessions/{id}/evidence?include_image=false");
            var captures = evidence.GetProperty("captures").EnumerateArray().Select(c =>
                $"{c.GetProperty("capture_tag").GetString()}:{c.GetProperty("status").GetString()}:{(c.TryGetProperty("sha256", out var s) ? s.GetString() : "-")}");
            lines.Add($"{id} {session.GetProperty("status").GetString()} {string.Join(' ', captures)}");
        }
        Assert.NotEmpty(lines);
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }
}
