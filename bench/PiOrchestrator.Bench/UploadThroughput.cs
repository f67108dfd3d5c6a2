using System.Diagnostics;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Bench;

/// <summary>
/// Sustained captures → S3: captures of ~250 KB are committed to the real store as fast as it takes them while the
/// real uploader drains them to s3rver; the figure is captures/s until the last one is verified in S3. Baseline in the
/// same run: a bare AWSSDK PutObject loop of the same bytes to the same server, with the same parallelism.
/// </summary>
internal static class UploadThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0]) : 600;
        var kilobytes = args.Length > 1 ? int.Parse(args[1]) : 250;
        var parallel = args.Length > 2 ? int.Parse(args[2]) : 2;
        var work = Directory.CreateTempSubdirectory("piorch-bench-");
        var port = BenchTools.FreePort();
        using var s3rver = await BenchTools.StartS3rverAsync(Path.Combine(work.FullName, "s3"), port);
        try
        {
            var jpeg = BenchTools.Jpeg(kilobytes);
            var sha = Convert.ToHexStringLower(SHA256.HashData(jpeg));
            Console.WriteLine($"captures: {count} x {jpeg.Length / 1024} KB, parallel uploads: {parallel}, s3rver 5.0.0 on loopback");

            var baseline = await BaselineAsync(port, jpeg, count, parallel);
            var agent = await AgentAsync(port, work.FullName, jpeg, sha, count, parallel);
            Console.WriteLine($"baseline (bare PutObject loop): {baseline:F1} objects/s");
            Console.WriteLine($"agent (store → upload → HeadObject verify): {agent.Rate:F1} captures/s, lost {agent.Lost}, mismatched {agent.Mismatched}");
            Console.WriteLine($"ratio agent/baseline: {agent.Rate / baseline:F2}");
            return agent.Lost == 0 && agent.Mismatched == 0 ? 0 : 1;
        }
        finally
        {
            s3rver.Kill(entireProcessTree: true);
            work.Delete(recursive: true);
        }
    }

    private static AmazonS3Client Client(int port) => new(new BasicAWSCredentials("S3RVER", "S3RVER"), new AmazonS3Config
    {
        ServiceURL = $"http://127.0.0.1:{port}", ForcePathStyle = true, AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    private static async Task<double> BaselineAsync(int port, byte[] jpeg, int count, int parallel)
    {
        using var client = Client(port);
        await client.PutBucketAsync("baseline");
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, ct) =>
            await client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = "baseline", Key = $"b/{i}.jpg", InputStream = new MemoryStream(jpeg), UseChunkEncoding = false,
            }, ct));
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<(double Rate, int Lost, int Mismatched)> AgentAsync(int port, string work, byte[] jpeg, string sha, int count, int parallel)
    {
        var s3Options = Options.Create(new S3Options
        {
            Endpoint = $"http://127.0.0.1:{port}", Bucket = "evidence", AccessKey = "S3RVER", SecretKey = "S3RVER", ParallelUploads = parallel,
        });
        using var store = new EvidenceStore(Options.Create(new StorageOptions { DataDirectory = Path.Combine(work, "data") }), NullLogger<EvidenceStore>.Instance);
        using var objects = new S3ObjectStore(s3Options, TimeProvider.System);
        var state = new UploadState(TimeProvider.System, NullLogger<UploadState>.Instance);
        using var uploader = new Uploader(store, objects, state, s3Options, new PiOrchestrator.Hosting.LoopHeartbeats(TimeProvider.System), TimeProvider.System, NullLogger<Uploader>.Instance);
        await uploader.StartAsync(CancellationToken.None);

        var watch = Stopwatch.StartNew();
        var keys = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var at = DateTimeOffset.UtcNow;
            var id = Guid.CreateVersion7(at);
            var sessionId = $"sess-bench-{i}";
            var record = new EvidenceRecord
            {
                EvidenceId = id, SessionId = sessionId, ContainerId = "ctr-bench", DeviceId = "espcam-bench", Tag = CaptureTag.BeforeOpen,
                Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, ImageSizeBytes = jpeg.Length, Sha256 = sha,
                ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-bench", sessionId, CaptureTag.BeforeOpen, at, id), BytesHeld = true,
            };
            store.SaveEvidence(record, jpeg);
            keys.Add(record.ObjectKey);
        }
        while (store.PendingUploads().Count > 0) await Task.Delay(20);
        var rate = count / watch.Elapsed.TotalSeconds;
        await uploader.StopAsync(CancellationToken.None);

        using var client = Client(port);
        var stored = new Dictionary<string, long>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "evidence", ContinuationToken = token });
            foreach (var o in page.S3Objects ?? []) stored[o.Key] = o.Size ?? 0;
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (token is not null);
        var lost = keys.Count(k => !stored.ContainsKey(k));
        var mismatched = 0;
        foreach (var key in keys.Where(stored.ContainsKey).Where((_, i) => i % 25 == 0))
        {
            using var response = await client.GetObjectAsync("evidence", key);
            using var buffer = new MemoryStream();
            await response.ResponseStream.CopyToAsync(buffer);
            if (Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())) != sha) mismatched++;
        }
        return (rate, lost, mismatched);
    }
}
