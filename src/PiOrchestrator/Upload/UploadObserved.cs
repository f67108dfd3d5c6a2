using System.Diagnostics.Metrics;
using System.Globalization;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;

namespace PiOrchestrator.Upload;

/// <summary>The upload queue and the bucket in systemd's status line and in the metrics.</summary>
public sealed class UploadObserved(EvidenceStore store, S3ObjectStore s3, UploadState uploads, TimeProvider time) : ISummaryPart, IGaugeSource
{
    public int Order => 30;

    public string Describe()
    {
        try
        {
            return "upload queue " + store.PendingUploads().Count.ToString(CultureInfo.InvariantCulture);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            // A status line is no reason to stop the loop that feeds the watchdog.
            return "upload queue unknown";
        }
    }

    public void AddGauges(Meter meter)
    {
        meter.CreateObservableGauge("piorchestrator.upload.queue.depth", () => store.PendingUploads().Count,
            description: "Captures waiting to be uploaded (pending or uploading)");
        meter.CreateObservableGauge("piorchestrator.upload.oldest.pending.age", () =>
            {
                var oldest = store.PendingUploads().Oldest;
                return oldest is { } at ? Math.Max(0, (time.GetUtcNow() - at).TotalSeconds) : 0;
            }, unit: "s", description: "Age of the oldest capture waiting to be uploaded; 0 when none waits");
        // Not reported when no bucket is configured: nothing to be connected to.
        meter.CreateObservableGauge("piorchestrator.s3.connected", () => s3.Configured
                ? [new Measurement<int>(uploads.Reachable == true ? 1 : 0, new KeyValuePair<string, object?>("bucket", s3.Bucket))]
                : Array.Empty<Measurement<int>>(),
            description: "1 while the last S3 request reached the bucket");
    }
}
