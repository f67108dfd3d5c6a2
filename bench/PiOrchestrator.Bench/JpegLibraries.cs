using System.Diagnostics;
using System.Reflection;
using PiOrchestrator.Jpeg;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace PiOrchestrator.Bench;

/// <summary>
/// libjpeg-turbo (the agent's TurboJPEG path) against SixLabors.ImageSharp 2.1.13 on the same UXGA frame, in one run:
/// which truncated frames each one notices, and what a 1/8 thumbnail costs.
/// </summary>
internal static class JpegLibraries
{
    private const int CutPoints = 9;
    private const int ThumbWidth = 200;
    private const int ThumbHeight = 150;

    public static int Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0]) : 200;
        var jpeg = JpegTimings.SceneJpeg();
        Console.WriteLine($"Frame: 1600x1200 JPEG, {jpeg.Length / 1024} KB (quality 80, 4:2:0). libjpeg-turbo through TurboJPEG 2.1 ({TurboJpegPackage()}); SixLabors.ImageSharp {ImageSharpVersion}.");
        Console.WriteLine();
        var truncationOk = Truncation(jpeg);
        Console.WriteLine();
        var thumbnailsOk = Thumbnails(jpeg, rounds);
        return truncationOk && thumbnailsOk ? 0 : 1;
    }

    /// <summary>False when the agent accepts a damaged frame or either library rejects the intact one.</summary>
    private static bool Truncation(byte[] jpeg)
    {
        var entropyStart = EntropyStart(jpeg);
        var entropyEnd = jpeg.Length - 2;
        var intactAgent = AgentVerdict(jpeg);
        var intactSharp = ImageSharpVerdict(jpeg);
        if (intactAgent.Rejected || intactSharp.Rejected)
        {
            Console.WriteLine($"intact frame rejected: agent {intactAgent.Text}, ImageSharp {intactSharp.Text}");
            return false;
        }

        Console.WriteLine($"Truncation: the frame cut at {CutPoints} points through its entropy-coded data (bytes {entropyStart}-{entropyEnd}), as it arrives");
        Console.WriteLine("(\"cut\") and with FF D9 appended after the cut (\"cut+EOI\": a frame bigger than the camera's buffer). Agent = the");
        Console.WriteLine("path CaptureService accepts a frame by: JpegValidator.CheckMarkers (CameraClient), then JpegCodec.Check (a full");
        Console.WriteLine("entropy decode at 1/8 that fails on any libjpeg warning). ImageSharp = Image.Load<Rgb24>(bytes).");
        Console.WriteLine();
        Console.WriteLine("| cut at (of entropy data) | variant | bytes | agent: marker check | agent: TurboJPEG decode | ImageSharp 2.1.13 Load | ImageSharp image, bottom rows |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        var detected = new Dictionary<string, int> { ["markers"] = 0, ["decode"] = 0, ["agent"] = 0, ["sharp-cut"] = 0, ["sharp-eoi"] = 0 };
        var agentAcceptedDamage = false;
        for (var k = 1; k <= CutPoints; k++)
        {
            var cut = entropyStart + (int)((long)(entropyEnd - entropyStart) * k / (CutPoints + 1));
            foreach (var fakeEoi in new[] { false, true })
            {
                var frame = fakeEoi ? [.. jpeg.AsSpan(0, cut), 0xFF, 0xD9] : jpeg[..cut];
                var markers = JpegValidator.CheckMarkers(frame);
                var decode = JpegCodec.Check(frame, out _);
                var sharp = ImageSharpVerdict(frame);
                if (markers is not null) detected["markers"]++;
                if (!decode.Ok) detected["decode"]++;
                if (markers is not null || !decode.Ok) detected["agent"]++;
                else agentAcceptedDamage = true;
                if (sharp.Rejected) detected[fakeEoi ? "sharp-eoi" : "sharp-cut"]++;
                Console.WriteLine($"| {k * 100 / (CutPoints + 1)} % | {(fakeEoi ? "cut+EOI" : "cut")} | {frame.Length} | {markers ?? "passes"} | " +
                                  $"{(decode.Ok ? "decodes, no warning" : $"{decode.FailureReason} ({decode.Detail})")} | {sharp.Text} | {sharp.BottomRows} |");
            }
        }

        var total = CutPoints * 2;
        Console.WriteLine();
        Console.WriteLine($"Detected as bad, of {total} damaged frames ({CutPoints} cut + {CutPoints} cut+EOI):");
        Console.WriteLine($"  agent (marker check + TurboJPEG decode): {detected["agent"]}/{total}");
        Console.WriteLine($"    marker check alone: {detected["markers"]}/{total}; TurboJPEG decode alone: {detected["decode"]}/{total}");
        Console.WriteLine($"  ImageSharp 2.1.13 Image.Load: {detected["sharp-cut"] + detected["sharp-eoi"]}/{total} (cut: {detected["sharp-cut"]}/{CutPoints}, cut+EOI: {detected["sharp-eoi"]}/{CutPoints})");
        return !agentAcceptedDamage;
    }

    private readonly record struct Verdict(bool Rejected, string Text, string BottomRows);

    private static Verdict AgentVerdict(byte[] frame)
    {
        if (JpegValidator.CheckMarkers(frame) is { } reason) return new Verdict(true, $"markers: {reason}", "");
        var check = JpegCodec.Check(frame, out _);
        return check.Ok ? new Verdict(false, "accepted", "") : new Verdict(true, $"decode: {check.FailureReason}", "");
    }

    private static Verdict ImageSharpVerdict(byte[] frame)
    {
        try
        {
            using var image = Image.Load<Rgb24>(frame);
            return new Verdict(false, $"decodes {image.Width}x{image.Height}, no exception", ConstantTail(image));
        }
        catch (Exception ex)
        {
            return new Verdict(true, $"throws {ex.GetType().Name}: {ex.Message}", "-");
        }
    }

    /// <summary>The run of bottom rows that are one flat colour, all the same: what a viewer sees where data was missing.</summary>
    private static string ConstantTail(Image<Rgb24> image)
    {
        var first = image.Height;
        Rgb24 colour = default;
        image.ProcessPixelRows(rows =>
        {
            colour = rows.GetRowSpan(rows.Height - 1)[0];
            for (var y = rows.Height - 1; y >= 0; y--)
            {
                var row = rows.GetRowSpan(y);
                foreach (var pixel in row)
                    if (!pixel.Equals(colour)) return;
                first = y;
            }
        });
        return first == image.Height
            ? "no flat rows"
            : $"rows {first}-{image.Height - 1} ({(image.Height - first) * 100 / image.Height} %) all rgb({colour.R},{colour.G},{colour.B})";
    }

    /// <summary>Where the entropy-coded data of the (single-scan) frame starts: just after the SOS segment.</summary>
    private static int EntropyStart(byte[] jpeg)
    {
        var i = 2;
        while (i + 4 <= jpeg.Length && jpeg[i] == 0xFF)
        {
            var length = (jpeg[i + 2] << 8) | jpeg[i + 3];
            if (jpeg[i + 1] == 0xDA) return i + 2 + length;
            i += 2 + length;
        }
        throw new InvalidOperationException("no SOS marker");
    }

    /// <summary>
    /// Rounds interleaved (agent, then each ImageSharp variant) so that load from other processes falls on all alike.
    /// ImageSharp spreads decode colour conversion and resize over all CPUs by default; the single-thread variant
    /// shows the cost per core, which is what a Pi busy with other work pays. False when a thumbnail is not 200x150.
    /// </summary>
    private static bool Thumbnails(byte[] jpeg, int rounds)
    {
        var encoder = new JpegEncoder { Quality = 75, ColorType = JpegColorType.YCbCrRatio420 };
        var agent = new Timings();
        var sharp = new Timings();
        var sharpSingle = new Timings();
        var sharpDecode = new Timings();
        var singleThread = Configuration.Default.Clone();
        singleThread.MaxDegreeOfParallelism = 1;
        byte[]? agentThumb = null;
        byte[]? sharpThumb = null;
        var warmup = Math.Min(rounds, 10);
        for (var i = 0; i < warmup + rounds; i++)
        {
            var measured = i >= warmup;
            agent.Time(measured, () =>
            {
                if (!JpegCodec.Check(jpeg, out agentThumb).Ok) throw new InvalidOperationException("intact frame failed the check");
            });
            sharp.Time(measured, () => sharpThumb = ImageSharpThumbnail(Configuration.Default, jpeg, encoder));
            sharpSingle.Time(measured, () => ImageSharpThumbnail(singleThread, jpeg, encoder));
            sharpDecode.Time(measured, () =>
            {
                using var image = Image.Load<Rgb24>(jpeg);
            });
        }

        var sizesOk = IsThumbnail(agentThumb) && IsThumbnail(sharpThumb);
        Console.WriteLine($"Thumbnail {ThumbWidth}x{ThumbHeight} (1/8) of the same frame, {rounds} rounds after {warmup} warm-up, interleaved; ImageSharp runs with its");
        Console.WriteLine($"default configuration (MaxDegreeOfParallelism {Configuration.Default.MaxDegreeOfParallelism} on this {Environment.ProcessorCount}-CPU machine) and single-threaded; CPU time beside wall time.");
        Console.WriteLine();
        Console.WriteLine("| thumbnail path | p50 ms | p99 ms | CPU ms per thumbnail | thumbnail bytes |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine($"| libjpeg-turbo (agent, JpegCodec.Check): header + 1/8 scaled decode + encode q75 | {agent.P50:F2} | {agent.P99:F2} | {agent.CpuMs:F2} | {agentThumb?.Length} |");
        Console.WriteLine($"| ImageSharp 2.1.13: Load<Rgb24> + Resize({ThumbWidth},{ThumbHeight}) + SaveAsJpeg q75 4:2:0 | {sharp.P50:F2} | {sharp.P99:F2} | {sharp.CpuMs:F2} | {sharpThumb?.Length} |");
        Console.WriteLine($"| ImageSharp 2.1.13, MaxDegreeOfParallelism 1: the same | {sharpSingle.P50:F2} | {sharpSingle.P99:F2} | {sharpSingle.CpuMs:F2} | |");
        Console.WriteLine($"| ImageSharp 2.1.13: Load<Rgb24> alone (full-size decode) | {sharpDecode.P50:F2} | {sharpDecode.P99:F2} | {sharpDecode.CpuMs:F2} | |");
        Console.WriteLine();
        Console.WriteLine($"Ratio ImageSharp / libjpeg-turbo: p50 {sharp.P50 / agent.P50:F1}x, p99 {sharp.P99 / agent.P99:F1}x, CPU {sharp.CpuMs / agent.CpuMs:F1}x;");
        Console.WriteLine($"  single-threaded ImageSharp: p50 {sharpSingle.P50 / agent.P50:F1}x, p99 {sharpSingle.P99 / agent.P99:F1}x, CPU {sharpSingle.CpuMs / agent.CpuMs:F1}x");
        if (!sizesOk) Console.WriteLine($"a thumbnail is not {ThumbWidth}x{ThumbHeight}");
        return sizesOk;
    }

    private static byte[] ImageSharpThumbnail(Configuration configuration, byte[] jpeg, JpegEncoder encoder)
    {
        using var image = Image.Load<Rgb24>(configuration, jpeg);
        image.Mutate(x => x.Resize(ThumbWidth, ThumbHeight));
        using var output = new MemoryStream();
        image.SaveAsJpeg(output, encoder);
        return output.ToArray();
    }

    private static bool IsThumbnail(byte[]? jpeg)
    {
        if (jpeg is null) return false;
        var info = Image.Identify(jpeg);
        return info is not null && info.Width == ThumbWidth && info.Height == ThumbHeight;
    }

    /// <summary>Wall time per call, and process CPU time over all calls (ImageSharp spreads work over threads).</summary>
    private sealed class Timings
    {
        private readonly List<double> wallMs = [];
        private TimeSpan cpu;

        public void Time(bool measured, Action action)
        {
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var start = Stopwatch.GetTimestamp();
            action();
            var wall = Stopwatch.GetElapsedTime(start);
            if (!measured) return;
            wallMs.Add(wall.TotalMilliseconds);
            cpu += Environment.CpuUsage.TotalTime - cpuBefore;
        }

        public double P50 => BenchTools.Percentile(Sorted(), 50);
        public double P99 => BenchTools.Percentile(Sorted(), 99);
        public double CpuMs => wallMs.Count == 0 ? double.NaN : cpu.TotalMilliseconds / wallMs.Count;

        private List<double> Sorted() => [.. wallMs.Order()];
    }

    // The assembly version is 2.0.0.0 for every 2.x release; the informational one names the package version.
    private static string ImageSharpVersion =>
        typeof(Image).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "?";

    private static string TurboJpegPackage()
    {
        // Which libjpeg-turbo build the agent loads, as dpkg -s libturbojpeg0 would say.
        try
        {
            var status = File.ReadAllText("/var/lib/dpkg/status");
            var at = status.IndexOf("Package: libturbojpeg0\n", StringComparison.Ordinal);
            if (at < 0) return "libturbojpeg0 version unknown";
            var version = status.IndexOf("\nVersion: ", at, StringComparison.Ordinal);
            var end = status.IndexOf('\n', version + 1);
            return $"libturbojpeg0 {status[(version + "\nVersion: ".Length)..end]}";
        }
        catch (IOException)
        {
            return "libturbojpeg0 version unknown";
        }
    }
}
