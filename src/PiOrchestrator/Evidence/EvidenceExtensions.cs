using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
namespace PiOrchestrator.Evidence;

public static class EvidenceExtensions
{
    public static IServiceCollection AddEvidence(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>().BindConfiguration("Storage").ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsAnnotations>();
        services.TryAddSingleton<IClockSynchronization>(_ => new KernelClock());
        services.AddSingleton<ClockTrust>();
        services.AddOptions<EvidenceOptions>().BindConfiguration("Evidence").ValidateOnStart();
        services.AddSingleton<DeviceKey>();
        services.AddSingleton<EvidenceStore>();
        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: [Hosting.Probes.Ready]);
        services.AddSingleton<ImageCache>();
        services.AddSingleton<EvidenceViews>();
        services.AddSingleton<ImageSource>();
        services.AddSingleton<ObjectReadBacks>();
        services.AddSingleton<SessionExport>();
        services.AddSingleton<ExportSlots>();
        services.AddOptions<TsaOptions>().BindConfiguration("Tsa").ValidateOnStart();
        services.AddSingleton<IValidateOptions<TsaOptions>, TsaOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<TsaOptions>, TsaOptionsValidator>();
        services.AddSingleton<TimestampService>();
        services.AddHostedService(sp => sp.GetRequiredService<TimestampService>());
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return services;
    }
}
