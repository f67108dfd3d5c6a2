using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Store;

namespace PiOrchestrator.Bench;

/// <summary>
/// What signing costs a capture: EvidenceStore.SaveEvidence of a 1600x1200 frame (row + JPEG, one fsynced
/// transaction) without a device key, and with one (ECDSA P-256 over the canonical line, plus the clock check),
/// interleaved so disk and CPU noise fall on both alike.
/// </summary>
public static class StoreSigning
{
    public static int Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0]) : 500;
        var jpeg = JpegTimings.SceneJpeg();
        var sha = Convert.ToHexStringLower(SHA256.HashData(jpeg));
        var work = Directory.CreateTempSubdirectory("piorch-bench-sign-").FullName;
        try
        {
            var plainOptions = Options.Create(new StorageOptions { DataDirectory = Path.Combine(work, "plain") });
            var signedOptions = Options.Create(new StorageOptions { DataDirectory = Path.Combine(work, "signed") });
            using var key = new DeviceKey(signedOptions.Value.DataDirectory, null, "bench", NullLogger.Instance);
            var clock = new ClockTrust(new KernelClock(), signedOptions, NullLogger<ClockTrust>.Instance);
            using var plain = new EvidenceStore(plainOptions, NullLogger<EvidenceStore>.Instance);
            using var signed = new EvidenceStore(signedOptions, NullLogger<EvidenceStore>.Instance, key, clock);

            var plainTimes = new List<double>();
            var signedTimes = new List<double>();
            var signOnly = new List<double>();
            EvidenceRecord? lastSigned = null;
            for (var i = -20; i < rounds; i++)
            {
                var p = Time(() => plain.SaveEvidence(Record(sha, jpeg.Length, i), jpeg));
                var s = Time(() => lastSigned = signed.SaveEvidence(Record(sha, jpeg.Length, i), jpeg));
                var line = CaptureSignature.LineBytes(Record(sha, jpeg.Length, i));
                var k = Time(() => key.Sign(line));
                if (i < 0) continue;
                plainTimes.Add(p);
                signedTimes.Add(s);
                signOnly.Add(k);
            }
            plainTimes.Sort();
            signedTimes.Sort();
            signOnly.Sort();
            Console.WriteLine($"SaveEvidence of a 1600x1200 JPEG ({jpeg.Length / 1024} KB), {rounds} rounds each, interleaved, fsync per commit:");
            Console.WriteLine($"  without signing:            p50 {BenchTools.Percentile(plainTimes, 50):F3} ms  p99 {BenchTools.Percentile(plainTimes, 99):F3} ms");
            Console.WriteLine($"  with signing + clock check: p50 {BenchTools.Percentile(signedTimes, 50):F3} ms  p99 {BenchTools.Percentile(signedTimes, 99):F3} ms");
            Console.WriteLine($"  ECDSA P-256 sign alone:     p50 {BenchTools.Percentile(signOnly, 50):F3} ms  p99 {BenchTools.Percentile(signOnly, 99):F3} ms");
            Console.WriteLine($"  signing adds: p50 {BenchTools.Percentile(signedTimes, 50) - BenchTools.Percentile(plainTimes, 50):F3} ms, p99 {BenchTools.Percentile(signedTimes, 99) - BenchTools.Percentile(plainTimes, 99):F3} ms");
            // The rows really were signed: the last one read back verifies.
            var stored = signed.GetEvidence(lastSigned!.EvidenceId)!;
            Console.WriteLine($"  last signed row read back: signature {signed.CheckSignature(stored)}");
            return signed.CheckSignature(stored) == "ok" ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static double Time(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalMilliseconds;
    }

    private static EvidenceRecord Record(string sha, int size, int i)
    {
        var at = DateTimeOffset.UtcNow;
        var id = Guid.CreateVersion7(at);
        var sessionId = $"sess-bench-{i + 20}";
        return new EvidenceRecord
        {
            EvidenceId = id, SessionId = sessionId, ContainerId = "ctr-bench", DeviceId = "espcam-bench", Tag = CaptureTag.BeforeOpen,
            Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, ImageSizeBytes = size, Sha256 = sha,
            ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-bench", sessionId, CaptureTag.BeforeOpen, at, id), BytesHeld = true,
        };
    }
}
