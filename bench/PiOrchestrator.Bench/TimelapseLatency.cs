using System.Diagnostics;
using System.Globalization;
using PiOrchestrator.Tests.Fixtures;
using static PiOrchestrator.Bench.TimelapseTools;

namespace PiOrchestrator.Bench;

/// <summary>
/// Door → BEFORE_OPEN stored (and closed → AFTER_CLOSE stored) with and without a timelapse running, measured as the
/// capture-latency benchmark does (publish <c>opened</c>, wait for the stored BEFORE_OPEN's message), one agent, three
/// containers, each with its own test ESP32-CAM, in alternating rounds of the same run:
/// <list type="bullet">
/// <item><c>none</c>: door cycles on ctr-bench (no frames), nothing else open;</item>
/// <item><c>other open</c>: the same cycles while ctr-tl's door stays open taking frames at the interval;</item>
/// <item><c>same container</c>: door cycles on ctr-self, which takes frames itself while its door is open, so a frame
/// grab is under way when <c>closed</c> comes and the previous session's frames ran just before each <c>opened</c>.</item>
/// </list>
/// Every cycle holds the door open for the same time.
/// </summary>
internal static class TimelapseLatency
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cycles = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        var size = args.Length > 2 ? Enum.Parse<FrameSize>(args[2]) : FrameSize.UXGA;
        var interval = args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 0.25;
        var hold = TimeSpan.FromSeconds(args.Length > 4 ? double.Parse(args[4], CultureInfo.InvariantCulture) : 2.0);
        Console.WriteLine($"door → BEFORE_OPEN / closed → AFTER_CLOSE with a timelapse, {rounds} rounds x {cycles} cycles per condition, {size}, frames every {Invariant(interval)} s, door held {hold.TotalSeconds} s, agent {BenchTools.AgentBuild}, load {LoadAverage()}");

        var work = Directory.CreateTempSubdirectory("piorch-timelapse-latency-");
        var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
        string[] containers = ["ctr-bench", "ctr-tl", "ctr-self"];
        double[] intervals = [0, interval, interval];
        var cameras = new List<FakeCamera>();
        var port = BenchTools.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
            // The other door stays open for a whole condition: no thinning past the cap while it is measured.
            ["PIORCH_Capture__DuringOpenMaxFrames"] = "100000",
        };
        cameras.AddRange(await TimelapseTools.StartCamerasAsync(containers, intervals, size, "espcam-", settings));
        var agent = BenchTools.StartAgent(work.FullName, port, brokerPort, cameras[0].Url, settings);
        try
        {
            await CaptureLatency.WaitForAgentAsync(agent, port);
            await using var feed = await EvidenceFeed.StartAsync(brokerPort, containers);
            using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-pub-" + Environment.ProcessId);

            for (var i = 0; i < 3; i++)
            {
                await CycleAsync(publisher, feed, "ctr-bench", hold);
                await CycleAsync(publisher, feed, "ctr-self", hold);
            }
            await CycleAsync(publisher, feed, "ctr-tl", hold);

            string[] conditions = ["none", "other open", "same container"];
            var before = conditions.ToDictionary(c => c, _ => new List<double>());
            var after = conditions.ToDictionary(c => c, _ => new List<double>());
            var perRound = conditions.ToDictionary(c => c, _ => new List<double>());
            var otherFrames = 0;
            var otherSeconds = 0.0;
            var selfFrames = 0;
            for (var r = 0; r < rounds; r++)
            {
                foreach (var condition in conditions)
                {
                    var container = condition == "same container" ? "ctr-self" : "ctr-bench";
                    var started = Stopwatch.GetTimestamp();
                    if (condition == "other open")
                    {
                        await BenchTools.PublishAsync(publisher, "containers/ctr-tl/door", "opened");
                        await feed.NextAsync("ctr-tl", "BEFORE_OPEN");
                        await feed.NextAsync("ctr-tl", "DURING_OPEN");
                        otherFrames++;
                        started = Stopwatch.GetTimestamp();
                    }
                    var round = new List<double>();
                    for (var i = 0; i < cycles; i++)
                    {
                        var (b, a, frames) = await CycleAsync(publisher, feed, container, hold);
                        before[condition].Add(b);
                        after[condition].Add(a);
                        round.Add(b);
                        selfFrames += condition == "same container" ? frames : 0;
                    }
                    perRound[condition].Add(P(round, 99));
                    if (condition == "other open")
                    {
                        otherSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                        await BenchTools.PublishAsync(publisher, "containers/ctr-tl/door", "closed");
                        var skipped = new List<Stored>();
                        await feed.NextAsync("ctr-tl", "AFTER_CLOSE", skipped);
                        otherFrames += skipped.Count(m => m.Tag == "DURING_OPEN" && m.Status == "captured");
                    }
                }
            }

            Console.WriteLine("| condition | door → BEFORE_OPEN p50 / p99 | ratio to none p50 / p99 | p99 by round | closed → AFTER_CLOSE p50 / p99 | ratio to none p50 / p99 |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var c in conditions)
            {
                var (b50, b99, a50, a99) = (P(before[c], 50), P(before[c], 99), P(after[c], 50), P(after[c], 99));
                var (n50, n99, m50, m99) = (P(before["none"], 50), P(before["none"], 99), P(after["none"], 50), P(after["none"], 99));
                Console.WriteLine($"| {c} | {b50:F0} / {b99:F0} ms | {b50 / n50:F2} / {b99 / n99:F2} | {string.Join(" ", perRound[c].Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))} | " +
                    $"{a50:F0} / {a99:F0} ms | {a50 / m50:F2} / {a99 / m99:F2} |");
            }
            Console.WriteLine($"ctr-tl frames while its door was open: {otherFrames} in {otherSeconds:F0} s ({otherFrames / otherSeconds:F2}/s); ctr-self frames stored in its cycles: {selfFrames} ({(double)selfFrames / (rounds * cycles):F1} a cycle)");
            using var http = new HttpClient();
            foreach (var line in (await http.GetStringAsync($"http://127.0.0.1:{port}/metrics")).Split('\n').Where(l => l.StartsWith("piorchestrator_frames_total", StringComparison.Ordinal)))
                Console.WriteLine("  " + line);
            Console.WriteLine($"load after: {LoadAverage()}");
            return 0;
        }
        finally
        {
            if (!agent.HasExited) agent.Kill();
            foreach (var camera in cameras) await camera.DisposeAsync();
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    /// <summary>One door cycle: ms from <c>opened</c> to the stored BEFORE_OPEN, ms from <c>closed</c> to the stored AFTER_CLOSE, frames stored between.</summary>
    private static async Task<(double Before, double After, int Frames)> CycleAsync(MQTTnet.IMqttClient publisher, EvidenceFeed feed, string container, TimeSpan hold)
    {
        var opened = Stopwatch.GetTimestamp();
        await BenchTools.PublishAsync(publisher, $"containers/{container}/door", "opened");
        var before = await feed.NextAsync(container, "BEFORE_OPEN");
        var heldUntil = opened + (long)(hold.TotalSeconds * Stopwatch.Frequency);
        var wait = heldUntil - Stopwatch.GetTimestamp();
        if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
        var closed = Stopwatch.GetTimestamp();
        await BenchTools.PublishAsync(publisher, $"containers/{container}/door", "closed");
        var between = new List<Stored>();
        var after = await feed.NextAsync(container, "AFTER_CLOSE", between);
        if (before.Status != "captured" || after.Status != "captured")
            throw new InvalidOperationException($"{container}: BEFORE_OPEN {before.Status}, AFTER_CLOSE {after.Status}");
        return (Stopwatch.GetElapsedTime(opened, before.At).TotalMilliseconds, Stopwatch.GetElapsedTime(closed, after.At).TotalMilliseconds,
            between.Count(m => m.Tag == "DURING_OPEN" && m.Status == "captured"));
    }

    private static double P(List<double> values, double p) => BenchTools.Percentile(values.Order().ToList(), p);
}
