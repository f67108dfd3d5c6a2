using Microsoft.Extensions.Options;
using PiOrchestrator.Doors;
using PiOrchestrator.Hosting;
using PiOrchestrator.Http;

namespace PiOrchestrator.Sessions;

public static class SessionsExtensions
{
    public static IServiceCollection AddSessions(this IServiceCollection services)
    {
        services.AddApiJson(SessionsJsonContext.Default);
        services.AddOptions<SessionsOptions>().BindConfiguration("Sessions").ValidateOnStart();
        services.AddSingleton<IValidateOptions<SessionsOptions>, SessionsOptionsAnnotations>();
        services.AddSingleton<SessionEngine>();
        services.AddSingleton<IDoorEventSink>(sp => sp.GetRequiredService<SessionEngine>());
        services.AddHostedService(sp => sp.GetRequiredService<SessionEngine>());
        services.AddHostedService<MqttPublisher>();
        services.AddSingleton<IGaugeSource, SessionsObserved>();
        return services;
    }
}
