using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Mqtt;

namespace PiOrchestrator.Doors;

public static class DoorsExtensions
{
    public static IServiceCollection AddDoors(this IServiceCollection services)
    {
        services.AddOptions<DoorsOptions>().BindConfiguration("Doors").ValidateOnStart();
        services.AddSingleton<IValidateOptions<DoorsOptions>, DoorsOptionsAnnotations>();
        services.AddSingleton<MqttDoorEventSource>();
        services.AddSingleton<DoorSensorRegistry>();
        services.TryAddSingleton<IGpioDriverFactory, LibGpiodDriverFactory>();
        services.AddHostedService<GpioDoorSource>();
        services.AddSingleton<IMqttSubscription>(sp => sp.GetRequiredService<MqttDoorEventSource>());
        return services;
    }
}
