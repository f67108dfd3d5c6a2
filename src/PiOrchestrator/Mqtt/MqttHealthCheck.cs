using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace PiOrchestrator.Mqtt;

/// <summary>The broker connection's state, reported with readiness but never failing it: the API works without a broker.</summary>
public sealed class MqttHealthCheck(MqttConnection mqtt) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["mqtt"] = mqtt.State.ToString().ToLowerInvariant() }));
}
