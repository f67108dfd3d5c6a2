namespace PiOrchestrator.Tests.Fixtures;

/// <summary>A test class's own in-process agent (real Kestrel, SQLite in a temp directory) with one fake camera, per test.</summary>
public abstract class AgentWithCameraTests : IAsyncLifetime
{
    protected FakeCamera Camera { get; private set; } = null!;
    protected AgentApplication App { get; private set; } = null!;
    protected HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Camera = await FakeCamera.StartAsync();
        App = new AgentApplication(Camera.Url);
        Http = App.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.DisposeAsync();
        await Camera.DisposeAsync();
    }
}
