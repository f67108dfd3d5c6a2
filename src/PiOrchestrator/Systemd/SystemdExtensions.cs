using Microsoft.Extensions.DependencyInjection.Extensions;

namespace PiOrchestrator.Systemd;

public static class SystemdExtensions
{
    public static IServiceCollection AddSystemd(this IServiceCollection services)
    {
        services.TryAddSingleton<LoopHeartbeats>();
        services.AddSingleton<SystemdNotifier>();
        services.AddHostedService<SystemdService>();
        // Inside systemd's TimeoutStopSec=30: captures in flight finish, uploads go back to pending, SQLite closes.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(25));
        return services;
    }
}
