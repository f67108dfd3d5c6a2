using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Mqtt;

public static class MqttExtensions
{
    public static IServiceCollection AddMqtt(this IServiceCollection services)
    {
        services.AddOptions<MqttOptions>().BindConfiguration("Mqtt").ValidateOnStart();
        services.AddSingleton<IValidateOptions<MqttOptions>, MqttOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<MqttOptions>, MqttTlsCheck>();
        services.AddSingleton<MqttConnection>();
        services.AddHealthChecks().AddCheck<MqttHealthCheck>("mqtt", tags: [Hosting.Probes.Ready]);
        services.AddHostedService(sp => sp.GetRequiredService<MqttConnection>());
        services.AddSingleton<MqttObserved>();
        services.AddSingleton<IGaugeSource>(sp => sp.GetRequiredService<MqttObserved>());
        services.AddSingleton<ISummaryPart>(sp => sp.GetRequiredService<MqttObserved>());
        return services;
    }

    /// <summary>TLS files are read at every connect; a path that is wrong at start is a configuration error, not a retry loop.</summary>
    private sealed class MqttTlsCheck : IValidateOptions<MqttOptions>
    {
        public ValidateOptionsResult Validate(string? name, MqttOptions options)
        {
            var tls = options.Tls;
            if (!options.Enabled || !tls.Enabled) return ValidateOptionsResult.Success;
            var problems = new List<string>();
            if (!string.IsNullOrEmpty(tls.CaFile) && !Tls.SiteCertificateAuthority.TryLoad(tls.CaFile, out _, out var caError))
                problems.Add($"Mqtt:Tls:CaFile: {caError}");
            if (string.IsNullOrEmpty(tls.CertFile) != string.IsNullOrEmpty(tls.KeyFile))
                problems.Add("Mqtt:Tls:CertFile and Mqtt:Tls:KeyFile must be set together");
            foreach (var (key, file) in new[] { ("CertFile", tls.CertFile), ("KeyFile", tls.KeyFile) })
                if (!string.IsNullOrEmpty(file) && !Readable(file, out var why))
                    problems.Add($"Mqtt:Tls:{key}: {file}: {why}");
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }

        private static bool Readable(string file, out string why)
        {
            try
            {
                using var _ = File.OpenRead(file);
                why = "";
                return true;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                why = ex.Message;
                return false;
            }
        }
    }
}
