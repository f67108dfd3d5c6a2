using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>The unit as systemd judges it, the Pi package as cross-publish builds it, and install.sh in a throwaway root.</summary>
public class DeploymentTests
{
    private static string Unit => Path.Combine(RepoPaths.Root, "deploy", "systemd", "piorchestrator.service");

    private static async Task<(int Exit, string Output)> RunAsync(string file, IEnumerable<string> args, string? workingDirectory = null,
        IDictionary<string, string>? environment = null) =>
        await Shell.RunAsync(file, args, Shell.BuildDeadline, workingDirectory, environment);

    [Fact]
    public async Task The_unit_is_hardened_to_an_exposure_of_at_most_2()
    {
        var (_, output) = await RunAsync("systemd-analyze", ["security", "--offline=true", "--no-pager", Unit]);
        var match = Regex.Match(output, @"Overall exposure level for piorchestrator\.service: ([0-9.]+)");
        Assert.True(match.Success, output);
        Assert.True(double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) <= 2.0, output[^200..]);
        var text = await File.ReadAllTextAsync(Unit);
        foreach (var line in new[] { "Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=always", "SupplementaryGroups=gpio",
                     "StateDirectory=piorchestrator", "ConfigurationDirectory=piorchestrator", "CacheDirectory=piorchestrator",
                     "EnvironmentFile=-/etc/piorchestrator/piorchestrator.env", "DevicePolicy=closed", "DeviceAllow=char-gpiochip" })
            Assert.Contains(line, text);
        Assert.DoesNotMatch("(?m)^MemoryDenyWriteExecute=", text);
    }

    [Fact]
    public async Task Systemd_verifies_the_unit_without_complaint_apart_from_the_binary_path()
    {
        var (_, output) = await RunAsync("systemd-analyze", ["verify", Unit]);
        var complaints = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.Contains("/usr/bin/dotnet") && !l.Contains("/opt/piorchestrator")).ToList();
        Assert.Empty(complaints);
    }

    [Fact]
    public async Task Cross_publish_packages_each_rid_with_its_natives_and_the_app_runs_here_under_dotnet()
    {
        var (exit, output) = await RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "cross-publish.sh")], RepoPaths.Root);
        Assert.True(exit == 0, output);
        using var extracted = new TempDirectory();
        foreach (var rid in new[] { "linux-arm64", "linux-arm" })
        {
            var tarball = Directory.GetFiles(Path.Combine(RepoPaths.Root, "out"), $"piorchestrator-*-{rid}.tar.gz").Single();
            var (tarExit, listing) = await RunAsync("tar", ["tzf", tarball]);
            Assert.Equal(0, tarExit);
            var files = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(f => f[(f.IndexOf('/') + 1)..]).ToHashSet();
            foreach (var expected in new[] { "app/PiOrchestrator.dll", $"app/runtimes/{rid}/native/libe_sqlite3.so", "piorchestrator.service",
                         "install.sh", "appsettings.example.json", "piorchestrator.env.example" })
                Assert.Contains(expected, files);
            Assert.DoesNotContain(files, f => f.StartsWith("app/runtimes/", StringComparison.Ordinal) && !f.StartsWith($"app/runtimes/{rid}", StringComparison.Ordinal) && f.Length > "app/runtimes/".Length);
            Assert.DoesNotContain("app/PiOrchestrator", files);
            Assert.Equal(0, (await RunAsync("tar", ["xzf", tarball, "-C", extracted.Path])).Exit);
        }

        // The package is framework-dependent IL: supply this machine's SQLite native and it runs here under dotnet.
        var app = Directory.GetDirectories(extracted.Path, "*-linux-arm64").Single() + "/app";
        var native = Path.Combine(Path.GetDirectoryName(AgentProcess.AgentDll)!, "runtimes", "linux-x64", "native");
        Directory.CreateDirectory(Path.Combine(app, "runtimes", "linux-x64", "native"));
        File.Copy(Path.Combine(native, "libe_sqlite3.so"), Path.Combine(app, "runtimes", "linux-x64", "native", "libe_sqlite3.so"));
        using var data = new TempDirectory();
        var port = TestPorts.Free();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(app, "PiOrchestrator.dll"), "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["PIORCH_CONFIG_FILE"] = "/nonexistent.json";
        start.Environment["PIORCH_Storage__DataDirectory"] = data.Path;
        start.Environment["PIORCH_Mqtt__Enabled"] = "false";
        using var process = Process.Start(start)!;
        try
        {
            using var http = new HttpClient();
            await Eventually.UntilAsync(async () => (await http.GetAsync($"http://127.0.0.1:{port}/healthz")).IsSuccessStatusCode,
                TimeSpan.FromSeconds(30), "the packaged agent's /healthz");
        }
        finally
        {
            process.Kill();
        }
    }

    [Fact]
    public async Task Self_contained_publish_names_the_missing_runtime_packs()
    {
        // A package source holding everything this machine has restored except the linux-arm64 runtime packs, as on
        // a machine whose NuGet lacks them: restored from a fallback folder of links, with no other source.
        using var fallback = new TempDirectory();
        using var packages = new TempDirectory();
        using var noSource = new TempDirectory();
        var restored = System.Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var package in Directory.GetDirectories(restored).Where(d => !Path.GetFileName(d).EndsWith(".app.runtime.linux-arm64", StringComparison.Ordinal)))
            File.CreateSymbolicLink(Path.Combine(fallback.Path, Path.GetFileName(package)), package);
        var environment = new Dictionary<string, string>
        {
            ["NUGET_PACKAGES"] = packages.Path, ["NUGET_FALLBACK_PACKAGES"] = fallback.Path, ["RestoreSources"] = noSource.Path,
        };

        var (exit, output) = await RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "cross-publish.sh"), "linux-arm64", "--self-contained"], RepoPaths.Root, environment);

        Assert.NotEqual(0, exit);
        Assert.Contains("error: a self-contained linux-arm64 build needs the Microsoft.NETCore.App.Runtime.linux-arm64 and Microsoft.AspNetCore.App.Runtime.linux-arm64 packs", output);
        Assert.DoesNotContain("out/piorchestrator-", output);
    }

    /// <summary>One cross-publish per package kind for the whole class: the arm64 cases share it.</summary>
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Arm64Packages = new();

    private static Task<string> Arm64PackageAsync(string kind) => Arm64Packages.GetOrAdd(kind, k => new Lazy<Task<string>>(async () =>
    {
        var (exit, output) = await RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "cross-publish.sh"), "linux-arm64", k], RepoPaths.Root);
        Assert.True(exit == 0, output);
        var tarball = Path.Combine(RepoPaths.Root, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim());
        Assert.EndsWith($"-linux-arm64-{k[2..]}.tar.gz", tarball);
        return tarball;
    })).Value;

    // Raspberry Pi OS is Debian 13 (trixie: libgpiod 2 as libgpiod3, no libgpiod2) since late 2025, Debian 12
    // (bookworm: libgpiod 1 as libgpiod2) before: the package runs on an arm64 root of each, made by scripts/test.sh
    // from that release's arm64 .debs (its C library included).
    [Theory]
    [InlineData("--self-contained", "bookworm")]
    [InlineData("--native", "bookworm")]
    [InlineData("--native", "trixie")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_arm64_package_that_runs_by_itself_installs_and_records_a_door_cycle_on_an_emulated_arm64_cpu(string kind, string release)
    {
        var sysroot = Path.Combine(RepoPaths.TestTools, $"arm64-{release}");
        Assert.True(File.Exists(Path.Combine(sysroot, ".complete")), $"no arm64 root at {sysroot}: scripts/test.sh makes it");
        var tarball = await Arm64PackageAsync(kind);
        using var extracted = new TempDirectory();
        Assert.Equal(0, (await RunAsync("tar", ["xzf", tarball, "-C", extracted.Path])).Exit);
        var package = Directory.GetDirectories(extracted.Path).Single();

        // Built for the Pi's CPU: the executable, the runtime (self-contained) and the SQLite native are aarch64 ELF files.
        string[] natives = kind == "--native" ? ["PiOrchestrator", "libe_sqlite3.so"] : ["PiOrchestrator", "libcoreclr.so", "libclrjit.so", "libe_sqlite3.so"];
        foreach (var file in natives)
            Assert.Equal(ElfMachineAarch64, ElfMachine(Path.Combine(package, "app", file)));
        Assert.False(Directory.Exists(Path.Combine(package, "app", "runtimes")), "natives of other RIDs in a RID-specific package");
        Assert.Equal(kind == "--self-contained", File.Exists(Path.Combine(package, "app", "PiOrchestrator.dll")));

        // install.sh sees it runs by itself: no .NET needed, the unit starts the executable, and a native one, which
        // never JITs, gets MemoryDenyWriteExecute.
        using var root = new TempDirectory();
        await PrepareSystemRootAsync(root.Path);
        var install = await RunAsync("bash", [Path.Combine(package, "install.sh"), "--root", root.Path]);
        Assert.True(install.Exit == 0, install.Output);
        var dropIn = await File.ReadAllTextAsync(Path.Combine(root.Path, "etc", "systemd", "system", "piorchestrator.service.d", "executable.conf"));
        Assert.Contains("[Service]\nExecStart=\nExecStart=/opt/piorchestrator/PiOrchestrator\n", dropIn);
        Assert.Equal(kind == "--native", dropIn.Contains("MemoryDenyWriteExecute=yes\n"));
        var (_, security) = await RunAsync("systemd-analyze", ["security", "--offline=true", "--no-pager", $"--root={root.Path}", "piorchestrator.service"]);
        Assert.Equal(kind == "--native", security.Contains("✓ MemoryDenyWriteExecute="));
        var executable = Path.Combine(root.Path, "opt", "piorchestrator", "PiOrchestrator");

        // The installed executable on an emulated arm64 CPU with that release's libraries: a door cycle from the real
        // broker, two photos from the fake camera, validated and stored. The container also has a GPIO door; no chip
        // exists here, so its sensor must fail naming the chip (the libgpiod of the release loaded, no crash) while
        // the MQTT door still works.
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
            ["PIORCH_Capture__AfterCloseDelayMs"] = "200",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
            ["PIORCH_Containers__0__Door__Chip"] = "gpiochip0",
            ["PIORCH_Containers__0__Door__Line"] = "17",
        };
        // The JIT build under qemu-user only: the runtime's W^X mode writes machine code through a second, writable
        // mapping of the memory it runs from, and qemu-user does not see such a write, so it keeps running its old
        // translation of code the runtime has since replaced (Qemu_user_runs_stale_code_written_through_a_second_mapping).
        // The runtime replaces code at an address once a collected dynamic method's memory (reflection's InvokeStub_*,
        // the DI container's IL-emitted resolvers) goes to a new one: when that happens depends on when collections
        // run, which is why it showed only on a loaded machine, as NullReferenceExceptions in those stubs and a 500 for
        // every request. A small gen0 budget makes collections frequent, so that this test meets it on every run rather
        // than on a busy day: with W^X on, the agent then dies at start in an InvokeStub_. A Pi's CPU runs what the
        // runtime wrote once the runtime has made its caches coherent, so on a Pi the default (W^X on) stays.
        if (kind == "--self-contained")
        {
            environment["DOTNET_EnableWriteXorExecute"] = "0";
            environment["DOTNET_GCgen0size"] = "0x80000";
        }
        await using var agent = AgentProcess.StartCommand("qemu-aarch64", ["-L", sysroot, executable], environment);
        await agent.WaitReadyAsync(TimeSpan.FromMinutes(3));
        // The setting took: the JIT's code is not double-mapped (dotnet/runtime doublemapping.cpp's memfd).
        Assert.DoesNotContain("doublemapper", await File.ReadAllTextAsync($"/proc/{agent.ProcessId}/maps"));
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1", TimeSpan.FromMinutes(1));
        await broker.PublishAsync("containers/ctr-001/door", $$"""{"event":"opened","event_id":"arm64-{{release}}","session_id":"sess-arm64-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var pair = await Eventually.UntilAsync(async () =>
        {
            var candidate = await agent.GetDataAsync("/api/v1/sessions/sess-arm64-1/evidence/pair");
            return candidate.GetProperty("pair_status").GetString() == "complete" ? (JsonElement?)candidate : null;
        }, TimeSpan.FromMinutes(2), "a complete pair from the arm64 agent");
        foreach (var side in new[] { "before", "after" })
            Assert.Contains(pair!.Value.GetProperty(side).GetProperty("sha256").GetString(), camera.ServedSha256);

        var sensor = await Eventually.UntilAsync(async () =>
        {
            var s = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0].GetProperty("door_sensor");
            return s.GetProperty("state").GetString() == "failed" ? (JsonElement?)s : null;
        }, TimeSpan.FromMinutes(1), "the door sensor to show failed");
        var reason = sensor!.Value.GetProperty("error").GetString()!;
        Assert.Contains("gpiochip0", reason);
        Assert.DoesNotContain("libgpiod.so", reason);
    }

    /// <summary>
    /// Why the JIT build runs with W^X off under qemu-user: a probe (test-tools/qemu-probes/alias-code.c) writes an
    /// instruction through one mapping of a memfd page, runs it through another, as the .NET runtime's W^X mode does
    /// (dotnet/runtime src/coreclr/minipal/Unix/doublemapping.cpp), then rewrites and runs it again. qemu-user keeps its
    /// translation of the executable page, which it only invalidates on writes to that same guest address, so the
    /// rewritten code never runs; written through a single mapping (W^X off) it does. Should a future qemu-user get
    /// this right, this test fails, and the DOTNET_EnableWriteXorExecute=0 in the arm64 test can go.
    /// </summary>
    [Fact]
    public async Task Qemu_user_runs_stale_code_written_through_a_second_mapping()
    {
        using var build = new TempDirectory();
        var probe = Path.Combine(build.Path, "alias-code");
        var compile = await RunAsync("aarch64-linux-gnu-gcc", ["-O1", "-static", "-o", probe, Path.Combine(RepoPaths.TestTools, "qemu-probes", "alias-code.c")]);
        Assert.True(compile.Exit == 0, compile.Output);
        Assert.Equal(ElfMachineAarch64, ElfMachine(probe));

        var (exit, output) = await RunAsync("qemu-aarch64", [probe]);

        Assert.Contains("single-mapping first=1 second=2", output);
        Assert.True(output.Contains("double-mapped first=1 second=1") && exit == 1,
            $"qemu-user now runs code rewritten through a second mapping (exit {exit}): {output}");
    }

    private const ushort ElfMachineAarch64 = 183;

    /// <summary>e_machine of an ELF file (little-endian, offset 18), or 0 when it is not one.</summary>
    private static ushort ElfMachine(string path)
    {
        var header = new byte[20];
        using (var file = File.OpenRead(path)) file.ReadExactly(header);
        return header.AsSpan(0, 4).SequenceEqual("\u007FELF"u8) ? BitConverter.ToUInt16(header, 18) : (ushort)0;
    }

    /// <summary>A minimal system for install.sh --root: the accounts files useradd edits, and a gpio group as on Raspberry Pi OS.</summary>
    private static async Task PrepareSystemRootAsync(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        foreach (var file in new[] { "passwd", "group", "shadow", "gshadow" })
            File.Copy(Path.Combine("/etc", file), Path.Combine(root, "etc", file));
        if (!File.ReadAllText("/etc/group").Contains("\ngpio:"))
            await File.AppendAllTextAsync(Path.Combine(root, "etc", "group"), "gpio:x:997:\n");
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Install_sh_twice_in_a_throwaway_root_gives_the_same_result_and_keeps_config_and_data()
    {
        using var root = new TempDirectory();
        await PrepareSystemRootAsync(root.Path);
        using var package = new TempDirectory();
        var deploy = Path.Combine(RepoPaths.Root, "deploy");
        foreach (var file in new[] { "install.sh", "appsettings.example.json", "piorchestrator.env.example", "systemd/piorchestrator.service" })
            File.Copy(Path.Combine(deploy, file), Path.Combine(package.Path, Path.GetFileName(file)));
        Directory.CreateDirectory(Path.Combine(package.Path, "app"));
        File.Copy(AgentProcess.AgentDll, Path.Combine(package.Path, "app", "PiOrchestrator.dll"));
        var install = Path.Combine(package.Path, "install.sh");

        var first = await RunAsync("bash", [install, "--root", root.Path]);
        Assert.True(first.Exit == 0, first.Output);
        var afterFirst = Snapshot(root.Path);
        var config = Path.Combine(root.Path, "etc", "piorchestrator", "appsettings.json");
        Assert.True(File.Exists(config));
        Assert.True(File.Exists(Path.Combine(root.Path, "etc", "systemd", "system", "piorchestrator.service")));
        Assert.True(File.Exists(Path.Combine(root.Path, "opt", "piorchestrator", "PiOrchestrator.dll")));
        Assert.Matches("(?m)^piorchestrator:", await File.ReadAllTextAsync(Path.Combine(root.Path, "etc", "passwd")));
        Assert.Matches("(?m)^gpio:.*piorchestrator", await File.ReadAllTextAsync(Path.Combine(root.Path, "etc", "group")));

        var second = await RunAsync("bash", [install, "--root", root.Path]);
        Assert.True(second.Exit == 0, second.Output);
        Assert.Equal(afterFirst, Snapshot(root.Path));

        await File.WriteAllTextAsync(config, """{"Containers":[]}""");
        Directory.CreateDirectory(Path.Combine(root.Path, "var", "lib", "piorchestrator"));
        await File.WriteAllTextAsync(Path.Combine(root.Path, "var", "lib", "piorchestrator", "evidence.db"), "evidence");
        Assert.Equal(0, (await RunAsync("bash", [install, "--root", root.Path])).Exit);
        Assert.Equal("""{"Containers":[]}""", await File.ReadAllTextAsync(config));

        // A secret put in the credentials directory reaches the unit as a LoadCredential= drop-in on the next run.
        var credentials = Path.Combine(root.Path, "etc", "piorchestrator", "credentials");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(credentials));
        var dropIn = Path.Combine(root.Path, "etc", "systemd", "system", "piorchestrator.service.d", "credentials.conf");
        // No key configured anywhere: the first install made one (test captures are never open to any web page).
        var apiKey = Path.Combine(credentials, "api-key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(apiKey));
        Assert.Matches("^[A-Za-z0-9_-]{32}$", (await File.ReadAllTextAsync(apiKey)).Trim());
        Assert.Equal("[Service]\nLoadCredential=api-key:/etc/piorchestrator/credentials/api-key",
            (await File.ReadAllTextAsync(dropIn)).Split('\n', 2)[1].Trim());
        await File.WriteAllTextAsync(Path.Combine(credentials, "s3-secret-key"), "secret\n");
        Assert.Equal(0, (await RunAsync("bash", [install, "--root", root.Path])).Exit);
        var loaded = await File.ReadAllTextAsync(dropIn);
        Assert.Contains("[Service]\nLoadCredential=s3-secret-key:/etc/piorchestrator/credentials/s3-secret-key", loaded);
        Assert.Contains("LoadCredential=api-key:", loaded);
        Assert.DoesNotContain("mqtt-password", loaded);

        Assert.Equal(0, (await RunAsync("bash", [install, "--root", root.Path, "--uninstall"])).Exit);
        Assert.False(Directory.Exists(Path.Combine(root.Path, "opt", "piorchestrator")));
        Assert.True(File.Exists(Path.Combine(root.Path, "var", "lib", "piorchestrator", "evidence.db")));
        Assert.True(File.Exists(config));
        Assert.Equal(0, (await RunAsync("bash", [install, "--root", root.Path, "--uninstall", "--purge"])).Exit);
        Assert.False(Directory.Exists(Path.Combine(root.Path, "var", "lib", "piorchestrator")));
        Assert.False(Directory.Exists(Path.Combine(root.Path, "etc", "piorchestrator")));
    }

    /// <summary>Every file under the root with its content hash and mode, for "run twice = same result".</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static string Snapshot(string root) => string.Join("\n", Directory.GetFiles(root, "*", SearchOption.AllDirectories).Order()
        .Select(f => $"{Path.GetRelativePath(root, f)} {File.GetUnixFileMode(f)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}"));
}
