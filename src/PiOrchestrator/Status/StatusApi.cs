using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Hosting;
using PiOrchestrator.Http;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Sessions;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Status;

public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/status", GetStatus).WithName("GetStatus").WithTags("Status")
            .WithSummary("Read the agent's status")
            .WithDescription("Version and uptime, the MQTT connection, the store, the upload queue, the image cache, and per container " +
                "the door state, its current and last session, its camera's health and its GPIO door sensor.")
            .ProducesEnvelope<StatusDto>();
        app.MapGet("/healthz", Healthz).WithName("Healthz").WithTags("Status")
            .WithSummary("Liveness probe")
            .WithDescription("200 while every loop of the agent keeps its heartbeat; 503 (same body shape) names the stalled ones.")
            .ProducesEnvelope<HealthDto>()
            .ProducesEnvelope<HealthDto>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/readyz", Readyz).WithName("Readyz").WithTags("Status")
            .WithSummary("Readiness probe")
            .WithDescription("200 when evidence can be served (the store works); 503 (same body shape) when not. MQTT is reported, not required.")
            .ProducesEnvelope<HealthDto>()
            .ProducesEnvelope<HealthDto>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static CameraStatusDto CameraStatus(ContainerOptions container, CameraHealth.Snapshot camera, CaptureService captures, FrameFreshness frames)
    {
        var deadlines = captures.DeadlinesFor(container);
        return new(camera.Online, camera.LastSeen, camera.Since, camera.LastCaptureLatencyMs, camera.LastError)
        {
            State = camera.State ?? "unknown",
            FrameSize = deadlines.FrameSize.Name,
            FrameBuffers = frames.KindOf(container.CameraUrl) switch { FrameFreshness.Buffers.One => 1, FrameFreshness.Buffers.Two => 2, _ => null },
            AttemptDeadlineMs = (int)deadlines.Attempt.TotalMilliseconds,
            CaptureDeadlineMs = (int)deadlines.Capture.TotalMilliseconds,
        };
    }

    public static JsonHttpResult<ApiEnvelope<StatusDto>> GetStatus(
        AgentClock clock, MqttConnection mqtt, IOptions<MqttOptions> mqttOptions, MqttDoorEventSource doors, EvidenceStore store,
        ImageCache cache, CameraHealth cameras, SessionEngine engine, IOptions<SiteOptions> site, S3ObjectStore s3, UploadState uploads,
        DoorSensorRegistry sensors, ClockTrust systemClock, CaptureService captures, FrameFreshness frames, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var (depth, oldest) = store.PendingUploads();
        var collisions = store.KeyCollisions();
        var clockNow = systemClock.Read();
        var o = mqttOptions.Value;
        var containers = site.Value.Containers.Select(c =>
        {
            var snapshot = engine.Snapshot(c.Id);
            var camera = cameras.Get(c.CameraId);
            return new ContainerStatusDto(c.Id, c.CameraId, (snapshot?.Door ?? DoorState.Unknown).ToString().ToLowerInvariant(), snapshot?.DoorSince,
                snapshot?.CurrentSessionId, snapshot?.LastSessionId,
                CameraStatus(c, camera, captures, frames),
                c.Door is { } door
                    ? sensors.Get(c.Id) is { } sensor
                        ? new DoorSensorDto(door.Chip, door.Line, sensor.State, sensor.Error, sensor.Since)
                        : new DoorSensorDto(door.Chip, door.Line, "starting", null, null)
                    : null,
                snapshot?.Flood is { } flood ? new DoorEventFloodDto(flood.Since, flood.Events, flood.LimitPerMinute) : null);
        }).ToList();
        var status = new StatusDto(
            AgentVersion.Current,
            clock.StartedAt,
            (long)(now - clock.StartedAt).TotalSeconds,
            new MqttStatusDto(mqtt.State.ToString().ToLowerInvariant(), mqtt.State == MqttState.Connected, $"{o.Host}:{o.BrokerPort}",
                mqtt.StateSince, mqtt.LastError, mqtt.MessagesReceived, doors.Rejected),
            new StoreStatusDto(store.IsHealthy(), store.DataDirectory, store.DiskFull),
            new UploadQueueDto(depth, oldest, oldest is { } o1 ? (long)(now - o1).TotalSeconds : null, s3.Configured, s3.Configured ? uploads.Reachable : null,
                s3.Configured ? s3.Bucket : null, uploads.Uploaded, uploads.LastSuccessAt, uploads.LastError, uploads.LastErrorAt,
                collisions.Count, collisions.Last is { } c ? new KeyCollisionDto(c.EvidenceId, c.Key, c.Occupant, c.StoredAt, c.At) : null),
            new CacheStatusDto(cache.Bytes, cache.LimitBytes),
            containers,
            new ClockStatusDto(clockNow.Synchronized, clockNow.Source),
            Setup(site.Value, s3, o, mqtt.State));
        return Envelope.Ok(status, StatusJsonContext.Default.ApiEnvelopeStatusDto, time);
    }

    /// <summary>What a freshly installed agent (configured for nothing) still needs, so the status page can say what to set.</summary>
    private static List<string> Setup(SiteOptions site, S3ObjectStore s3, MqttOptions mqtt, MqttState state)
    {
        var setup = new List<string>();
        if (site.Containers.Count == 0)
            setup.Add("Containers: none configured, so no door is watched and no photo taken: set Containers:0:Id, CameraId and CameraUrl (and Door for a GPIO sensor)");
        if (mqtt.Enabled && state != MqttState.Connected && mqtt.Host == new MqttOptions().Host)
            setup.Add($"Mqtt:Host: no broker answers at {mqtt.Host}:{mqtt.BrokerPort}: set the site's broker (or Mqtt:Enabled=false when doors are on GPIO only)");
        if (!s3.Configured)
            setup.Add("S3:Endpoint: not set, so captures stay on this agent: set S3:Endpoint and S3:Bucket, and the credentials s3-access-key and s3-secret-key");
        return setup;
    }

    /// <summary>Liveness: the health checks tagged <see cref="Probes.Live"/> (every loop keeps its heartbeat).</summary>
    public static async Task<JsonHttpResult<ApiEnvelope<HealthDto>>> Healthz(HealthCheckService health, TimeProvider time, CancellationToken ct) =>
        Probe(await health.CheckHealthAsync(check => check.Tags.Contains(Probes.Live), ct), "ok", "unhealthy", time);

    /// <summary>Readiness: the health checks tagged <see cref="Probes.Ready"/> (the store works; MQTT is reported, not required).</summary>
    public static async Task<JsonHttpResult<ApiEnvelope<HealthDto>>> Readyz(HealthCheckService health, TimeProvider time, CancellationToken ct) =>
        Probe(await health.CheckHealthAsync(check => check.Tags.Contains(Probes.Ready), ct), "ready", "not_ready", time);

    /// <summary>
    /// A probe's answer: 503 when a check is unhealthy, and each check's findings (its data) as the checks. Not
    /// MapHealthChecks: its endpoints carry no handler method, so the OpenAPI document would lose both probes.
    /// </summary>
    private static JsonHttpResult<ApiEnvelope<HealthDto>> Probe(HealthReport report, string pass, string fail, TimeProvider time)
    {
        var checks = new Dictionary<string, string>();
        foreach (var (name, entry) in report.Entries)
        {
            // A check that threw found nothing to list but itself.
            if (entry.Exception is not null) checks[name] = "failed";
            foreach (var (key, value) in entry.Data) checks[key] = value.ToString() ?? "";
        }
        var ok = report.Status != HealthStatus.Unhealthy;
        return TypedResults.Json(new ApiEnvelope<HealthDto>(new HealthDto(ok ? pass : fail, checks), time.GetUtcNow()),
            StatusJsonContext.Default.ApiEnvelopeHealthDto, statusCode: ok ? 200 : 503);
    }
}

/// <summary>
/// When this agent's process started. Taken from the process (not from when this object is first resolved, which is
/// the first status request) and expressed on <see cref="TimeProvider"/>'s clock, so uptime is now − StartedAt.
/// </summary>
public sealed class AgentClock(TimeProvider time)
{
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow() - ProcessAge();

    private static TimeSpan ProcessAge()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        var age = DateTime.Now - self.StartTime;
        return age > TimeSpan.Zero ? age : TimeSpan.Zero;
    }
}
