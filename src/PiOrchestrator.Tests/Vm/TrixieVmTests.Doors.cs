using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

public sealed partial class TrixieVmTests
{
    private static readonly TimeSpan DoorDeadline = TimeSpan.FromMinutes(1);

    /// <summary>The door line pulled low at boot: with ActiveLow, closed.</summary>
    private static readonly string ClosedAtBoot = $"{GuestAgent.DoorLine} pull-down\n";

    [Fact]
    public async Task A_gpio_door_on_gpiochip0_gives_a_complete_pair_per_bounced_door_cycle_through_the_gpio_group()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        using var directory = new TempDirectory();
        await using var vm = await rig.CreateVmAsync(directory, ClosedAtBoot, camera.Port, broker.Port, s3.Port);
        using var agent = new GuestAgent(vm);
        await Step(vm, "boot", vm.BootAsync);
        await Step(vm, "install, S3 credentials, a GPIO door, the host's broker and S3 server", async () =>
        {
            await agent.InstallFromRepositoryAsync(rig.Version);
            await agent.AddCredentialsAsync(new Dictionary<string, string> { ["s3-access-key"] = S3Server.AccessKey, ["s3-secret-key"] = S3Server.SecretKey });
            await ConfigureAsync(agent, VmRig.Configuration(camera.Port, GuestAgent.DoorLine, broker.Port, s3.Port));
        });

        await Step(vm, "a door closed at start is read as closed", async () =>
        {
            Assert.Contains($"Door sensor of {GuestAgent.ContainerId} ready on pinctrl-rp1 line {GuestAgent.DoorLine} through System.Device.Gpio's LibGpiodV2Driver; door is closed",
                await agent.JournalAsync("-b"));
            Assert.Empty(await agent.SessionsAsync());
        });

        await Step(vm, "the service user reaches the chip through the gpio group", async () =>
        {
            var pid = (await agent.ShowAsync())["MainPID"];
            var gid = (await vm.RunOkAsync("getent group gpio | cut -d: -f3")).Trim();
            var facts = await vm.RunOkAsync(
                $"stat -c '%U:%G %a' /dev/gpiochip0; ps -o user= -p {pid}; id -nG piorchestrator | tr ' ' '\\n' | grep -x gpio; " +
                $"grep '^Groups:' /proc/{pid}/status");
            var lines = facts.Split('\n');
            Assert.Equal(["root:gpio 660", "piorchestrator", "gpio"], lines[..3]);
            Assert.Contains(gid, lines[3].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
        });

        const int cycles = 3;
        var made = new List<string>();
        for (var i = 1; i <= cycles; i++)
            await Step(vm, $"door cycle {i}, open and close with bounce", async () => made.Add(await agent.DoorCycleAsync(DoorDeadline)));

        await Step(vm, "each cycle one complete BEFORE_OPEN/AFTER_CLOSE pair, photos from the host's camera", async () =>
        {
            var sessions = await agent.SessionsAsync();
            Assert.Equal(made.Order(), sessions.Select(s => s.GetProperty("id").GetString()!).Order());
            foreach (var session in sessions)
            {
                Assert.Equal(("complete", "complete"), (session.GetProperty("status").GetString(), session.GetProperty("pair_status").GetString()));
                var pair = await agent.GetAsync($"/api/v1/sessions/{session.GetProperty("id").GetString()}/evidence/pair");
                Assert.Equal("complete", pair.GetProperty("pair_status").GetString());
                foreach (var (side, tag) in new[] { ("before", "BEFORE_OPEN"), ("after", "AFTER_CLOSE") })
                {
                    var capture = pair.GetProperty(side);
                    Assert.Equal((tag, "captured"), (capture.GetProperty("capture_tag").GetString(), capture.GetProperty("status").GetString()));
                    Assert.Contains(capture.GetProperty("sha256").GetString(), camera.ServedSha256);
                }
            }
            // The bounce made no event of its own: one opened and one closed per cycle reached the sessions.
            Assert.Equal(2 * cycles, GpioDoorEvents(await agent.GetTextAsync("/metrics")));
        });

        await Step(vm, "the host's broker connected and every photo uploaded to its S3 server, through the forwards", async () =>
        {
            Assert.True((await agent.GetAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean());
            foreach (var id in made)
            {
                // verify re-reads each object from S3 (credentials from LoadCredential=) and checks its sha256.
                await Eventually.UntilAsync(async () =>
                    await agent.GetAsync($"/api/v1/sessions/{id}/verify") is { } v && v.GetProperty("ok").GetBoolean()
                    && v.GetProperty("captures").EnumerateArray().All(c => c.GetProperty("object").GetString() == "ok"),
                    TimeSpan.FromMinutes(2), $"session {id}'s photos uploaded and verified from S3");
            }
        });
    }

    private async Task InstallAndConfigureAsync(GuestAgent agent, FakeCamera camera)
    {
        await agent.InstallFromRepositoryAsync(rig.Version);
        await ConfigureAsync(agent, VmRig.Configuration(camera.Port, GuestAgent.DoorLine));
    }

    private static async Task ConfigureAsync(GuestAgent agent, string configuration)
    {
        await agent.ConfigureAsync(configuration);
        await agent.WaitForApiAsync(Api);
        await Eventually.UntilAsync(async () =>
        {
            var sensor = (await agent.ContainerStatusAsync()).GetProperty("door_sensor");
            return sensor.GetProperty("state").GetString() == "ok";
        }, DoorDeadline, "the door sensor ok");
    }

    /// <summary>The sum of piorchestrator_door_events_total over its series with source="gpio".</summary>
    private static long GpioDoorEvents(string metrics) => metrics.Split('\n')
        .Where(l => l.StartsWith("piorchestrator_door_events_total{", StringComparison.Ordinal) && l.Contains("source=\"gpio\""))
        .Sum(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
