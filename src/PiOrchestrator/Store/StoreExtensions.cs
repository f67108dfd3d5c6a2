using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Store;

public static class StoreExtensions
{
    /// <summary>The SQLite store of sessions and captures, the photos beside it, and the clock trust every record carries.</summary>
    public static IServiceCollection AddStore(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>().BindConfiguration("Storage").ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsAnnotations>();
        services.TryAddSingleton<IClockSynchronization>(_ => new KernelClock());
        services.AddSingleton<ClockTrust>();
        services.AddOptions<EvidenceOptions>().BindConfiguration("Evidence").ValidateOnStart();
        services.AddSingleton<DeviceKey>();
        services.AddSingleton<EvidenceStore>();
        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: [Probes.Ready]);
        services.AddSingleton<ImageCache>();
        services.AddSingleton<IGaugeSource, StoreObserved>();
        return services;
    }
}
