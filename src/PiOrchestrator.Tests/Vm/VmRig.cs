using System.Text.Json.Nodes;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

/// <summary>
/// What every VM test shares, made once per run: the trixie arm64 image (test-tools/vm/ensure-image.sh: built on the
/// first run, ~10 min, then cached), the native arm64 .deb (PIORCH_TEST_ARM64_DEB when scripts/test.sh has built it,
/// else built here), a newer version of the same package for the upgrade, and the signed apt repository of both.
/// </summary>
public sealed class VmRig : IAsyncLifetime
{
    public const string UpgradeSuffix = "+vm2";

    private readonly TempDirectory _work = new();

    public string Image { get; private set; } = "";

    /// <summary>The signed repository (test-tools/vm/make-repo.sh): copied into each VM's share as repo/.</summary>
    public string Repository => Path.Combine(_work.Path, "repo");

    public string Version { get; private set; } = "";

    public string UpgradeVersion => Version + UpgradeSuffix;

    public async Task InitializeAsync()
    {
        var image = Path.Combine(RepoPaths.TestTools, "vm", "ensure-image.sh");
        var (exit, output) = await Shell.RunAsync("bash", [image], Shell.BuildDeadline);
        Assert.True(exit == 0, $"the VM image could not be made:\n{output}");
        Image = output.Trim().Split('\n')[^1];
        Assert.True(File.Exists(Path.Combine(Image, ".complete")), output);

        var deb = System.Environment.GetEnvironmentVariable("PIORCH_TEST_ARM64_DEB");
        if (string.IsNullOrEmpty(deb))
        {
            (exit, output) = await Shell.RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "cross-publish.sh"), "linux-arm64", "--native", "--deb"],
                Shell.BuildDeadline, RepoPaths.Root);
            Assert.True(exit == 0, $"the native arm64 package could not be built:\n{output}");
            deb = Path.Combine(RepoPaths.Root, output.Split('\n').Select(l => l.Trim()).Last(l => l.EndsWith("_arm64.deb", StringComparison.Ordinal)));
        }
        Assert.True(File.Exists(deb), $"no package at {deb}");
        (_, output) = await Shell.RunAsync("dpkg-deb", ["--field", deb, "Version"], TimeSpan.FromMinutes(1));
        Version = output.Trim();

        // The same package as a newer version: what an apt upgrade on a Pi takes.
        var upgrade = Path.Combine(_work.Path, $"piorchestrator_{UpgradeVersion}_arm64.deb");
        (exit, output) = await Shell.RunAsync("bash", ["-c",
            """
            set -e
            d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
            dpkg-deb -R "$1" "$d/root"
            sed -i "s/^Version: .*/Version: $2/" "$d/root/DEBIAN/control"
            dpkg-deb --root-owner-group -Zgzip -b "$d/root" "$3" >/dev/null
            """, "repack", deb, UpgradeVersion, upgrade], Shell.BuildDeadline);
        Assert.True(exit == 0, output);

        (exit, output) = await Shell.RunAsync("bash", [Path.Combine(RepoPaths.TestTools, "vm", "make-repo.sh"), Repository, deb, upgrade], TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, $"the signed repository could not be made:\n{output}");
    }

    public Task DisposeAsync()
    {
        _work.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A VM on a fresh overlay, with the repository and the given boot-time line pulls in its share; not booted yet.</summary>
    public async Task<TrixieVm> CreateVmAsync(TempDirectory directory, string gpioPulls, params int[] hostPorts)
    {
        var vm = await TrixieVm.CreateAsync(Image, directory.Path, hostPorts);
        CopyDirectory(Repository, Path.Combine(vm.Share, "repo"));
        await File.WriteAllTextAsync(Path.Combine(vm.Share, "gpio-pulls"), gpioPulls);
        return vm;
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    /// <summary>
    /// The agent's configuration for the VM: one container, its camera on the host, its door on gpiochip0; with
    /// <paramref name="mqttPort"/> and <paramref name="s3Port"/>, the host's broker and S3 server (credentials apart).
    /// </summary>
    public static string Configuration(int cameraPort, int line, int? mqttPort = null, int? s3Port = null)
    {
        var config = new JsonObject
        {
            ["Mqtt"] = mqttPort is { } mqtt ? new JsonObject { ["Host"] = TrixieVm.HostAddress, ["Port"] = mqtt } : new JsonObject { ["Enabled"] = false },
            // Generous grab deadlines: TCG runs the agent tens of times slower than a Pi.
            ["Capture"] = new JsonObject { ["AfterCloseDelayMs"] = 300, ["AttemptTimeoutMs"] = 20_000, ["TimeoutMs"] = 60_000 },
            ["Containers"] = new JsonArray(new JsonObject
            {
                ["Id"] = GuestAgent.ContainerId,
                ["CameraId"] = "espcam-vm",
                ["CameraUrl"] = $"http://{TrixieVm.HostAddress}:{cameraPort}",
                // as-is: gpio-sim applies a requested pull as the line's level (a real reed switch outdrives it), so a
                // pull request would hide the level the test set at boot.
                ["Door"] = new JsonObject { ["Chip"] = "pinctrl-rp1", ["Line"] = line, ["ActiveLow"] = true, ["DebounceMs"] = 50, ["Bias"] = "as-is" },
            }),
        };
        if (s3Port is { } s3) config["S3"] = new JsonObject { ["Endpoint"] = $"http://{TrixieVm.HostAddress}:{s3}", ["Bucket"] = "evidence" };
        return config.ToJsonString();
    }
}
