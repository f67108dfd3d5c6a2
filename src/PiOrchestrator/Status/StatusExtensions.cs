using PiOrchestrator.Http;

namespace PiOrchestrator.Status;

public static class StatusExtensions
{
    public static IServiceCollection AddStatus(this IServiceCollection services)
    {
        services.AddApiJson(StatusJsonContext.Default);
        services.AddSingleton<AgentClock>();
        return services;
    }
}
