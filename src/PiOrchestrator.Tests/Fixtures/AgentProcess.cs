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
    private readonly string _build;
    private readonly List<string> _serverErrors = [];

    /// <summary>The agents started in the running test's flow, so that a wait that times out can say how they fared.</summary>
    private static readonly AsyncLocal<AgentProcess[]> StartedInThisTest = new();

    private AgentProcess(Process process, int port, string build)
    {
        _process = process;
        _build = build;
        Port = port;
        var address = new Uri($"http://127.0.0.1:{port}");
        // Every answer this client receives is checked against the document this build of the agent serves, read
        // from another source address so that it takes nothing from this client's rate budget.
        Http = new HttpClient(new OpenApiContractHandler(() => OpenApiContract.LoadAsync(build,
            () => new HttpClient(SourceHandler("127.0.0.254")) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) }))
        {
            InnerHandler = new AgentFailureHandler(this) { InnerHandler = new SocketsHttpHandler() },
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
        StartedInThisTest.Value = [.. StartedInThisTest.Value ?? [], agent];
        return agent;
    }

    /// <summary>How each agent the running test started is doing, for the message of a wait that timed out ("" when none).</summary>
    public static string DiagnosticsOfThisTest() =>
        string.Concat((StartedInThisTest.Value ?? []).Select(agent => "\n" + agent.Diagnostics()));

    /// <summary>
    /// Whether the agent runs or how it exited, the server errors it answered and its last log lines: what a failure
    /// message needs to tell a crashed agent or a storm of 500s from a slow one.
    /// </summary>
    public string Diagnostics(int lines = 40)
    {
        // An exited process's last lines may still be on their way from its pipes.
        if (_process.HasExited) _process.WaitForExit(5000);
        var state = _process.HasExited ? $"exited with code {_process.ExitCode}" : "running";
        string errors;
        lock (_serverErrors)
            errors = _serverErrors.Count == 0 ? "no 5xx answers" : $"{_serverErrors.Count} 5xx answers, the last: {_serverErrors[^1]}";
        var log = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return $"[agent `{_build}` (pid {_process.Id}) {state}; {errors}; its last {Math.Min(lines, log.Length)} of {log.Length} log lines:\n"
            + string.Join("\n", log.TakeLast(lines)) + "\n]";
    }

    /// <summary>
    /// Between the test's clients and the agent: a 500 (never a deliberate answer) fails the test at once, and so does
    /// any request once the agent has exited, each with the agent's diagnostics; a failed request to a running agent
    /// carries them in its message; deliberate 5xx answers (503 busy, 502 S3 down) are remembered for the diagnostics.
    /// </summary>
    private sealed class AgentFailureHandler(AgentProcess agent) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var what = $"{request.Method} {request.RequestUri?.PathAndQuery}";
            if (agent.HasExited) throw new AgentFailedException($"{what}: the agent is not running. {agent.Diagnostics()}");
            HttpResponseMessage response;
            try
            {
                response = await base.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                if (agent.HasExited) throw new AgentFailedException($"{what}: {ex.Message}; the agent is not running. {agent.Diagnostics()}", ex);
                throw new HttpRequestException($"{ex.Message} {agent.Diagnostics(10)}", ex, ex.StatusCode);
            }
            if ((int)response.StatusCode < 500) return response;
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var answer = $"{what} -> {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";
            lock (agent._serverErrors) agent._serverErrors.Add(answer);
            if (response.StatusCode == System.Net.HttpStatusCode.InternalServerError)
                throw new AgentFailedException($"the agent failed a request: {answer} {agent.Diagnostics()}");
            return response;
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>
    /// An agent is ready in well under a second on an idle machine, yet took 14 s beside two busy loops while the
    /// suite ran (scripts/test.sh lists such waits): the deadline only catches one that never gets there.
    /// </summary>
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(90);

    public async Task WaitReadyAsync(TimeSpan? timeout = null)
    {
        await Eventually.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new AgentFailedException($"the agent exited before it was ready. {Diagnostics(200)}");
            using var response = await Http.GetAsync("/readyz");
            return response.IsSuccessStatusCode;
        }, timeout ?? ReadyDeadline, "the agent to be ready");
    }

    public Task WaitForOutputAsync(string text, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(() =>
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return true;
            // Read again after seeing the exit: the process's last lines may have arrived in between.
            if (_process.HasExited && _process.WaitForExit(5000) && !Output.Contains(text, StringComparison.Ordinal))
                throw new AgentFailedException($"the agent exited without writing '{text}'. {Diagnostics()}");
            return false;
        }, timeout ?? TimeSpan.FromSeconds(20), $"agent output '{text}'");

    /// <summary>
    /// A client whose connections come from <paramref name="sourceAddress"/> (any 127.x.y.z is this machine on Linux),
    /// for allow-list and per-client limits: to the agent it is another host.
    /// </summary>
    public HttpClient ClientFrom(string sourceAddress) =>
        new(new AgentFailureHandler(this) { InnerHandler = SourceHandler(sourceAddress) }) { BaseAddress = Http.BaseAddress };

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

/// <summary>The agent under test crashed or failed a request: not worth waiting on, so not retried by <see cref="Eventually"/>.</summary>
public sealed class AgentFailedException(string message, Exception? inner = null) : Exception(message, inner);
