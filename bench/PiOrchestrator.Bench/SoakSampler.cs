using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace PiOrchestrator.Bench;

/// <summary>One sample of the agent process during the soak.</summary>
/// <remarks>The GC heap and the image cache (bounded by Storage:MemoryCacheMegabytes) say what the RSS is made of.</remarks>
internal sealed record Sample(int Events, double Seconds, double RssMegabytes, double DbMegabytes, double WalMegabytes, int Fds, int Threads,
    long UploadBacklog, double GcHeapMegabytes, double CacheMegabytes)
{
    public const string CsvHeader = "events,seconds,rss_mb,db_mb,wal_mb,fds,threads,upload_backlog,gc_heap_mb,cache_mb";

    public string ToCsv() => string.Create(CultureInfo.InvariantCulture,
        $"{Events},{Seconds:F1},{RssMegabytes:F2},{DbMegabytes:F3},{WalMegabytes:F3},{Fds},{Threads},{UploadBacklog},{GcHeapMegabytes:F2},{CacheMegabytes:F2}");
}

/// <summary>Reads the agent from /proc, its data directory and its API.</summary>
internal sealed class Sampler(int pid, string dataDirectory, HttpClient http)
{
    private long _backlog;

    /// <summary>Captures waiting for S3, as the agent's status last said.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    public async Task WatchBacklogAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                Interlocked.Exchange(ref _backlog, await QueueDepthAsync());
                await Task.Delay(200, ct);
            }
            catch (OperationCanceledException) { return; }
            catch (HttpRequestException) { }
        }
    }

    private async Task<long> QueueDepthAsync()
    {
        var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
        return status.GetProperty("data").GetProperty("upload").GetProperty("queue_depth").GetInt64();
    }

    public async Task<Sample> TakeAsync(int events, TimeSpan elapsed)
    {
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
                threads = int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
        var status = (await http.GetFromJsonAsync<JsonElement>("/api/v1/status")).GetProperty("data");
        var metrics = await http.GetStringAsync("/metrics");
        return new Sample(events, elapsed.TotalSeconds, BenchTools.RssMegabytes(pid), Megabytes("evidence.db"), Megabytes("evidence.db-wal"),
            Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length, threads, status.GetProperty("upload").GetProperty("queue_depth").GetInt64(),
            Sum(metrics, "piorchestrator_gc_heap_size", "") / 1048576.0, status.GetProperty("cache").GetProperty("bytes").GetInt64() / 1048576.0);
    }

    private double Megabytes(string file)
    {
        var info = new FileInfo(Path.Combine(dataDirectory, file));
        return info.Exists ? info.Length / 1048576.0 : 0;
    }

    /// <summary>
    /// After the last door cycle: waits until every capture is in S3 and the first session has been aged out (so
    /// even a small run proves retention ran), then reads what the agent counted.
    /// </summary>
    public async Task<SoakEnd> SettleAsync(Process agent, string s3Directory, string firstSession)
    {
        var deadline = Stopwatch.StartNew();
        long depth;
        bool firstGone;
        do
        {
            depth = await QueueDepthAsync();
            using var response = await http.GetAsync($"/api/v1/sessions/{firstSession}");
            firstGone = Soak.IsNotFound(response);
            if (depth == 0 && firstGone) break;
            await Task.Delay(500);
        } while (deadline.Elapsed < TimeSpan.FromMinutes(3) && !agent.HasExited);

        var metrics = await http.GetStringAsync("/metrics");
        var unfinished = await http.GetFromJsonAsync<JsonElement>("/api/v1/sessions?status=in_progress&limit=1");
        return new SoakEnd(
            depth, firstGone,
            unfinished.GetProperty("data").GetProperty("sessions").GetArrayLength(),
            Sum(metrics, "piorchestrator_captures_total", "status=\"captured\""),
            Sum(metrics, "piorchestrator_captures_total", "status=\"failed\""),
            Sum(metrics, "piorchestrator_uploads_total", "result=\"uploaded\""),
            Sum(metrics, "piorchestrator_uploads_total", "result=\"failed\""),
            Soak.CountObjects(s3Directory));
    }

    /// <summary>The sum of a Prometheus metric's series (its name up to the unit suffix) carrying the given label.</summary>
    private static long Sum(string metrics, string name, string label) => (long)metrics.Split('\n')
        .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Contains(label, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[((l.LastIndexOf('}') is var brace and >= 0 ? brace : l.IndexOf(' ')) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
}

/// <summary>What the agent says once the soak's traffic has stopped and its uploads caught up.</summary>
internal sealed record SoakEnd(long UploadBacklog, bool FirstSessionAgedOut, int UnfinishedSessions, long Captured, long CapturesFailed,
    long Uploaded, long UploadsFailed, int ObjectsInBucket)
{
    public string Describe() =>
        $"end: captures {Captured} captured, {CapturesFailed} failed; uploads {Uploaded} done, {UploadsFailed} failed, backlog {UploadBacklog}; " +
        $"unfinished sessions {UnfinishedSessions}; first session aged out: {(FirstSessionAgedOut ? "yes" : "no")}; " +
        $"objects left in the bucket: {ObjectsInBucket} of {Uploaded} uploaded (S3 retention deleted the rest)";

    public IEnumerable<string> Problems(int events)
    {
        if (Captured != events) yield return $"{Captured} captures stored for {events} door events";
        if (CapturesFailed > 0) yield return $"{CapturesFailed} captures failed";
        if (Uploaded < events) yield return $"{Uploaded} uploads for {events} captures";
        if (UploadsFailed > 0) yield return $"{UploadsFailed} uploads failed";
        if (UploadBacklog > 0) yield return $"{UploadBacklog} captures still waiting for S3";
        if (UnfinishedSessions > 0) yield return "a session is still in progress";
        if (!FirstSessionAgedOut) yield return "metadata retention did not delete the first session";
        if (ObjectsInBucket >= Uploaded) yield return "S3 retention deleted no object";
    }
}

/// <summary>
/// Growth per 10,000 events after warm-up, as % of the metric's mean: the Theil–Sen slope (the median of the slopes
/// between every two samples) against events. A bounded metric that breathes (the thread pool adding and retiring
/// threads in a burst, the GC heap's sawtooth) has a median slope near zero, while steady growth moves every pair; the
/// least-squares slope, which a burst near either end can tip, is printed beside it.
/// </summary>
internal static class SoakReport
{
    public static bool Print(List<Sample> samples, double warmUpFraction, double limitPercent)
    {
        var total = samples[^1].Events;
        var steady = samples.Where(s => s.Events >= total * warmUpFraction).ToList();
        Console.WriteLine($"after warm-up ({warmUpFraction:P0} of events, {steady.Count} samples); growth per 10,000 events as % of the mean, limit {limitPercent} %:");
        Console.WriteLine("| metric | start | after warm-up | end | min–max after warm-up | growth (Theil–Sen) | growth (least squares) | verdict |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        var flat = true;
        foreach (var (name, unit, value, judged) in Metrics)
        {
            var xs = steady.Select(s => (double)s.Events).ToArray();
            var ys = steady.Select(value).ToArray();
            var robust = Percent(TheilSenSlope(xs, ys), ys);
            var leastSquares = Percent(LeastSquaresSlope(xs, ys), ys);
            var ok = steady.Count >= 3 && robust < limitPercent;
            if (judged) flat &= ok;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {value(samples[0]):0.##} {unit} | {value(steady[0]):0.##} {unit} | {value(samples[^1]):0.##} {unit} | {ys.Min():0.##}–{ys.Max():0.##} {unit} | {robust:+0.00;-0.00} % | {leastSquares:+0.00;-0.00} % | {(!judged ? "(for reading)" : ok ? "PASS" : "FAIL")} |"));
        }
        return flat;
    }

    private static readonly (string Name, string Unit, Func<Sample, double> Value, bool Judged)[] Metrics =
    [
        ("RSS", "MB", s => s.RssMegabytes, true),
        ("database", "MB", s => s.DbMegabytes, true),
        ("WAL", "MB", s => s.WalMegabytes, true),
        ("open fds", "", s => s.Fds, true),
        ("threads", "", s => s.Threads, true),
        ("GC heap", "MB", s => s.GcHeapMegabytes, false),
        ("image cache", "MB", s => s.CacheMegabytes, false),
    ];

    private static double Percent(double slope, double[] ys)
    {
        var mean = ys.Average();
        return mean == 0 ? 0 : slope * 10_000 / mean * 100;
    }

    public static double TheilSenSlope(double[] xs, double[] ys)
    {
        var slopes = new List<double>(xs.Length * (xs.Length - 1) / 2);
        for (var i = 0; i < xs.Length; i++)
            for (var j = i + 1; j < xs.Length; j++)
                if (xs[j] != xs[i]) slopes.Add((ys[j] - ys[i]) / (xs[j] - xs[i]));
        if (slopes.Count == 0) return 0;
        slopes.Sort();
        var mid = slopes.Count / 2;
        return slopes.Count % 2 == 1 ? slopes[mid] : (slopes[mid - 1] + slopes[mid]) / 2;
    }

    public static double LeastSquaresSlope(double[] xs, double[] ys)
    {
        if (xs.Length < 2) return 0;
        var mx = xs.Average();
        var my = ys.Average();
        var sxx = xs.Sum(x => (x - mx) * (x - mx));
        return sxx == 0 ? 0 : xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my)) / sxx;
    }
}
