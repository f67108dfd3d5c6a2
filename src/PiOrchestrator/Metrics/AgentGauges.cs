using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Hosting;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Metrics;

/// <summary>
/// The agent's state, read when Prometheus scrapes (observable instruments): nothing is kept up to date between
/// scrapes. Its own meter, from this host's <see cref="IMeterFactory"/>, since it reads this host's services. A hosted
/// service only to be built when the host starts; it has nothing to run.
/// </summary>
public sealed class AgentGauges : IHostedService
{
    public const string MeterName = "PiOrchestrator.State";

    public AgentGauges(IMeterFactory meters, EvidenceStore store, MqttConnection mqtt, S3ObjectStore s3, UploadState uploads,
        CameraHealth cameras, Sessions.SessionEngine sessions, IOptions<SiteOptions> site, TimeProvider time)
    {
        var meter = meters.Create(MeterName);
        var containers = site.Value.Containers;

        meter.CreateObservableGauge("piorchestrator.build.info", () => new Measurement<int>(1,
            new KeyValuePair<string, object?>("version", AgentVersion.Current),
            new KeyValuePair<string, object?>("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription),
            new KeyValuePair<string, object?>("native", (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported).ToString().ToLowerInvariant())),
            description: "Always 1; the labels say which build runs");

        meter.CreateObservableGauge("piorchestrator.upload.queue.depth", () => store.PendingUploads().Count,
            description: "Captures waiting to be uploaded (pending or uploading)");
        meter.CreateObservableGauge("piorchestrator.upload.oldest.pending.age", () =>
            {
                var oldest = store.PendingUploads().Oldest;
                return oldest is { } at ? Math.Max(0, (time.GetUtcNow() - at).TotalSeconds) : 0;
            }, unit: "s", description: "Age of the oldest capture waiting to be uploaded; 0 when none waits");

        meter.CreateObservableGauge("piorchestrator.mqtt.connected", () => mqtt.State == MqttState.Connected ? 1 : 0,
            description: "1 while the broker connection is up");
        // Not reported when no bucket is configured: nothing to be connected to.
        meter.CreateObservableGauge("piorchestrator.s3.connected", () => s3.Configured
                ? [new Measurement<int>(uploads.Reachable == true ? 1 : 0, new KeyValuePair<string, object?>("bucket", s3.Bucket))]
                : Array.Empty<Measurement<int>>(),
            description: "1 while the last S3 request reached the bucket");
        // A camera not yet asked (just started) is left out rather than called offline.
        meter.CreateObservableGauge("piorchestrator.camera.online", () => CameraMeasurements(containers, cameras),
            description: "1 while the container's camera answers, 0 while it does not");
        meter.CreateObservableGauge("piorchestrator.camera.busy", () => CameraMeasurements(containers, cameras, busy: true),
            description: "1 while a camera is connected but does not answer (its server serving another client, or every socket taken), by container and camera");
        meter.CreateObservableGauge("piorchestrator.door.events.flooded", () => containers.Select(c => new Measurement<int>(
                sessions.Snapshot(c.Id)?.Flood is null ? 0 : 1, new KeyValuePair<string, object?>("container", c.Id))),
            description: "1 while the container's door events arrive faster than Doors:FloodEventsPerMinute");
        meter.CreateObservableGauge("piorchestrator.disk.full", () => store.DiskFull ? 1 : 0,
            description: "1 while the data disk has no room and new photos are refused");

        meter.CreateObservableGauge("piorchestrator.process.memory.working.set", () => Environment.WorkingSet, unit: "By",
            description: "The agent's resident memory");
        meter.CreateObservableGauge("piorchestrator.gc.heap.size", () => GC.GetGCMemoryInfo().HeapSizeBytes, unit: "By",
            description: "Managed heap size at the last garbage collection");
        meter.CreateObservableCounter("piorchestrator.process.cpu.time", () => Environment.CpuUsage.TotalTime.TotalSeconds, unit: "s",
            description: "CPU time used by the agent, user and kernel");
        meter.CreateObservableCounter("piorchestrator.gc.collections", () => GcCollections(),
            description: "Garbage collections by generation");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static IEnumerable<Measurement<int>> CameraMeasurements(List<ContainerOptions> containers, CameraHealth cameras, bool busy = false)
    {
        foreach (var c in containers)
            if (cameras.Get(c.CameraId) is { Online: { } online } camera)
                yield return new Measurement<int>((busy ? camera.State == CameraHealth.States.Busy : online) ? 1 : 0,
                    new KeyValuePair<string, object?>("container", c.Id), new KeyValuePair<string, object?>("camera", c.CameraId));
    }

    private static Measurement<long>[] GcCollections()
    {
        var measurements = new Measurement<long>[GC.MaxGeneration + 1];
        for (var gen = 0; gen <= GC.MaxGeneration; gen++)
            measurements[gen] = new Measurement<long>(GC.CollectionCount(gen), new KeyValuePair<string, object?>("generation", "gen" + gen));
        return measurements;
    }
}
