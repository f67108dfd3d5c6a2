using Microsoft.Extensions.Options;
using PiOrchestrator.Site;

namespace PiOrchestrator.Capture;

/// <summary>
/// Polls each camera's <c>/status</c> every <c>Capture:HealthIntervalSeconds</c>, skipping a camera that is busy
/// with a capture. Going offline and coming back are one log line each (CameraHealth), not one per poll.
/// </summary>
public sealed class CameraHealthMonitor(
    CameraClient camera,
    CaptureService captures,
    CameraHealth health,
    IOptions<SiteOptions> site,
    IOptions<CaptureOptions> options,
    Hosting.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<CameraHealthMonitor> log) : BackgroundService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.HealthIntervalSeconds;
        if (interval == 0 || site.Value.Containers.Count == 0)
        {
            log.LogDebug("Camera health polling is off");
            return;
        }
        var cameras = site.Value.Containers.DistinctBy(c => c.CameraUrl).ToList();
        foreach (var c in cameras)
        {
            var deadlines = captures.DeadlinesFor(c);
            log.LogInformation("Camera {CameraId} at {CameraUrl}: {Deadlines}", c.CameraId, c.CameraUrl, deadlines);
            if (deadlines.Capture < deadlines.Attempt * 2)
                log.LogWarning("Capture:TimeoutMs ({TimeoutMs} ms) leaves camera {CameraId} no time for a second grab after a failed one ({Needed:F1} s): remove it to have it derived",
                    options.Value.TimeoutMs, c.CameraId, (deadlines.Attempt * 2).TotalSeconds);
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(interval), time);
        try
        {
            do
            {
                heartbeats.Beat("camera-health", TimeSpan.FromSeconds(interval) + ProbeTimeout);
                await Task.WhenAll(cameras.Select(c => PollAsync(c, stoppingToken)));
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public async Task PollAsync(ContainerOptions container, CancellationToken ct)
    {
        if (captures.IsBusy(container.CameraUrl)) return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ProbeTimeout);
        var url = new Uri(container.CameraUrl.EndsWith('/') ? container.CameraUrl : container.CameraUrl + "/");
        var probe = await camera.ProbeAsync(url, timeout.Token);
        if (ct.IsCancellationRequested) return;
        if (probe.Reason is not null)
        {
            health.RecordFailure(container.CameraId, probe.Reason);
            return;
        }
        var before = health.Get(container.CameraId).FrameSize;
        var frameSize = probe.FrameSizeIndex is { } index ? CameraFrameSizes.ByIndex(index) : null;
        health.RecordSuccess(container.CameraId, null, frameSize);
        if (frameSize is not null && frameSize != before && container.FrameSize is null)
            log.LogInformation("Camera {CameraId} is set to {FrameSize}: {Deadlines}", container.CameraId, frameSize.Value.Name, captures.DeadlinesFor(container));
    }
}
