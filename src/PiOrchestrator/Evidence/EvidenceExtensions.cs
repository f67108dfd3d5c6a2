using Microsoft.Extensions.Options;
using PiOrchestrator.Http;

namespace PiOrchestrator.Evidence;

public static class EvidenceExtensions
{
    public static IServiceCollection AddEvidence(this IServiceCollection services)
    {
        services.AddApiJson(EvidenceJsonContext.Default);
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
