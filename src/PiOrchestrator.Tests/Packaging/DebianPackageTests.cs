using System.Diagnostics;
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
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Install_upgrade_remove_and_purge_keep_data_and_configuration_until_purge()
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
        Assert.Contains("LoadCredential=api-key:/etc/piorchestrator/credentials/api-key",
            await File.ReadAllTextAsync(root.Path("etc/systemd/system/piorchestrator.service.d/credentials.conf")));
        Assert.Equal("root:piorchestrator 640", (await root.ChrootAsync("stat", "-c", "%U:%G %a", "/etc/piorchestrator/appsettings.json")).Output.Trim());
        Assert.Contains("deb-systemd-invoke start piorchestrator.service", await File.ReadAllTextAsync(root.Path("tmp/systemd.log")));

        // An operator's edit, and the evidence the service wrote.
        var config = root.Path("etc/piorchestrator/appsettings.json");
        var edited = (await File.ReadAllTextAsync(config)).Replace("192.168.1.10", "10.7.7.7");
        await File.WriteAllTextAsync(config, edited);
        await File.WriteAllTextAsync(root.Path("var/lib/piorchestrator/evidence.db"), "evidence");
        var apiKey = await File.ReadAllTextAsync(root.Path("etc/piorchestrator/credentials/api-key"));
        File.Delete(root.Path("tmp/systemd.log"));

        var upgrade = await root.ChrootAsync(["dpkg", .. force, "-i", "/tmp/v2.deb"]);
        Assert.True(upgrade.Exit == 0, upgrade.Output);
        Assert.Contains("install ok installed 1.0.1", (await root.ChrootAsync("dpkg-query", "-W", "-f=${Status} ${Version}", "piorchestrator")).Output);
        Assert.Equal(edited, await File.ReadAllTextAsync(config));
        Assert.Equal("evidence", await File.ReadAllTextAsync(root.Path("var/lib/piorchestrator/evidence.db")));
        Assert.Equal(apiKey, await File.ReadAllTextAsync(root.Path("etc/piorchestrator/credentials/api-key")));
        var upgradeLog = await File.ReadAllTextAsync(root.Path("tmp/systemd.log"));
        Assert.Contains("deb-systemd-invoke restart piorchestrator.service", upgradeLog);
        Assert.DoesNotContain("stop", upgradeLog);
        File.Delete(root.Path("tmp/systemd.log"));

        var remove = await root.ChrootAsync("dpkg", "-r", "piorchestrator");
        Assert.True(remove.Exit == 0, remove.Output);
        Assert.Contains("deb-systemd-invoke stop piorchestrator.service", await File.ReadAllTextAsync(root.Path("tmp/systemd.log")));
        Assert.False(Directory.Exists(root.Path("usr/lib/piorchestrator")));
        Assert.Equal("evidence", await File.ReadAllTextAsync(root.Path("var/lib/piorchestrator/evidence.db")));
        Assert.Equal(edited, await File.ReadAllTextAsync(config));

        var purge = await root.ChrootAsync("dpkg", "-P", "piorchestrator");
        Assert.True(purge.Exit == 0, purge.Output);
        Assert.False(Directory.Exists(root.Path("var/lib/piorchestrator")));
        Assert.False(Directory.Exists(root.Path("etc/piorchestrator")));
        Assert.False(Directory.Exists(root.Path("etc/systemd/system/piorchestrator.service.d")));
        Assert.False(File.Exists(root.Path("etc/systemd/system/multi-user.target.wants/piorchestrator.service")));
        Assert.Null(new FileInfo(root.Path("etc/systemd/system/piorchestrator.service")).LinkTarget);
        // Purged: dpkg has forgotten the package.
        Assert.Contains("no packages found matching piorchestrator", (await root.ChrootAsync("dpkg-query", "-W", "piorchestrator")).Output);
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
