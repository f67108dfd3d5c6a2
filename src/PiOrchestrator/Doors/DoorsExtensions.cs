using PiOrchestrator.Mqtt;

namespace PiOrchestrator.Doors;

public static class DoorsExtensions
{
    public static IServiceCollection AddDoors(this IServiceCollection services)
    {
        services.AddSingleton<MqttDoorEventSource>();
        services.AddSingleton<IMqttSubscription>(sp => sp.GetRequiredService<MqttDoorEventSource>());
        return services;
    }
}
