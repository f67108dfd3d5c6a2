using Microsoft.Extensions.Options;

namespace PiOrchestrator.Mqtt;

public static class MqttExtensions
{
    public static IServiceCollection AddMqtt(this IServiceCollection services)
    {
        services.AddOptions<MqttOptions>().BindConfiguration("Mqtt").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<MqttOptions>, MosquittoLibraryCheck>();
        services.AddSingleton<MqttConnection>();
        services.AddHostedService(sp => sp.GetRequiredService<MqttConnection>());
        services.AddHostedService<MqttPublisher>();
        return services;
    }

    private sealed class MosquittoLibraryCheck : IValidateOptions<MqttOptions>
    {
        public ValidateOptionsResult Validate(string? name, MqttOptions options) =>
            !options.Enabled || MosquittoClient.TryLoadLibrary(out var error)
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"Mqtt:Enabled is true but {error}");
    }
}
