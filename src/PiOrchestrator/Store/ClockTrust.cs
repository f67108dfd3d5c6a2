using Microsoft.Extensions.Options;

namespace PiOrchestrator.Store;

/// <summary>Whether the system clock is synchronised, and how that was learnt ("adjtimex", "timesyncd", or why not).</summary>
public readonly record struct ClockReading(bool Synchronized, string Source);

/// <summary>The system clock's synchronisation state: the kernel's in the agent, either state in tests.</summary>
public interface IClockSynchronization
{
    ClockReading Read();
}

/// <summary>
/// A Pi has no real-time clock: until an NTP client synchronises it, its time may be hours or years off. The kernel
/// keeps STA_UNSYNC set until then; adjtimex reads it. The unit's seccomp filter (ProtectClock, ~@clock) refuses
/// adjtimex with EPERM, so the agent then falls back to the flag systemd-timesyncd leaves once it has synchronised.
/// </summary>
public sealed class KernelClock : IClockSynchronization
{
    public const string TimesyncdFlag = "/run/systemd/timesync/synchronized";
    private const int EPERM = 1;

    private readonly string _timesyncFlag;
    private readonly Func<(bool Ok, int Status, int Errno)> _adjtimex;

    public KernelClock() : this(TimesyncdFlag, ReadAdjTimex)
    {
    }

    /// <summary>With another adjtimex: tests reach the sandboxed path (EPERM) this way, which no test process can otherwise.</summary>
    internal KernelClock(string timesyncFlag, Func<(bool Ok, int Status, int Errno)> adjtimex)
    {
        _timesyncFlag = timesyncFlag;
        _adjtimex = adjtimex;
    }

    private static unsafe (bool Ok, int Status, int Errno) ReadAdjTimex()
    {
        var timex = stackalloc byte[Native.LibC.TimexBufferSize];
        new Span<byte>(timex, Native.LibC.TimexBufferSize).Clear();
        if (Native.LibC.AdjTimex(timex) >= 0) return (true, *(int*)(timex + Native.LibC.TimexStatusOffset), 0);
        return (false, 0, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
    }

    public ClockReading Read()
    {
        var (ok, status, errno) = _adjtimex();
        if (ok) return new ClockReading((status & Native.LibC.STA_UNSYNC) == 0, "adjtimex");
        if (errno == EPERM && File.Exists(_timesyncFlag)) return new ClockReading(true, "timesyncd");
        return new ClockReading(false, errno == EPERM ? "adjtimex refused by the sandbox; timesyncd has not synchronised" : $"adjtimex failed (errno {errno})");
    }
}

/// <summary>The clock's state for each capture, with one warning per boot while it is not synchronised.</summary>
public sealed class ClockTrust(IClockSynchronization clock, IOptions<StorageOptions> storage, ILogger<ClockTrust> log)
{
    private const string BootIdFile = "/proc/sys/kernel/random/boot_id";
    private int _warned;

    public ClockReading Read()
    {
        var reading = clock.Read();
        if (!reading.Synchronized && Interlocked.Exchange(ref _warned, 1) == 0 && FirstWarningThisBoot())
            log.LogWarning("System clock is not synchronised ({Source}): captures are marked clock_synchronized=false until NTP has set it", reading.Source);
        return reading;
    }

    /// <summary>The agent may restart many times in one boot; a marker holding the boot id keeps the warning to one.</summary>
    private bool FirstWarningThisBoot()
    {
        try
        {
            var bootId = File.Exists(BootIdFile) ? File.ReadAllText(BootIdFile).Trim() : "";
            var marker = Path.Combine(storage.Value.ResolveDataDirectory(), "clock-unsync-warned");
            if (bootId.Length > 0 && File.Exists(marker) && File.ReadAllText(marker).Trim() == bootId) return false;
            Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
            File.WriteAllText(marker, bootId);
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }
}
