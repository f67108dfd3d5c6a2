using System.Diagnostics;
using PiOrchestrator.Jpeg;

namespace PiOrchestrator.Bench;

/// <summary>Validation (full entropy decode at 1/8) + thumbnail of a 1600x1200 frame, against a plain full decode check as baseline.</summary>
internal static class JpegTimings
{
    public static int Run(string[] args)
    {
        var jpeg = SceneJpeg();
        const int rounds = 200;
        for (var i = 0; i < 20; i++) JpegCodec.Check(jpeg, out _);
        var times = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var check = JpegCodec.Check(jpeg, out var thumb);
            times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (!check.Ok || thumb is null) return 1;
        }
        times.Sort();
        Console.WriteLine($"1600x1200 JPEG ({jpeg.Length / 1024} KB): check + 1/8 thumbnail p50 {BenchTools.Percentile(times, 50):F2} ms, p99 {BenchTools.Percentile(times, 99):F2} ms over {rounds} rounds");
        return 0;
    }

    /// <summary>
    /// A scene-like 1600x1200 frame (gradients, edges, mild noise) at quality 80: compresses like a real UXGA
    /// camera frame.
    /// </summary>
    public static byte[] SceneJpeg()
    {
        var rgb = new byte[1600 * 1200 * 3];
        var random = new Random(5);
        for (var y = 0; y < 1200; y++)
        for (var x = 0; x < 1600; x++)
        {
            var i = (y * 1600 + x) * 3;
            var edge = (x / 40 + y / 40) % 2 == 0 ? 30 : 0;
            rgb[i] = (byte)(x * 200 / 1600 + edge + random.Next(12));
            rgb[i + 1] = (byte)(y * 200 / 1200 + random.Next(12));
            rgb[i + 2] = (byte)((x + y) * 120 / 2800 + edge + random.Next(12));
        }
        return JpegCodec.Encode(rgb, 1600, 1200, quality: 80);
    }
}
