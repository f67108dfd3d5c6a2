using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Upload;

/// <summary>Upload attempts, on the agent's meter.</summary>
public static class UploadMetrics
{
    private static readonly Counter<long> Uploads = AgentMeter.Meter.CreateCounter<long>("piorchestrator.uploads",
        description: "Upload attempts to S3 by result: uploaded, retry (a transient failure, tried again), failed (refused for good)");

    /// <summary><paramref name="result"/>: uploaded, retry, failed, or collision (the key held an object the agent did not write).</summary>
    public static void Upload(string result) => Uploads.Add(1, new KeyValuePair<string, object?>("result", result));
}
