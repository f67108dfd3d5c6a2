using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace PiOrchestrator.Store;

/// <summary>Readiness: evidence can be served while the store answers.</summary>
public sealed class StoreHealthCheck(EvidenceStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(store.IsHealthy()
            ? HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["store"] = "ok" })
            : HealthCheckResult.Unhealthy("the evidence store does not answer", data: new Dictionary<string, object> { ["store"] = "failed" }));
}
