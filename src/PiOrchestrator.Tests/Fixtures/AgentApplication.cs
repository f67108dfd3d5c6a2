using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Doors;
using PiOrchestrator.Store;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>The whole agent in-process (TestServer) with a temp data directory; MQTT off, doors posted directly.</summary>
public sealed class AgentApplication : WebApplicationFactory<Program>
{
    private readonly TempDirectory _data = new();
    private readonly Dictionary<string, string?> _settings;

    public AgentApplication(string cameraUrl, IDictionary<string, string?>? settings = null)
    {
        _settings = new Dictionary<string, string?>
        {
            ["Storage:DataDirectory"] = _data.Path,
            ["Mqtt:Enabled"] = "false",
            ["Capture:AfterCloseDelayMs"] = "50",
            ["Capture:TimeoutMs"] = "2000",
            ["Containers:0:Id"] = "ctr-001",
            ["Containers:0:CameraId"] = "espcam-a1b2c3",
            ["Containers:0:CameraUrl"] = cameraUrl,
            ["Containers:0:FlushFrames"] = "0",
            ["Containers:1:Id"] = "ctr-002",
            ["Containers:1:CameraId"] = "espcam-d4e5f6",
            ["Containers:1:CameraUrl"] = cameraUrl,
            ["Containers:1:FlushFrames"] = "0",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) _settings[k] = v;
    }

    public OffsetTimeProvider Time { get; } = new();

    public CapturingLoggerProvider Logs { get; } = new();

    /// <summary>Stand-ins registered after the agent's own services (a part no test can control, such as the clock state).</summary>
    public Action<IServiceCollection>? TestServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(_settings));
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
        builder.ConfigureServices(services => services.Replace(ServiceDescriptor.Singleton<TimeProvider>(Time)));
        if (TestServices is not null) builder.ConfigureServices(TestServices);
    }

    public EvidenceStore Store => Services.GetRequiredService<EvidenceStore>();

    /// <summary>A client whose every answer is checked against the OpenAPI document the app serves (OpenApiContract).</summary>
    public new HttpClient CreateClient() =>
        CreateDefaultClient(new Uri("http://localhost"), new Microsoft.AspNetCore.Mvc.Testing.Handlers.RedirectHandler(),
            new OpenApiContractHandler(() => OpenApiContract.LoadAsync("in-process", () => Server.CreateClient())));

    public void Post(string containerId, DoorEventKind kind, string? sessionId = null) =>
        Services.GetRequiredService<IDoorEventSink>().Post(new DoorEvent(containerId, kind, DoorEventSource.Mqtt, DateTimeOffset.UtcNow, SessionId: sessionId));

    /// <summary>Runs a whole door cycle and returns the completed session's id.</summary>
    public async Task<string> DoorCycleAsync(string containerId = "ctr-001", string? sessionId = null)
    {
        var before = Store.ListSessions(containerId, SessionPhase.Complete, false, null, 100).Sessions.Count;
        Post(containerId, DoorEventKind.Opened, sessionId);
        Post(containerId, DoorEventKind.Closed);
        var session = await Eventually.UntilAsync(() =>
        {
            var complete = Store.ListSessions(containerId, SessionPhase.Complete, false, null, 100).Sessions;
            return Task.FromResult(complete.Count > before ? complete[0] : null);
        }, TimeSpan.FromSeconds(20), "a door cycle to complete");
        return session.SessionId;
    }

    public static async Task<JsonElement> Json(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>();

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _data.Dispose();
    }
}
