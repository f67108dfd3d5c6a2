using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

/// <summary>
/// The native arm64 package on an arm64 Debian 13 booted under qemu-system-aarch64: trixie-backports' kernel (the
/// first Debian arm64 kernel with gpio-sim), systemd as PID 1, the door on a gpio-sim line of /dev/gpiochip0, the
/// camera on this machine reached through qemu's user network, which lets the guest reach nothing else. Each test
/// boots its own VM on a throwaway overlay of the cached image; a failed step names itself and carries the guest's
/// journal. scripts/test.sh runs this class in a pass of its own (trait Vm=Trixie).
/// </summary>
[Trait("Vm", "Trixie")]
public sealed partial class TrixieVmTests(VmRig rig) : IClassFixture<VmRig>
{
    private static readonly TimeSpan Api = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_package_from_a_signed_repository_runs_notified_hardened_and_quiet_under_systemd_then_upgrades_removes_and_purges()
    {
        using var directory = new TempDirectory();
        await using var vm = await rig.CreateVmAsync(directory, "");
        using var agent = new GuestAgent(vm);
        await Step(vm, "boot", vm.BootAsync);

        await Step(vm, "install from the signed repository", async () =>
        {
            await agent.InstallFromRepositoryAsync(rig.Version);
            Assert.Equal(rig.Version, (await vm.RunOkAsync("dpkg-query -W -f '${Version}' piorchestrator")).Trim());
        });

        await Step(vm, "the unit is active after READY=1", async () =>
        {
            // Type=notify: systemd moves the unit from activating to active only on READY=1.
            var unit = await agent.ShowAsync();
            Assert.Equal(("notify", "active", "running", "0", "piorchestrator"), (unit["Type"], unit["ActiveState"], unit["SubState"], unit["NRestarts"], unit["User"]));
            Assert.Contains("loops ok", unit["StatusText"]);
            Assert.Equal("active", (await vm.RunOkAsync("systemctl is-active piorchestrator")).Trim());
            Assert.Contains("Started piorchestrator.service", await vm.RunOkAsync("journalctl -b --no-pager -q -o cat _PID=1 | grep piorchestrator"));
        });

        await Step(vm, "systemd-analyze security of the running unit", async () =>
        {
            var output = await vm.RunOkAsync("systemd-analyze security --no-pager piorchestrator.service");
            var match = Regex.Match(output, @"Overall exposure level for piorchestrator\.service: ([0-9.]+)");
            Assert.True(match.Success, output);
            Assert.True(double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) <= 2.0, output[^300..]);
        });

        await Step(vm, "the clock state read under the sandbox", async () =>
        {
            // timesyncd runs and reaches no server (the VM has no route out): not synchronised, and the agent, whose
            // adjtimex the unit's seccomp filter refuses, falls back to timesyncd's flag and says so.
            Assert.Equal("active", (await vm.RunOkAsync("systemctl is-active systemd-timesyncd")).Trim());
            Assert.Equal("no", (await vm.RunOkAsync("timedatectl show -p NTPSynchronized --value")).Trim());
            await agent.WaitForApiAsync(Api);
            var clock = (await agent.GetAsync("/api/v1/status")).GetProperty("clock");
            Assert.False(clock.GetProperty("synchronized").GetBoolean(), clock.ToString());
            Assert.Equal("adjtimex refused by the sandbox; timesyncd has not synchronised", clock.GetProperty("source").GetString());
        });

        await Step(vm, "journald priorities", async () =>
        {
            Assert.Contains("Now listening on", await agent.JournalAsync("-b -p info"));
            // Nothing at error or above. At warning only what an unconfigured agent here must say: the clock no NTP
            // server can set, and the packaged configuration's broker (localhost), which no one runs here.
            Assert.Equal("", await agent.JournalAsync("-b -p err"));
            var warnings = (await agent.JournalAsync("-b -p warning")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(warnings, w => w.Contains("System clock is not synchronised"));
            Assert.All(warnings, w => Assert.Matches("System clock is not synchronised|MQTT broker localhost:1883 unreachable", w));
        });

        // An operator's edit of the conffile, the device key made at first start: both must survive the upgrade.
        var edited = JsonSerializer.Serialize(new { Containers = Array.Empty<object>(), Api = new { RateLimitPerSecond = 49 } });
        string keyId = "", pid = "";
        await Step(vm, "configuration edited", async () =>
        {
            await agent.ConfigureAsync(edited);
            keyId = (await agent.GetAsync("/api/v1/device")).GetProperty("key_id").GetString()!;
            pid = (await agent.ShowAsync())["MainPID"];
        });

        await Step(vm, "apt upgrade to the newer version", async () =>
        {
            await vm.RunOkAsync("apt-get update -q 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q 2>&1", TimeSpan.FromMinutes(6));
            Assert.Equal(rig.UpgradeVersion, (await vm.RunOkAsync("dpkg-query -W -f '${Version}' piorchestrator")).Trim());
            Assert.Equal(edited, await vm.RunOkAsync("cat /etc/piorchestrator/appsettings.json"));
            var unit = await agent.ShowAsync();
            Assert.Equal("active", unit["ActiveState"]);
            Assert.NotEqual(pid, unit["MainPID"]);
            await agent.WaitForApiAsync(Api);
            Assert.Equal(keyId, (await agent.GetAsync("/api/v1/device")).GetProperty("key_id").GetString());
        });

        await Step(vm, "apt remove keeps data and configuration", async () =>
        {
            await vm.RunOkAsync("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q piorchestrator 2>&1");
            var state = await vm.RunOkAsync(
                "dpkg-query -W -f '${Status}\\n' piorchestrator; systemctl is-active piorchestrator || true; " +
                "test -f /var/lib/piorchestrator/evidence.db && echo data; test -f /etc/piorchestrator/appsettings.json && echo config");
            Assert.Equal("deinstall ok config-files\ninactive\ndata\nconfig\n", state);
        });

        await Step(vm, "apt purge deletes them", async () =>
        {
            await vm.RunOkAsync("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q piorchestrator 2>&1");
            var state = await vm.RunOkAsync(
                "dpkg-query -W -f '${Status}\\n' piorchestrator 2>/dev/null || echo not-installed; " +
                "ls -d /var/lib/piorchestrator /etc/piorchestrator /etc/systemd/system/piorchestrator.service.d 2>/dev/null; " +
                "(systemctl list-unit-files --no-legend piorchestrator.service || true) | wc -l");
            Assert.Equal("not-installed\n0\n", state);
        });
    }

    /// <summary>Runs one step; a failure says which step it was and what the guest's journal (or console) said.</summary>
    internal static async Task Step(TrixieVm vm, string step, Func<Task> body)
    {
        try
        {
            await body();
        }
        catch (VmStepException)
        {
            throw;
        }
        catch (VmFailedException ex)
        {
            throw new VmStepException($"step '{step}': {ex.Message}", ex);
        }
        catch (Exception ex)
        {
            throw new VmStepException($"step '{step}': {ex.Message}{await vm.JournalTailAsync()}", ex);
        }
    }
}

public sealed class VmStepException(string message, Exception inner) : Exception(message, inner);
