using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Evidence;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using PiOrchestrator.Systemd;
using PiOrchestrator.Tests.Fixtures;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>How the agent's run ends: the exit code is what systemd's Restart= and RestartPreventExitStatus= go by.</summary>
public class AgentRunnerTests
{
    /// <summary>A loop that fails with an error nobody handles, as a bug in any of the agent's loops would.</summary>
    private sealed class BrokenLoop : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new InvalidOperationException("a bug in the loop");
        }
    }

    [Fact]
    public async Task A_loop_that_fails_stops_the_agent_with_a_non_zero_exit_and_one_critical_line_naming_it()
    {
        using var data = new TempDirectory();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:DataDirectory"] = data.Path });
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.Services.AddSite().AddStore().AddEvidence().AddUpload().AddHostedService<BrokenLoop>();
        await using var app = builder.Build();

        var exit = await app.RunAgentAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(AgentRunner.LoopFailed, exit);
        Assert.NotEqual(0, exit);
        Assert.Single(logs.At(LogLevel.Critical), m => m.Contains(nameof(BrokenLoop)) && m.Contains("a bug in the loop"));
    }
}
