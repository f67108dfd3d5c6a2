using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;
using PiOrchestrator.Sessions;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// The agent's door-to-evidence core, composed from its own feature extensions, over a real SQLite file and a
/// fake camera over real HTTP. Door events are posted straight to the engine (MQTT is tested end to end elsewhere).
/// </summary>
public sealed class EngineHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private EngineHarness(ServiceProvider services, string dataDirectory, CapturingLoggerProvider logs)
    {
        _services = services;
        DataDirectory = dataDirectory;
        Logs = logs;
    }

    public string DataDirectory { get; }
    public IServiceProvider Services => _services;
    public SessionEngine Engine => _services.GetRequiredService<SessionEngine>();
    public EvidenceStore Store => _services.GetRequiredService<EvidenceStore>();
    public CapturingLoggerProvider Logs { get; }

    public static async Task<EngineHarness> StartAsync(string dataDirectory, IDictionary<string, string?> settings, TimeProvider? time = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Storage:DataDirectory"] = dataDirectory,
            ["Capture:AfterCloseDelayMs"] = "50",
            ["Capture:TimeoutMs"] = "2000",
            // The state machine's own tests send sequences faster than a site would; merging has its own tests.
            ["Doors:MergeWindowMs"] = "0",
        };
        foreach (var (k, v) in settings) all[k] = v;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(all).Build();
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug))
            .AddSite()
            .AddStore()
            .AddEvidence()
            .AddCapture()
            .AddSessions()
            .AddDoors()
            .AddSingleton(time ?? TimeProvider.System)
            .BuildServiceProvider();
        var harness = new EngineHarness(services, dataDirectory, logs);
        await harness.Engine.StartAsync(CancellationToken.None);
        return harness;
    }

    /// <summary>A container's settings; <paramref name="flushFrames"/> null leaves the agent to tell stale frames itself.</summary>
    public static Dictionary<string, string?> Container(string id, string cameraUrl, int index = 0, int? flushFrames = 0)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Containers:{index}:Id"] = id,
            [$"Containers:{index}:CameraId"] = $"espcam-{id}",
            [$"Containers:{index}:CameraUrl"] = cameraUrl,
        };
        if (flushFrames is { } flush) settings[$"Containers:{index}:FlushFrames"] = flush.ToString();
        return settings;
    }

    public void Post(string containerId, DoorEventKind kind, string? eventId = null, string? sessionId = null) =>
        Engine.Post(new DoorEvent(containerId, kind, DoorEventSource.Mqtt, DateTimeOffset.UtcNow, eventId, sessionId));

    public Task<SessionRecord> WaitForSessionAsync(string containerId, Func<SessionRecord, bool> condition, string what) =>
        Eventually.UntilAsync(() => Task.FromResult(
            Store.ListSessions(containerId, null, false, null, 100).Sessions.FirstOrDefault(condition)), TimeSpan.FromSeconds(20), what);

    public Task<SessionRecord> WaitForCompleteAsync(string containerId) =>
        WaitForSessionAsync(containerId, s => s.Phase == SessionPhase.Complete, $"a complete session of {containerId}");

    public List<SessionRecord> Sessions(string containerId) => Store.ListSessions(containerId, null, false, null, 100).Sessions.ToList();

    public async ValueTask DisposeAsync()
    {
        await Engine.StopAsync(CancellationToken.None);
        await _services.DisposeAsync();
    }
}
