using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

/// <summary>
/// One arm64 Debian 13 VM under qemu-system-aarch64 (test-tools/vm/start-vm.sh), on a qcow2 overlay of the cached
/// image, driven through a 9p share: the guest's runner runs each script put in cmd/ as root and writes its output
/// and exit status back; each boot leaves its boot id in boots/. The share also holds boot.sh (the gpio-sim chip,
/// before the agent starts) and whatever the test puts there (the apt repository).
/// </summary>
public sealed class TrixieVm : IAsyncDisposable
{
    /// <summary>Boot to the runner under TCG: 30–70 s idle, several times that on a loaded machine.</summary>
    public static readonly TimeSpan BootDeadline = TimeSpan.FromMinutes(6);

    private readonly string _image;
    private readonly string _disk;
    private readonly int[] _hostPorts;
    private readonly HashSet<string> _bootsSeen = [];
    private Process? _qemu;
    private int _commands;

    private TrixieVm(string image, string directory, int[] hostPorts)
    {
        _image = image;
        Directory = directory;
        _disk = Path.Combine(directory, "disk.qcow2");
        _hostPorts = hostPorts;
        Share = Path.Combine(directory, "share");
        System.IO.Directory.CreateDirectory(Path.Combine(Share, "cmd"));
        foreach (var script in new[] { "boot.sh", "runner.sh" })
            File.Copy(Path.Combine(RepoPaths.TestTools, "vm", "share", script), Path.Combine(Share, script));
    }

    /// <summary>Where the guest reaches the host's forwarded ports (start-vm.sh's guestfwd address).</summary>
    public const string HostAddress = "10.0.2.100";

    public string Directory { get; }

    /// <summary>The host directory the guest sees as /mnt/host.</summary>
    public string Share { get; }

    /// <summary>The host's 127.0.0.1 port forwarded to the guest's 8082 (the agent's API).</summary>
    public int ApiPort { get; } = TestPorts.Free();

    public string ApiUrl => $"http://127.0.0.1:{ApiPort}";

    private string ConsoleLog => Path.Combine(Directory, "console.log");

    /// <summary>
    /// A VM on a fresh overlay of <paramref name="image"/>'s rootfs.img, in <paramref name="directory"/>; each of
    /// <paramref name="hostPorts"/> (on the host's loopback) is reached from the guest at 10.0.2.100. Not started yet:
    /// put what the first boot needs in <see cref="Share"/>, then <see cref="BootAsync"/>.
    /// </summary>
    public static async Task<TrixieVm> CreateAsync(string image, string directory, params int[] hostPorts)
    {
        var vm = new TrixieVm(image, directory, hostPorts);
        var (exit, output) = await Shell.RunAsync("qemu-img",
            ["create", "-q", "-f", "qcow2", "-b", Path.Combine(image, "rootfs.img"), "-F", "raw", vm._disk], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, output);
        return vm;
    }

    /// <summary>Starts qemu and waits for a boot it has not seen before to reach the runner.</summary>
    public async Task BootAsync()
    {
        Assert.Null(_qemu);
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(RepoPaths.TestTools, "vm", "start-vm.sh"), _image, _disk, Share, ApiPort.ToString(), ConsoleLog })
            start.ArgumentList.Add(arg);
        foreach (var port in _hostPorts) start.ArgumentList.Add(port.ToString());
        _qemu = Process.Start(start) ?? throw new InvalidOperationException("qemu did not start");
        _qemu.OutputDataReceived += (_, _) => { };
        _qemu.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (_qemuErrors) _qemuErrors.Add(line); };
        _qemu.BeginOutputReadLine();
        _qemu.BeginErrorReadLine();
        await WaitForNewBootAsync();
    }

    private readonly List<string> _qemuErrors = [];

    /// <summary>The guest reboots itself (systemctl reboot); waits for the next boot to reach the runner.</summary>
    public async Task RebootAsync()
    {
        await StartCommandAsync("systemctl reboot");
        await WaitForNewBootAsync();
    }

    /// <summary>A power cut: qemu is killed, whatever the guest had not written to its disk is gone.</summary>
    public async Task PowerCutAsync()
    {
        var qemu = _qemu ?? throw new InvalidOperationException("not running");
        qemu.Kill(entireProcessTree: true);
        await qemu.WaitForExitAsync();
        qemu.Dispose();
        _qemu = null;
    }

    private async Task WaitForNewBootAsync()
    {
        var boots = Path.Combine(Share, "boots");
        var boot = await Eventually.UntilAsync(() =>
        {
            if (_qemu is { HasExited: true }) throw new VmFailedException($"qemu exited ({_qemu.ExitCode}) before the guest booted", this);
            var fresh = System.IO.Directory.Exists(boots)
                ? System.IO.Directory.GetFiles(boots).Select(Path.GetFileName).FirstOrDefault(b => !b!.EndsWith(".tmp", StringComparison.Ordinal) && !_bootsSeen.Contains(b))
                : null;
            return Task.FromResult(fresh);
        }, BootDeadline, "the VM to boot to its command runner" + ConsoleTail());
        _bootsSeen.Add(boot!);
    }

    /// <summary>
    /// Runs <paramref name="script"/> (bash, as root) in the guest and returns its exit status and output; a guest
    /// that stops answering (or qemu ending) fails with the console's tail.
    /// </summary>
    public async Task<(int Exit, string Output)> RunAsync(string script, TimeSpan deadline)
    {
        var name = await StartCommandAsync(script);
        var rc = Path.Combine(Share, "cmd", name + ".rc");
        await Eventually.UntilAsync(() =>
        {
            if (_qemu is null or { HasExited: true }) throw new VmFailedException($"qemu is not running (waiting for: {FirstLine(script)})", this);
            return Task.FromResult(File.Exists(rc));
        }, deadline, $"the guest to run `{FirstLine(script)}`");
        var output = await File.ReadAllTextAsync(Path.Combine(Share, "cmd", name + ".out"));
        return (int.Parse((await File.ReadAllTextAsync(rc)).Trim()), output);
    }

    /// <summary>Runs <paramref name="script"/> and returns its output; a non-zero exit fails with the output and the journal's tail.</summary>
    public async Task<string> RunOkAsync(string script, TimeSpan? deadline = null)
    {
        var (exit, output) = await RunAsync(script, deadline ?? TimeSpan.FromMinutes(3));
        if (exit != 0) throw new VmFailedException($"`{FirstLine(script)}` exited {exit}:\n{output}", this, await JournalTailAsync());
        return output;
    }

    /// <summary>Puts a script in the share for the runner (written whole, then renamed to .sh); returns its name.</summary>
    private async Task<string> StartCommandAsync(string script)
    {
        var name = Interlocked.Increment(ref _commands).ToString("D4");
        var path = Path.Combine(Share, "cmd", name + ".sh");
        await File.WriteAllTextAsync(path + ".new", "set -o pipefail\n" + script + "\n");
        File.Move(path + ".new", path);
        return name;
    }

    /// <summary>The guest's journal since boot (last lines), or the console's tail when the guest cannot answer.</summary>
    public async Task<string> JournalTailAsync(int lines = 80)
    {
        if (_qemu is null or { HasExited: true }) return ConsoleTail();
        try
        {
            // With the door line as the kernel and the simulator see it, when there is one.
            var (_, output) = await RunAsync($"journalctl -b --no-pager -q -o short-precise -n {lines}; " +
                "[ -f /run/gpio-sim ] && gpioinfo -c gpiochip0 17 && echo \"sim: $(cat \"$(cat /run/gpio-sim)/sim_gpio17/pull\") $(cat \"$(cat /run/gpio-sim)/sim_gpio17/value\")\"",
                TimeSpan.FromSeconds(60));
            return "\n--- guest journal (last lines) ---\n" + output;
        }
        catch (Exception ex) when (ex is TimeoutException or VmFailedException or IOException)
        {
            return ConsoleTail();
        }
    }

    public string ConsoleTail()
    {
        string text;
        try { text = File.Exists(ConsoleLog) ? File.ReadAllText(ConsoleLog) : "(no console output)"; }
        catch (IOException ex) { text = ex.Message; }
        string errors;
        lock (_qemuErrors) errors = string.Join('\n', _qemuErrors.TakeLast(20));
        return "\n--- VM console (last lines) ---\n" + string.Join('\n', text.Split('\n').TakeLast(40)) + (errors.Length > 0 ? "\n--- qemu ---\n" + errors : "");
    }

    private static string FirstLine(string script) => script.Trim().Split('\n')[0];

    public async ValueTask DisposeAsync()
    {
        if (_qemu is not null) await PowerCutAsync();
    }
}

/// <summary>A step in the guest that failed, with what the guest said (its journal or console).</summary>
public sealed class VmFailedException(string message, TrixieVm vm, string? guestTail = null)
    : Exception(message + (guestTail ?? vm.ConsoleTail()));
