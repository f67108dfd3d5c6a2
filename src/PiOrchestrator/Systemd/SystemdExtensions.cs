using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting.Systemd;

namespace PiOrchestrator.Systemd;

public static class SystemdExtensions
{
    /// <summary>
    /// Microsoft.Extensions.Hosting.Systemd's notifier and lifetime, registered whenever systemd gave a
    /// <c>$NOTIFY_SOCKET</c>. Not the library's own <c>AddSystemd()</c>: it decides from the parent process's name in
    /// /proc, which the unit's <c>ProtectProc=invisible</c> hides (and a shell in ExecStart changes), and then
    /// registers nothing, so READY=1 never comes and a Type=notify start times out.
    /// </summary>
    public static IServiceCollection AddAgentSystemd(this IServiceCollection services)
    {
        services.TryAddSingleton<LoopHeartbeats>();
        services.AddHealthChecks().AddCheck<HeartbeatsHealthCheck>("loops", tags: [Hosting.Probes.Live]);
        services.AddSingleton<SystemdNotifier>();
        services.AddSingleton<ISystemdNotifier, TolerantSystemdNotifier>();
        // READY=1 once the host has started (Kestrel listening), STOPPING=1 when it stops, SIGTERM a graceful stop.
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NOTIFY_SOCKET")))
            services.AddSingleton<IHostLifetime, SystemdLifetime>();
        services.AddHostedService<SystemdService>();
        // Inside systemd's TimeoutStopSec=30: captures in flight finish, uploads go back to pending, SQLite closes.
        // A loop failing with an error nothing handled stops the host; RunAgentAsync then exits non-zero (70), which
        // the unit restarts: never a silent exit 0.
        services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = TimeSpan.FromSeconds(25);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });
        return services;
    }
}
