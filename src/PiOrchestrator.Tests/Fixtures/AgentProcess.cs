using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>The built agent started as a process, configured the way a site would: PIORCH_ variables.</summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Process _process;

    private AgentProcess(Process process, int port, string build)
    {
        _process = process;
        Port = port;
        var address = new Uri($"http://127.0.0.1:{port}");
        // Every answer this client receives is checked against the document this build of the agent serves, read
        // from another source address so that it takes nothing from this client's rate budget.
        Http = new HttpClient(new OpenApiContractHandler(() => OpenApiContract.LoadAsync(build,
            () => new HttpClient(SourceHandler("127.0.0.254")) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) }))
        {
            InnerHandler = new SocketsHttpHandler(),
        }) { BaseAddress = address };
    }

    public int Port { get; }
    public HttpClient Http { get; }
    public string Output { get { lock (_output) return _output.ToString(); } }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>The agent's own build output, next to this test build (same configuration).</summary>
    public static string AgentDll
    {
        get
        {
            var testDir = AppContext.BaseDirectory;
            var configuration = new DirectoryInfo(testDir).Parent!.Name; // bin/<Configuration>/net10.0/
            var root = new DirectoryInfo(testDir);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Nexbasira.Edge.sln"))) root = root.Parent;
            if (root is null) throw new InvalidOperationException("repository root not found above " + testDir);
            var dll = Path.Combine(root.FullName, "src", "PiOrchestrator", "bin", configuration, "net10.0", "PiOrchestrator.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("build the agent first", dll);
        }
    }

    /// <summary>
    /// How the agent is started: <c>dotnet PiOrchestrator.dll</c>, or, when PIORCH_TEST_AGENT names one, a native
    /// (ahead-of-time compiled) build of it, as scripts/test.sh runs the process tests a second time.
    /// </summary>
    public static (string File, string[] LeadingArgs) Command =>
        System.Environment.GetEnvironmentVariable("PIORCH_TEST_AGENT") is { Length: > 0 } native ? (native, []) : ("dotnet", [AgentDll]);

    /// <summary>
    /// The settings most process tests start from: one container (ctr-001) on <paramref name="camera"/>, MQTT to
    /// <paramref name="broker"/> under a fresh client id, and, given <paramref name="s3"/>, uploads to its bucket
    /// "evidence". Tests add or override their own.
    /// </summary>
    public static Dictionary<string, string> OneContainerEnvironment(string dataDirectory, MosquittoBroker broker, FakeCamera camera,
        S3Server? s3 = null, string clientIdPrefix = "piorch-test")
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = dataDirectory,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = clientIdPrefix + "-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
        };
        if (s3 is not null)
        {
            environment["PIORCH_S3__Endpoint"] = s3.Endpoint;
            environment["PIORCH_S3__Bucket"] = "evidence";
            environment["PIORCH_S3__AccessKey"] = S3Server.AccessKey;
            environment["PIORCH_S3__SecretKey"] = S3Server.SecretKey;
        }
        return environment;
    }

    public static AgentProcess Start(IDictionary<string, string> environment, int? port = null, params string[] args) =>
        StartCommand(Command.File, Command.LeadingArgs, environment, port, args);

    /// <summary>The agent started by <paramref name="file"/> <paramref name="leadingArgs"/> (a packaged executable, an emulator).</summary>
    public static AgentProcess StartCommand(string file, IEnumerable<string> leadingArgs, IDictionary<string, string> environment, int? port = null, params string[] args)
    {
        var listen = port ?? TestPorts.Free();
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in leadingArgs) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{listen}");
        foreach (var a in args) start.ArgumentList.Add(a);
        // No site file from the machine running the tests.
        start.Environment["PIORCH_CONFIG_FILE"] = "/nonexistent/piorchestrator.json";
        // Nor systemd's variables, should the tests themselves run under a unit: a test gives them when it means to.
        foreach (var variable in new[] { "INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID" })
            start.Environment.Remove(variable);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("agent did not start");
        var agent = new AgentProcess(process, listen, string.Join(" ", [file, .. leadingArgs]));
        process.OutputDataReceived += (_, e) => agent.Append(e.Data);
        process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return agent;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    public async Task WaitReadyAsync(TimeSpan? timeout = null)
    {
        await Eventually.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"agent exited with {_process.ExitCode}:\n{Output}");
            using var response = await Http.GetAsync("/readyz");
            return response.IsSuccessStatusCode;
        }, timeout ?? TimeSpan.FromSeconds(30), "the agent to be ready");
    }

    public Task WaitForOutputAsync(string text, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(() => Output.Contains(text, StringComparison.Ordinal), timeout ?? TimeSpan.FromSeconds(20), $"agent output '{text}'");

    /// <summary>
    /// A client whose connections come from <paramref name="sourceAddress"/> (any 127.x.y.z is this machine on Linux),
    /// for allow-list and per-client limits: to the agent it is another host.
    /// </summary>
    public HttpClient ClientFrom(string sourceAddress) => new(SourceHandler(sourceAddress)) { BaseAddress = Http.BaseAddress };

    private static SocketsHttpHandler SourceHandler(string sourceAddress) => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(sourceAddress), 0));
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        },
    };

    public async Task<JsonElement> GetDataAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{path} answered {(int)response.StatusCode}: {body}");
        return body.GetProperty("data");
    }

    /// <summary>SIGKILL: no shutdown code runs, as with a power cut of the process.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as systemd stops a service (or <paramref name="signal"/>: INT is Ctrl+C).</summary>
    public async Task<int> StopAsync(string signal = "TERM")
    {
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-" + signal, _process.Id.ToString()])!.WaitForExit();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        return _process.ExitCode;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        Http.Dispose();
    }
}
