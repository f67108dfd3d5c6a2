using System.Diagnostics;
using System.Globalization;

namespace PiOrchestrator.Bench;

/// <summary>
/// When each HTTP request to a port went out on the loopback wire, from tcpdump's kernel capture stamps (wall clock,
/// nanoseconds): the moment a sender wrote it, whatever the receiving process's scheduler does after. Null when
/// tcpdump is missing or may not capture (scripts/proof.sh installs it; capturing needs root or CAP_NET_RAW).
/// </summary>
internal sealed class WireTimes : IAsyncDisposable
{
    private readonly Process _tcpdump;
    private readonly List<long> _sent = [];
    private readonly Task _reading;

    private WireTimes(Process tcpdump)
    {
        _tcpdump = tcpdump;
        _reading = Task.Run(async () =>
        {
            while (await tcpdump.StandardOutput.ReadLineAsync() is { } line)
                if (ParseStamp(line) is { } stamp) lock (_sent) _sent.Add(stamp);
        });
    }

    public static async Task<WireTimes?> StartAsync(int port)
    {
        if (!File.Exists("/usr/bin/tcpdump") && !File.Exists("/usr/sbin/tcpdump")) return null;
        // Only segments carrying data (PSH) towards the port: a request, not the handshake or the ACKs.
        var tcpdump = Process.Start(new ProcessStartInfo("tcpdump",
            ["-i", "lo", "-n", "-l", "-tt", "--time-stamp-precision=nano", $"tcp dst port {port} and (tcp[tcpflags] & tcp-push != 0)"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (await tcpdump.StandardError.ReadLineAsync(timeout.Token) is { } line)
                if (line.StartsWith("listening on", StringComparison.Ordinal))
                {
                    _ = tcpdump.StandardError.ReadToEndAsync();
                    return new WireTimes(tcpdump);
                }
        }
        catch (OperationCanceledException) { }
        if (!tcpdump.HasExited) tcpdump.Kill();
        return null;
    }

    /// <summary>The wall clock as tcpdump stamps it: nanoseconds since 1970.</summary>
    public static long Now() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    /// <summary>For each moment, the milliseconds to the first request on the wire after it (NaN if none came).</summary>
    public async Task<List<double>> FirstAfterAsync(IReadOnlyList<long> moments)
    {
        // tcpdump prints with a small delay: wait until the last moment has its packet, or give up after 5 s.
        var last = moments.Count > 0 ? moments[^1] : 0;
        for (var i = 0; i < 100 && !Has(after: last); i++) await Task.Delay(50);
        long[] sent;
        lock (_sent) sent = [.. _sent.Order()];
        return moments.Select(m =>
        {
            var i = Array.BinarySearch(sent, m);
            if (i < 0) i = ~i;
            return i < sent.Length ? (sent[i] - m) / 1e6 : double.NaN;
        }).ToList();
    }

    private bool Has(long after)
    {
        lock (_sent) return _sent.Count > 0 && _sent[^1] >= after;
    }

    private static long? ParseStamp(string line)
    {
        // "1796002518.521750001 IP 127.0.0.1.36174 > 127.0.0.1.8080: Flags [P.], …"
        var space = line.IndexOf(' ');
        var dot = line.IndexOf('.');
        if (space < 0 || dot < 0 || dot > space) return null;
        return long.TryParse(line.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
               && long.TryParse(line.AsSpan(dot + 1, space - dot - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var nanos)
            ? seconds * 1_000_000_000 + nanos
            : null;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_tcpdump.HasExited) _tcpdump.Kill();
        await _tcpdump.WaitForExitAsync();
        await _reading;
        _tcpdump.Dispose();
    }
}
