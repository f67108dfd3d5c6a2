using System.Net.Sockets;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Systemd;

public static class AgentRunner
{
    /// <summary>EX_CONFIG from sysexits.h: the unit does not restart on it (RestartPreventExitStatus=78).</summary>
    public const int ConfigurationError = 78;

    /// <summary>EX_SOFTWARE from sysexits.h: a loop failed with an error nothing handled; systemd restarts the agent.</summary>
    public const int LoopFailed = 70;

    /// <summary>Runs the agent; a bad configuration is one line per problem and exit 78, not a stack trace.</summary>
    public static async Task<int> RunAgentAsync(this WebApplication app)
    {
        try
        {
            // Every ValidateOnStart check at once, before any service is built, so all problems show together.
            app.Services.GetRequiredService<IStartupValidator>().Validate();
            app.Lifetime.ApplicationStarted.Register(() => LogStart(app));
            // Taken before the run: the host is disposed when RunAsync returns.
            var loops = app.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToList();
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PiOrchestrator");
            try
            {
                await app.RunAsync();
            }
            catch (OperationCanceledException) when (loops.Any(l => l.ExecuteTask is { IsFaulted: true }))
            {
                // A loop failed while the host was still starting: the start was called off for it.
            }
            return ExitCode(loops, log);
        }
        catch (Exception ex) when (ex is OptionsValidationException or AggregateException { InnerExceptions: [OptionsValidationException, ..] })
        {
            var failures = ex is AggregateException all
                ? all.InnerExceptions.OfType<OptionsValidationException>().SelectMany(e => e.Failures)
                : ((OptionsValidationException)ex).Failures;
            foreach (var failure in failures)
                Console.Error.WriteLine($"piorchestrator: configuration error: {Readable(failure)}");
            return ConfigurationError;
        }
        catch (ConfigurationException ex)
        {
            Console.Error.WriteLine($"piorchestrator: configuration error: {ex.Message}");
            return ConfigurationError;
        }
        catch (IOException ex) when (ex.InnerException is SocketException or null && ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"piorchestrator: cannot listen: {ex.Message} (another process has the port; choose one with --urls)");
            return 1;
        }
    }

    /// <summary>
    /// 0 only for a deliberate stop. A loop that failed with an error nothing handled stops the host (StopHost); the
    /// process must then exit non-zero, or systemd would take the stop as deliberate and leave the site without an agent.
    /// </summary>
    private static int ExitCode(List<BackgroundService> loops, ILogger log)
    {
        var failed = loops.Where(l => l.ExecuteTask is { IsFaulted: true }).ToList();
        foreach (var loop in failed)
            log.LogCritical("Loop {Loop} failed: {Error}; exiting with {ExitCode} so that systemd restarts the agent",
                loop.GetType().Name, loop.ExecuteTask!.Exception!.GetBaseException().Message, LoopFailed);
        return failed.Count > 0 ? LoopFailed : 0;
    }

    /// <summary>"DataAnnotation validation failed for 'CaptureOptions' members: 'Attempts' with the error: '…'." → "Capture:Attempts: …"</summary>
    private static string Readable(string failure)
    {
        var match = System.Text.RegularExpressions.Regex.Match(failure,
            "^DataAnnotation validation failed for '(?<type>\\w+?)(Options)?' members: '(?<member>[^']+)' with the error: '(?<message>.*)'\\.?$");
        return match.Success ? $"{match.Groups["type"].Value}:{match.Groups["member"].Value}: {match.Groups["message"].Value}" : failure;
    }

    private static void LogStart(WebApplication app)
    {
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PiOrchestrator");
        var site = app.Services.GetRequiredService<IOptions<SiteOptions>>().Value;
        var store = app.Services.GetRequiredService<EvidenceStore>();
        var configFile = File.Exists(SiteExtensions.ConfigFile) ? SiteExtensions.ConfigFile : "none (embedded defaults)";
        log.LogInformation("PiOrchestrator {Version} listening on {Urls}; site config {ConfigFile}; data {DataDirectory}; containers: {Containers}",
            AgentVersion.Current, string.Join(", ", app.Urls), configFile, store.DataDirectory,
            site.Containers.Count == 0 ? "none configured" : string.Join(", ", site.Containers.Select(c => $"{c.Id} (camera {c.CameraId})")));
    }
}
