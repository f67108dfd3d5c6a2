using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Site;

public static class SiteExtensions
{
    /// <summary>Default path of the site's configuration file; PIORCH_CONFIG_FILE points elsewhere.</summary>
    public const string EtcConfigFile = "/etc/piorchestrator/appsettings.json";

    public static string ConfigFile => Environment.GetEnvironmentVariable("PIORCH_CONFIG_FILE") is { Length: > 0 } file ? file : EtcConfigFile;

    /// <summary>
    /// appsettings.json, then the site file under /etc, then PIORCH_ variables, then systemd credentials, then the
    /// command line: each overrides the ones before.
    /// </summary>
    public static WebApplicationBuilder AddAgentConfiguration(this WebApplicationBuilder builder, string[] args)
    {
        builder.Configuration.AddJsonFile(ConfigFile, optional: true, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables("PIORCH_");
        builder.Configuration.AddSystemdCredentials(Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY"));
        builder.Configuration.AddCommandLine(args);
        return builder;
    }

    public static IServiceCollection AddSite(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<LoopHeartbeats>();
        services.AddOptions<AgentIdentity>().BindConfiguration("Mqtt");
        services.AddOptions<SiteOptions>()
            .Configure<IConfiguration>((site, configuration) => configuration.GetSection("Containers").Bind(site.Containers))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<SiteOptions>, SiteOptionsValidator>();
        return services;
    }
}
