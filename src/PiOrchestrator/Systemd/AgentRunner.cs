using System.Net.Sockets;
using Microsoft.Extensions.Options;
using PiOrchestrator.Api;
using PiOrchestrator.Evidence;
using PiOrchestrator.Site;

namespace PiOrchestrator.Systemd;

public static class AgentRunner
{
    /// <summary>EX_CONFIG from sysexits.h: the unit does not restart on it (RestartPreventExitStatus=78).</summary>
    public const int ConfigurationError = 78;

    /// <summary>Runs the agent; a bad configuration is one line per problem and exit 78, not a stack trace.</summary>
    public static async Task<int> RunAgentAsync(this WebApplication app)
    {
        try
        {
            app.Lifetime.ApplicationStarted.Register(() => LogStart(app));
            await app.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            foreach (var failure in ex.Failures)
                Console.Error.WriteLine($"piorchestrator: configuration error: {failure}");
            return ConfigurationError;
        }
        catch (IOException ex) when (ex.InnerException is SocketException or null && ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"piorchestrator: cannot listen: {ex.Message} (another process has the port; choose one with --urls)");
            return 1;
        }
    }

    private static void LogStart(WebApplication app)
    {
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PiOrchestrator");
        var site = app.Services.GetRequiredService<IOptions<SiteOptions>>().Value;
        var store = app.Services.GetRequiredService<EvidenceStore>();
        var configFile = File.Exists(SiteExtensions.ConfigFile) ? SiteExtensions.ConfigFile : "none (embedded defaults)";
        log.LogInformation("PiOrchestrator {Version} listening on {Urls}; site config {ConfigFile}; data {DataDirectory}; containers: {Containers}",
            StatusApi.Version, string.Join(", ", app.Urls), configFile, store.DataDirectory,
            site.Containers.Count == 0 ? "none configured" : string.Join(", ", site.Containers.Select(c => $"{c.Id} (camera {c.CameraId})")));
    }
}
