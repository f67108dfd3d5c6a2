using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace PiOrchestrator.Hosting;

/// <summary>Liveness: every loop keeps its heartbeat (the same test the systemd watchdog uses).</summary>
public sealed class HeartbeatsHealthCheck(LoopHeartbeats heartbeats) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stalled = heartbeats.Stalled();
        var loops = heartbeats.Loops.ToDictionary(loop => loop, object (loop) => stalled.Contains(loop) ? "stalled" : "ok");
        return Task.FromResult(new HealthCheckResult(stalled.Count > 0 ? HealthStatus.Unhealthy : HealthStatus.Healthy,
            stalled.Count > 0 ? "stalled: " + string.Join(", ", stalled) : null, data: loops));
    }
}
