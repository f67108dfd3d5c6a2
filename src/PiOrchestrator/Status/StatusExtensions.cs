using PiOrchestrator.Hosting;
using PiOrchestrator.Http;

namespace PiOrchestrator.Status;

public static class StatusExtensions
{
    public static IServiceCollection AddStatus(this IServiceCollection services)
    {
        services.AddApiJson(StatusJsonContext.Default);
        services.AddSingleton<AgentClock>();
        services.AddHealthChecks().AddCheck<HeartbeatsHealthCheck>("loops", tags: [Probes.Live]);
        return services;
    }
}
