using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using MQTTnet;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// A real Debian mosquitto on a free loopback port, with persistence so a client's session (and its queued
/// QoS 1 messages) survives a broker restart. Publishing goes through the real mosquitto_pub client.
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    public const string Executable = "/usr/sbin/mosquitto";

    private readonly TempDirectory _dir = new();
    private readonly StringBuilder _log = new();
    private Process? _process;

    private readonly (TestCertificates Certificates, string ServerCert)? _tls;

    private readonly (string User, string Password)? _login;

    private MosquittoBroker((TestCertificates, string)? tls = null, (string, string)? login = null) => (_tls, _login) = (tls, login);

    /// <summary>A broker that refuses anonymous clients: only <paramref name="user"/> with <paramref name="password"/> gets in.</summary>
    public static async Task<MosquittoBroker> StartWithLoginAsync(string user, string password)
    {
        var broker = new MosquittoBroker(login: (user, password));
        await broker.LaunchAsync();
        return broker;
    }

    public int Port { get; } = TestPorts.Free();

    /// <summary>TLS listener (server certificate only) when started with <see cref="StartTlsAsync"/>.</summary>
    public int TlsPort { get; } = TestPorts.Free();

    /// <summary>TLS listener that requires a client certificate signed by the site CA.</summary>
    public int MutualTlsPort { get; } = TestPorts.Free();
    public string Log { get { lock (_log) return _log.ToString(); } }

    public static async Task<MosquittoBroker> StartAsync()
    {
        var broker = new MosquittoBroker();
        await broker.LaunchAsync();
        return broker;
    }

    /// <summary>
    /// A broker with, besides its plain listener, two TLS listeners presenting <paramref name="serverCert"/>
    /// (signed by the test CA unless chosen otherwise): <see cref="TlsPort"/> and <see cref="MutualTlsPort"/>.
    /// </summary>
    public static async Task<MosquittoBroker> StartTlsAsync(TestCertificates certificates, string serverCert)
    {
        var broker = new MosquittoBroker((certificates, serverCert));
        await broker.LaunchAsync();
        return broker;
    }

    /// <summary>A broker with its port chosen but not running yet (for "broker down at start").</summary>
    public static MosquittoBroker NotStarted() => new();

    public async Task LaunchAsync()
    {
        var config = Path.Combine(_dir.Path, "mosquitto.conf");
        var access = "allow_anonymous true";
        if (_login is { } login)
        {
            var passwords = Path.Combine(_dir.Path, "passwords");
            await RunClientAsync("mosquitto_passwd", ["-b", "-c", passwords, login.User, login.Password]);
            access = $"allow_anonymous false\npassword_file {passwords}";
        }
        await File.WriteAllTextAsync(config, $"""
            listener {Port} 127.0.0.1
            {access}
            # Started as root, mosquitto would drop to its own user and could not write persistence here.
            user root
            persistence true
            persistence_location {_dir.Path}/
            autosave_interval 1
            # As a site broker should be set up (README): no Nagle delay on messages to the agent.
            set_tcp_nodelay true
            log_dest stderr
            log_type error
            log_type warning
            log_type notice
            log_type information
            {TlsListeners()}
            """);
        var start = new ProcessStartInfo(Executable, ["-c", config])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("mosquitto did not start");
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        await Eventually.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"mosquitto exited: {Log}");
            using var tcp = new TcpClient();
            try { await tcp.ConnectAsync("127.0.0.1", Port); return true; }
            catch (SocketException) { return false; }
        }, TimeSpan.FromSeconds(15), "mosquitto to listen");
    }

    private string TlsListeners()
    {
        if (_tls is not { } tls) return "";
        var (certificates, serverCert) = tls;
        var common = $"cafile {certificates.CaFile}\ncertfile {serverCert}\nkeyfile {certificates.ServerKey}\n";
        return $"listener {TlsPort} 127.0.0.1\n{common}listener {MutualTlsPort} 127.0.0.1\n{common}require_certificate true\n";
    }

    /// <summary>Stops the broker (SIGTERM: it saves its persistence file).</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        Process.Start("kill", ["-TERM", _process.Id.ToString()])!.WaitForExit();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>SIGSTOP: the broker's sockets stay open and its listen queue still accepts, but nothing answers.</summary>
    public void Freeze() => Signal("STOP");

    public void Thaw() => Signal("CONT");

    private void Signal(string signal) => Process.Start("kill", [$"-{signal}", _process!.Id.ToString()])!.WaitForExit();

    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    /// <summary>Publishes with the real mosquitto_pub client; throws if the broker refused it.</summary>
    public async Task PublishAsync(string topic, string payload, int qos = 1, bool retain = false)
    {
        var args = new List<string> { "-h", "127.0.0.1", "-p", Port.ToString(), "-q", qos.ToString(), "-t", topic, "-m", payload };
        if (_login is { } login) args.AddRange(["-u", login.User, "-P", login.Password]);
        if (retain) args.Add("-r");
        await RunClientAsync("mosquitto_pub", args);
    }

    /// <summary>
    /// An MQTTnet client of the test's own on the plain listener (clean session), for publishing many messages
    /// quickly or from inside the test process.
    /// </summary>
    public async Task<IMqttClient> ConnectClientAsync(string clientId)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Port).WithClientId(clientId).WithCleanSession()
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311);
        if (_login is { } login) options.WithCredentials(login.User, login.Password);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.ConnectAsync(options.Build(), timeout.Token);
        return client;
    }

    /// <summary>Publishes raw bytes from a file (for payloads that are not text).</summary>
    public async Task PublishBytesAsync(string topic, byte[] payload, int qos = 1)
    {
        var file = Path.Combine(_dir.Path, $"payload-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(file, payload);
        await RunClientAsync("mosquitto_pub", ["-h", "127.0.0.1", "-p", Port.ToString(), "-q", qos.ToString(), "-t", topic, "-f", file]);
    }

    /// <summary>
    /// Starts a real mosquitto_sub on <paramref name="topic"/> and returns once it is subscribed; the task gives the
    /// first <paramref name="count"/> messages as "topic payload" lines (retained ones included).
    /// </summary>
    public async Task<Task<string[]>> SubscribeAsync(string topic, int count, TimeSpan timeout)
    {
        // stdbuf: mosquitto_sub writes through stdio, which holds a pipe's output until exit otherwise.
        var start = new ProcessStartInfo("stdbuf", ["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", Port.ToString(), "-q", "1", "-v", "-d",
            "-t", topic, "-C", count.ToString(), "-W", ((int)timeout.TotalSeconds).ToString()])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var process = Process.Start(start)!;
        var lines = new List<string>();
        var subscribed = new TaskCompletionSource();
        var done = new TaskCompletionSource<string[]>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { done.TrySetResult(lines.Where(l => !l.StartsWith("Client ", StringComparison.Ordinal) && !l.StartsWith("Subscribed (", StringComparison.Ordinal)).ToArray()); return; }
            lock (lines) lines.Add(e.Data);
            if (e.Data.Contains("SUBACK", StringComparison.Ordinal)) subscribed.TrySetResult();
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return done.Task;
    }

    private static async Task RunClientAsync(string tool, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(tool, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} failed ({process.ExitCode}): {await stderr}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        _dir.Dispose();
    }
}
