using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Packaging;

/// <summary>
/// The .deb (scripts/build-deb.sh) of the build under test: the framework-dependent one from the agent's build output,
/// or, in scripts/test.sh's second pass (PIORCH_TEST_AGENT), the native one. Checked by lintian, then installed,
/// upgraded, removed and purged by the real dpkg in a throwaway root: an overlay of this machine's own system (its
/// dpkg database, shell, useradd and deb-systemd-helper) chrooted into, so nothing lands on the machine itself.
/// No systemd runs as PID 1 here: the maintainer scripts' systemctl and deb-systemd-invoke calls are checked against
/// logging stand-ins (the test says so below); enabling (deb-systemd-helper's symlinks) is real.
/// </summary>
[Trait("Agent", "Process")]
public class DebianPackageTests
{
    private static bool Native => !string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("PIORCH_TEST_AGENT"));

    /// <summary>The published agent the package is built from.</summary>
    private static string AppDirectory => Path.GetDirectoryName(Native ? AgentProcess.Command.File : AgentProcess.AgentDll)!;

    private static async Task<string> BuildAsync(string outDir, string rid, string version)
    {
        List<string> args = [Path.Combine(RepoPaths.Root, "scripts", "build-deb.sh"), "--app", AppDirectory, "--rid", rid, "--version", version, "--out", outDir];
        if (Native) args.Add("--native");
        var (exit, output) = await RunAsync("bash", args);
        Assert.True(exit == 0, output);
        var deb = output.Trim().Split('\n')[^1];
        Assert.Equal(Path.Combine(outDir, Native ? "native" : "framework", $"piorchestrator_{version}_{Arch(rid)}.deb"), deb);
        return deb;
    }

    private static string Arch(string rid) => rid switch { "linux-arm64" => "arm64", "linux-arm" => "armhf", _ => "amd64" };

    [Fact]
    public async Task Lintian_reports_no_errors_or_warnings_and_each_flavour_depends_on_what_it_loads()
    {
        using var outDir = new TempDirectory();
        // The Pi packages are framework-dependent builds of the same managed code; the native flavour is the
        // machine's own (the native arm64 one needs the cross toolchain: scripts/cross-publish.sh linux-arm64 --native --deb).
        List<string> debs = [await BuildAsync(outDir.Path, "linux-x64", "1.0.0")];
        if (!Native)
        {
            debs.Add(await BuildAsync(outDir.Path, "linux-arm64", "1.0.0"));
            debs.Add(await BuildAsync(outDir.Path, "linux-arm", "1.0.0"));
        }
        foreach (var deb in debs)
        {
            var (exit, output) = await RunAsync("lintian", ["--tag-display-limit", "0", deb]);
            Assert.True(exit == 0, $"lintian {deb}:\n{output}");
            Assert.DoesNotMatch("(?m)^[EW]: ", output);

            var (_, depends) = await RunAsync("dpkg-deb", ["--field", deb, "Depends"]);
            Assert.Contains("libturbojpeg0", depends);
            Assert.Contains("libgpiod3 | libgpiod2", depends);
            Assert.Equal(!Native, depends.Contains("aspnetcore-runtime-10.0"));
            var (_, conffiles) = await RunAsync("dpkg-deb", ["--info", deb, "conffiles"]);
            Assert.Equal(["/etc/piorchestrator/appsettings.json", "/etc/piorchestrator/piorchestrator.env"], conffiles.Trim().Split('\n'));
            Assert.DoesNotContain("/opt/", await ReadFromDebAsync(deb, "./usr/lib/systemd/system/piorchestrator.service"));
        }
        var execStart = await ReadFromDebAsync(debs[0], "./usr/lib/systemd/system/piorchestrator.service");
        Assert.Contains(Native ? "ExecStart=/usr/lib/piorchestrator/PiOrchestrator\n" : "ExecStart=/usr/bin/dotnet /usr/lib/piorchestrator/PiOrchestrator.dll\n", execStart);
        Assert.Equal(Native, execStart.Contains("MemoryDenyWriteExecute=yes"));
    }

    [Fact]
    public async Task The_packaged_configuration_starts_the_agent_unconfigured_and_its_status_says_what_to_set()
    {
        using var outDir = new TempDirectory();
        using var data = new TempDirectory();
        var deb = await BuildAsync(outDir.Path, "linux-x64", "1.0.0");
        var config = Path.Combine(outDir.Path, "appsettings.json");
        await File.WriteAllTextAsync(config, await ReadFromDebAsync(deb, "./etc/piorchestrator/appsettings.json"));
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_CONFIG_FILE"] = config,
            ["PIORCH_Storage__DataDirectory"] = data.Path,
        });
        await agent.WaitReadyAsync();
        var status = await agent.GetDataAsync("/api/v1/status");
        Assert.Empty(status.GetProperty("containers").EnumerateArray());
        var setup = status.GetProperty("setup").EnumerateArray().Select(s => s.GetString()!).ToList();
        Assert.Contains(setup, s => s.StartsWith("Containers: none configured"));
        Assert.Contains(setup, s => s.StartsWith("S3:Endpoint: not set"));
        // MQTT's default is a broker on the Pi itself; while none answers there, the status says so.
        Assert.True(status.GetProperty("mqtt").GetProperty("connected").GetBoolean() || setup.Any(s => s.StartsWith("Mqtt:Host:")), string.Join("\n", setup));
        Assert.Contains(config, agent.Output);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Install_upgrade_remove_and_purge_keep_data_and_configuration_until_purge_and_purge_keeps_unsent_evidence_and_the_operators_device_key()
    {
        using var outDir = new TempDirectory();
        var v1 = await BuildAsync(outDir.Path, "linux-x64", "1.0.0");
        var v2 = await BuildAsync(outDir.Path, "linux-x64", "1.0.1");
        await using var root = await ThrowawayRoot.MountAsync();
        File.Copy(v1, root.Path("tmp/v1.deb"));
        File.Copy(v2, root.Path("tmp/v2.deb"));
        // A Raspberry Pi OS system has a gpio group; the package puts its user in it.
        Assert.Equal(0, (await root.ChrootAsync("groupadd", "--system", "gpio")).Exit);
        // Stand-ins for systemd as PID 1, which this machine cannot have: the maintainer scripts see a running systemd
        // (/run/systemd/system) and their systemctl and deb-systemd-invoke calls are logged.
        Directory.CreateDirectory(root.Path("run/systemd/system"));
        // systemctl's offline work (deb-systemd-helper enables through `systemctl preset`) goes to the real one.
        File.Move(root.Path("usr/bin/systemctl"), root.Path("usr/bin/systemctl.real"));
        await WriteScriptAsync(root.Path("usr/bin/systemctl"), """
            #!/bin/sh
            echo "systemctl $*" >> /tmp/systemd.log
            case " $* " in *" start "*|*" stop "*|*" restart "*|*" daemon-reload "*) exit 0 ;; esac
            exec /usr/bin/systemctl.real "$@"
            """);
        File.Delete(root.Path("usr/bin/deb-systemd-invoke"));
        await WriteScriptAsync(root.Path("usr/bin/deb-systemd-invoke"), """
            #!/bin/sh
            echo "deb-systemd-invoke $*" >> /tmp/systemd.log
            """);
        // Only the ASP.NET Core runtime package is missing here (the runtime is installed without dpkg); the native
        // flavour's dependencies must all be met by this Debian system.
        string[] force = Native ? [] : ["--force-depends"];
        // A device key the operator supplies, as install.sh takes it: the package hands it to the service too.
        Directory.CreateDirectory(root.Path("etc/piorchestrator/credentials"));
        await File.WriteAllTextAsync(root.Path("etc/piorchestrator/credentials/device-key"), "operator's key\n");

        var install = await root.ChrootAsync(["dpkg", .. force, "-i", "/tmp/v1.deb"]);
        Assert.True(install.Exit == 0, install.Output);
        Assert.Contains("install ok installed 1.0.0", (await root.ChrootAsync("dpkg-query", "-W", "-f=${Status} ${Version}", "piorchestrator")).Output);
        Assert.Matches("(?m)^piorchestrator:x:[0-9]+:[0-9]+:PiOrchestrator agent:/var/lib/piorchestrator:/usr/sbin/nologin$", await File.ReadAllTextAsync(root.Path("etc/passwd")));
        Assert.Matches("(?m)^gpio:[^\n]*piorchestrator", await File.ReadAllTextAsync(root.Path("etc/group")));
        Assert.True(File.Exists(root.Path(Native ? "usr/lib/piorchestrator/PiOrchestrator" : "usr/lib/piorchestrator/PiOrchestrator.dll")));
        // Enabled: deb-systemd-helper's link (to /lib/… on a merged-/usr bookworm, /usr/lib/… on trixie).
        Assert.Matches("^(/usr)?/lib/systemd/system/piorchestrator.service$",
            new FileInfo(root.Path("etc/systemd/system/multi-user.target.wants/piorchestrator.service")).LinkTarget ?? "not enabled");
        Assert.Equal("piorchestrator", (await root.ChrootAsync("stat", "-c", "%U", "/var/lib/piorchestrator")).Output.Trim());
        Assert.True(File.Exists(root.Path("etc/piorchestrator/credentials/api-key")));
        var credentials = await File.ReadAllTextAsync(root.Path("etc/systemd/system/piorchestrator.service.d/credentials.conf"));
        Assert.Contains("LoadCredential=api-key:/etc/piorchestrator/credentials/api-key", credentials);
        Assert.Contains("LoadCredential=device-key:/etc/piorchestrator/credentials/device-key", credentials);
        // Configured for nothing: no example address the site may not own; the example is documentation.
        Assert.DoesNotMatch(@"\d+\.\d+\.\d+\.\d+", await File.ReadAllTextAsync(root.Path("etc/piorchestrator/appsettings.json")));
        Assert.True(File.Exists(root.Path("usr/share/doc/piorchestrator/appsettings.example.json")));
        Assert.Equal("root:piorchestrator 640", (await root.ChrootAsync("stat", "-c", "%U:%G %a", "/etc/piorchestrator/appsettings.json")).Output.Trim());
        Assert.Contains("deb-systemd-invoke start piorchestrator.service", await File.ReadAllTextAsync(root.Path("tmp/systemd.log")));

        // An operator's edit, and the evidence the service wrote.
        var config = root.Path("etc/piorchestrator/appsettings.json");
        var edited = (await File.ReadAllTextAsync(config)).Replace("\"Containers\": []", "\"Containers\": [ { \"Id\": \"ctr-009\" } ]");
        Assert.NotEqual(await File.ReadAllTextAsync(config), edited);
        await File.WriteAllTextAsync(config, edited);
        // One capture uploaded, one not yet.
        var evidence = EvidenceDatabase(uploaded: 1, pending: 1);
        await File.WriteAllBytesAsync(root.Path("var/lib/piorchestrator/evidence.db"), evidence);
        await File.WriteAllTextAsync(root.Path("var/lib/piorchestrator/device-key.pem"), "agent-made key");
        await File.WriteAllTextAsync(root.Path("var/lib/piorchestrator/reserve.space"), "reserve");
        var apiKey = await File.ReadAllTextAsync(root.Path("etc/piorchestrator/credentials/api-key"));
        File.Delete(root.Path("tmp/systemd.log"));

        var upgrade = await root.ChrootAsync(["dpkg", .. force, "-i", "/tmp/v2.deb"]);
        Assert.True(upgrade.Exit == 0, upgrade.Output);
        Assert.Contains("install ok installed 1.0.1", (await root.ChrootAsync("dpkg-query", "-W", "-f=${Status} ${Version}", "piorchestrator")).Output);
        Assert.Equal(edited, await File.ReadAllTextAsync(config));
        Assert.Equal(evidence, await File.ReadAllBytesAsync(root.Path("var/lib/piorchestrator/evidence.db")));
        Assert.Equal(apiKey, await File.ReadAllTextAsync(root.Path("etc/piorchestrator/credentials/api-key")));
        var upgradeLog = await File.ReadAllTextAsync(root.Path("tmp/systemd.log"));
        Assert.Contains("deb-systemd-invoke restart piorchestrator.service", upgradeLog);
        Assert.DoesNotContain("stop", upgradeLog);
        File.Delete(root.Path("tmp/systemd.log"));

        var remove = await root.ChrootAsync("dpkg", "-r", "piorchestrator");
        Assert.True(remove.Exit == 0, remove.Output);
        Assert.Contains("deb-systemd-invoke stop piorchestrator.service", await File.ReadAllTextAsync(root.Path("tmp/systemd.log")));
        Assert.False(Directory.Exists(root.Path("usr/lib/piorchestrator")));
        Assert.Equal(evidence, await File.ReadAllBytesAsync(root.Path("var/lib/piorchestrator/evidence.db")));
        Assert.Equal(edited, await File.ReadAllTextAsync(config));

        // Purge keeps what cannot be had again, and says where: the capture not yet uploaded, the operator's key.
        var purge = await root.ChrootAsync("dpkg", "-P", "piorchestrator");
        Assert.True(purge.Exit == 0, purge.Output);
        Assert.Contains("kept /var/lib/piorchestrator/evidence.db: 1 capture(s) not yet uploaded", purge.Output);
        Assert.Contains("kept the device key you supplied, /etc/piorchestrator/credentials/device-key", purge.Output);
        Assert.Equal(evidence, await File.ReadAllBytesAsync(root.Path("var/lib/piorchestrator/evidence.db")));
        Assert.Equal(["evidence.db"], Directory.GetFileSystemEntries(root.Path("var/lib/piorchestrator")).Select(Path.GetFileName));
        Assert.Equal(["device-key"], Directory.GetFileSystemEntries(root.Path("etc/piorchestrator/credentials")).Select(Path.GetFileName));
        Assert.Equal(["credentials"], Directory.GetFileSystemEntries(root.Path("etc/piorchestrator")).Select(Path.GetFileName));
        Assert.False(Directory.Exists(root.Path("etc/systemd/system/piorchestrator.service.d")));

        // Installed again, everything uploaded and the operator's key withdrawn: purge leaves nothing.
        var reinstall = await root.ChrootAsync(["dpkg", .. force, "-i", "/tmp/v2.deb"]);
        Assert.True(reinstall.Exit == 0, reinstall.Output);
        await File.WriteAllBytesAsync(root.Path("var/lib/piorchestrator/evidence.db"), EvidenceDatabase(uploaded: 2, pending: 0));
        File.Delete(root.Path("etc/piorchestrator/credentials/device-key"));
        purge = await root.ChrootAsync("dpkg", "-P", "piorchestrator");
        Assert.True(purge.Exit == 0, purge.Output);
        Assert.DoesNotContain("kept", purge.Output);
        Assert.False(Directory.Exists(root.Path("var/lib/piorchestrator")));
        Assert.False(Directory.Exists(root.Path("etc/piorchestrator")));
        Assert.False(Directory.Exists(root.Path("etc/systemd/system/piorchestrator.service.d")));
        Assert.False(File.Exists(root.Path("etc/systemd/system/multi-user.target.wants/piorchestrator.service")));
        Assert.Null(new FileInfo(root.Path("etc/systemd/system/piorchestrator.service")).LinkTarget);
        // Purged: dpkg has forgotten the package.
        Assert.Contains("no packages found matching piorchestrator", (await root.ChrootAsync("dpkg-query", "-W", "piorchestrator")).Output);
    }

    /// <summary>An agent's evidence.db with <paramref name="uploaded"/> captures uploaded and <paramref name="pending"/> not yet.</summary>
    private static byte[] EvidenceDatabase(int uploaded, int pending)
    {
        using var dir = new TempDirectory();
        var ids = new List<Guid>();
        using (var store = new EvidenceStore(Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path }), NullLogger<EvidenceStore>.Instance))
        {
            for (var i = 0; i < uploaded + pending; i++)
            {
                var id = Guid.CreateVersion7();
                store.SaveEvidence(new EvidenceRecord
                {
                    EvidenceId = id, SessionId = "s-1", ContainerId = "ctr-001", DeviceId = "espcam-a1b2c3", Tag = CaptureTag.Manual,
                    Status = CaptureStatus.Captured, CapturedAt = DateTimeOffset.UtcNow, CreatedAt = DateTimeOffset.UtcNow, Sha256 = new string('a', 64),
                    ObjectKey = $"evidence/ctr-001/s-1/{id:N}.jpg", ImageSizeBytes = 3,
                }, [1, 2, 3]);
                ids.Add(id);
            }
        }
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir.Path, EvidenceStore.DatabaseFileName)};Pooling=False"))
        {
            db.Open();
            foreach (var id in ids.Take(uploaded))
            {
                using var cmd = db.CreateCommand();
                cmd.CommandText = "UPDATE evidence SET upload_status = 'uploaded' WHERE evidence_id = $id";
                cmd.Parameters.AddWithValue("$id", id.ToString("D"));
                Assert.Equal(1, cmd.ExecuteNonQuery());
            }
        }
        return File.ReadAllBytes(Path.Combine(dir.Path, EvidenceStore.DatabaseFileName));
    }

    private static async Task WriteScriptAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    private static async Task<string> ReadFromDebAsync(string deb, string member)
    {
        using var dir = new TempDirectory();
        var (exit, output) = await RunAsync("dpkg-deb", ["-x", deb, dir.Path]);
        Assert.True(exit == 0, output);
        return await File.ReadAllTextAsync(Path.Combine(dir.Path, member));
    }

    internal static async Task<(int Exit, string Output)> RunAsync(string file, IEnumerable<string> args) =>
        await Shell.RunAsync(file, args, Shell.BuildDeadline);

    /// <summary>
    /// This machine's root file system seen through an overlay whose writes go to a tmpfs, with /proc and /dev
    /// mounted in it: dpkg run chrooted there changes only the overlay. Needs root (as the tests run in CI).
    /// </summary>
    private sealed class ThrowawayRoot : IAsyncDisposable
    {
        private readonly TempDirectory _dir = new();
        private readonly List<string> _mounts = [];

        private string Merged => System.IO.Path.Combine(_dir.Path, "merged");

        public string Path(string relative) => System.IO.Path.Combine(Merged, relative);

        public static async Task<ThrowawayRoot> MountAsync()
        {
            var root = new ThrowawayRoot();
            try
            {
                await root.MountAllAsync();
            }
            catch
            {
                await root.DisposeAsync();
                throw;
            }
            return root;
        }

        private async Task MountAllAsync()
        {
            var root = this;
            var layers = System.IO.Path.Combine(root._dir.Path, "layers");
            Directory.CreateDirectory(layers);
            Directory.CreateDirectory(root.Merged);
            await root.MountAsync(["-t", "tmpfs", "tmpfs", layers]);
            Directory.CreateDirectory(System.IO.Path.Combine(layers, "upper"));
            Directory.CreateDirectory(System.IO.Path.Combine(layers, "work"));
            await root.MountAsync(["-t", "overlay", "overlay", "-o",
                $"lowerdir=/,upperdir={layers}/upper,workdir={layers}/work", root.Merged]);
            await root.MountAsync(["-t", "proc", "proc", root.Path("proc")]);
            await root.MountAsync(["--bind", "/dev", root.Path("dev")]);
            // The machine's own /tmp and /run may be mounts of their own: the root gets empty ones.
            await root.MountAsync(["-t", "tmpfs", "tmpfs", root.Path("tmp")]);
            await root.MountAsync(["-t", "tmpfs", "tmpfs", root.Path("run")]);
        }

        private async Task MountAsync(string[] args)
        {
            var (exit, output) = await RunAsync("mount", args);
            if (exit != 0) throw new InvalidOperationException($"mount {string.Join(' ', args)}: {output} (the packaging test needs root)");
            _mounts.Add(args[^1]);
        }

        public Task<(int Exit, string Output)> ChrootAsync(params string[] command) => RunAsync("chroot", [Merged, .. command]);

        public async ValueTask DisposeAsync()
        {
            for (var i = _mounts.Count - 1; i >= 0; i--) await RunAsync("umount", [_mounts[i]]);
            _dir.Dispose();
        }
    }
}
