using System.Globalization;
using System.Runtime.InteropServices;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// The wall clock of an agent process, shifted by the test and only for that process: libfaketime (Debian's
/// libfaketime package) preloaded into it reads the offset from a file at every call, so the test steps the clock
/// while the agent runs, as NTP steps a Pi's. CLOCK_MONOTONIC and file times are left alone, as a real step leaves them.
/// Two of libfaketime 0.9.10's defaults are wrong for a multithreaded runtime, each shown by
/// <c>FakeWallClockTests</c> with a small C probe:
/// <list type="bullet">
/// <item>libfaketime.so.1 re-reads the offset file into shared buffers on every call with no lock, so while the file
/// changes a thread can read a torn or foreign time (tens in a few hundred thousand reads). In the .NET runtime one such
/// read made a timed wait fail (COMException 0x8007054F, exit 134) right after a step. libfaketimeMT.so.1 is the same
/// library with each faked read under a mutex.</item>
/// <item>On glibc ≥ 2.30 it applies a "forced monotonic fix" to <c>pthread_cond_timedwait</c> on CLOCK_MONOTONIC
/// condition variables that, with the monotonic clock not faked, turns every deadline into one long past: every
/// timed wait returns at once and an idle agent spun at 94 % of a core (9.4 s of CPU in 10 s; 0.02 s without the
/// preload). FAKETIME_FORCE_MONOTONIC_FIX=0 turns it off and the waits wait.</item>
/// </list>
/// </summary>
public sealed class FakeWallClock : IDisposable
{
    private readonly TempDirectory _directory = new();

    public FakeWallClock(TimeSpan offset) => Set(offset);

    public TimeSpan Offset { get; private set; }

    private string OffsetFile => System.IO.Path.Combine(_directory.Path, "faketime.rc");

    /// <summary>Debian's path for this machine's architecture (the Pi's is aarch64-linux-gnu).</summary>
    public static string Library
    {
        get
        {
            var triplet = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "x86_64-linux-gnu",
                Architecture.Arm64 => "aarch64-linux-gnu",
                var other => throw new PlatformNotSupportedException($"no libfaketime path known for {other}"),
            };
            var path = $"/usr/lib/{triplet}/faketime/libfaketimeMT.so.1";
            return File.Exists(path) ? path : throw new FileNotFoundException("install Debian's libfaketime (scripts/test.sh does)", path);
        }
    }

    /// <summary>What the agent's environment needs for its clock to follow <see cref="Set"/>.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["LD_PRELOAD"] = Library,
        // The offset comes from this file, read again at every call (no 10 s cache), so a step takes effect at once.
        ["FAKETIME_TIMESTAMP_FILE"] = OffsetFile,
        ["FAKETIME_NO_CACHE"] = "1",
        // Only the wall clock steps: the monotonic clock (timers, Stopwatch, condition waits) runs on undisturbed.
        ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
        // ... and so must the deadlines of waits on it (see above).
        ["FAKETIME_FORCE_MONOTONIC_FIX"] = "0",
        ["NO_FAKE_STAT"] = "1",
    };

    /// <summary>Steps the process's wall clock to real time + <paramref name="offset"/>, at once.</summary>
    public void Set(TimeSpan offset)
    {
        // Written aside and renamed over: a read in between must never see a half-written (or empty, so zero) offset.
        var seconds = (long)offset.TotalSeconds;
        var next = OffsetFile + ".next";
        File.WriteAllText(next, (seconds >= 0 ? "+" : "") + seconds.ToString(CultureInfo.InvariantCulture) + "\n");
        File.Move(next, OffsetFile, overwrite: true);
        Offset = offset;
    }

    /// <summary>
    /// The semaphore and shared memory libfaketime makes for a process under its pid: gone when the process exits
    /// normally, left in /dev/shm when it is killed.
    /// </summary>
    public static void ForgetProcess(int pid)
    {
        foreach (var name in new[] { $"faketime_shm_{pid}", $"sem.faketime_sem_{pid}" })
            File.Delete(System.IO.Path.Combine("/dev/shm", name));
    }

    public void Dispose() => _directory.Dispose();
}
