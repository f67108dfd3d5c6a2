using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Mqtt;

namespace PiOrchestrator.Bench;

internal static class BenchTools
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Nexbasira.Edge.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("run from the repository");
        }
    }

    /// <summary>
    /// An MQTTnet client on the broker, reading through the agent's own transport (<see cref="MqttTransport"/>: a
    /// TCP stream resuming on the thread pool), so a baseline reads messages the way the agent does.
    /// </summary>
    public static async Task<IMqttClient> ConnectMqttAsync(int brokerPort, string clientId)
    {
        var transport = new MqttTransport(new MqttOptions { Host = "127.0.0.1", Port = brokerPort }, TimeProvider.System);
        var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", brokerPort).WithStreamProvider(transport)
            .WithClientId(clientId).WithCleanSession().WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311).Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.ConnectAsync(options, timeout.Token);
        return client;
    }

    /// <summary>A QoS 1 publish; the task ends with the broker's PUBACK.</summary>
    public static Task PublishAsync(IMqttClient client, string topic, string payload) =>
        client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>s3rver 5.0.0 from test-tools (scripts/test.sh installs it).</summary>
    public static async Task<Process> StartS3rverAsync(string directory, int port)
    {
        var script = Path.Combine(RepoRoot, "test-tools", "s3rver5.js");
        var p = Process.Start(new ProcessStartInfo("node", [script, "-d", directory, "-a", "127.0.0.1", "-p", port.ToString(), "--silent"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return p;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new InvalidOperationException("s3rver did not start");
    }

    /// <summary>A real JPEG of about the given size (noise keeps it from compressing away).</summary>
    public static byte[] Jpeg(int targetKilobytes, int seed = 1)
    {
        var width = 800;
        var height = 600;
        while (true)
        {
            var rgb = new byte[width * height * 3];
            new Random(seed).NextBytes(rgb);
            var jpeg = JpegCodec.Encode(rgb, width, height, quality: 70);
            if (jpeg.Length >= targetKilobytes * 1024 * 9 / 10 || width > 4000) return jpeg;
            width += 200;
            height += 150;
        }
    }

    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>A real mosquitto on a free loopback port (the caller kills it).</summary>
    public static async Task<(Process Broker, int Port)> StartMosquittoAsync(string directory)
    {
        var port = FreePort();
        var config = Path.Combine(directory, "mosquitto.conf");
        await File.WriteAllTextAsync(config, $"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n");
        var broker = Process.Start(new ProcessStartInfo("/usr/sbin/mosquitto", ["-c", config]) { RedirectStandardError = true, UseShellExecute = false })!;
        await WaitListeningAsync(port);
        return (broker, port);
    }

    public static async Task WaitListeningAsync(int port)
    {
        for (var i = 0; i < 400; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new InvalidOperationException($"nothing listens on {port}");
    }

    /// <summary>Resident set size of a process in MB, from /proc.</summary>
    public static double RssMegabytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return double.NaN;
    }

    /// <summary>
    /// CPU time (user + system) a process and its children (nginx's workers) have used so far, in seconds, from /proc.
    /// </summary>
    public static double CpuSeconds(int pid)
    {
        // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var seconds = (long.Parse(fields[11]) + long.Parse(fields[12])) / (double)ClockTicksPerSecond;
        foreach (var child in File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            seconds += CpuSeconds(int.Parse(child));
        return seconds;
    }

    // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    private const int ClockTicksPerSecond = 100;

    /// <summary>
    /// The agent under test: the Release build under dotnet, or the native build PIORCH_BENCH_AGENT names
    /// (scripts/cross-publish.sh linux-x64 --native).
    /// </summary>
    public static ProcessStartInfo AgentStartInfo(string url)
    {
        var start = Environment.GetEnvironmentVariable("PIORCH_BENCH_AGENT") is { Length: > 0 } native
            ? new ProcessStartInfo(native, ["--urls", url])
            : new ProcessStartInfo("dotnet", [Path.Combine(RepoRoot, "src", "PiOrchestrator", "bin", "Release", "net10.0", "PiOrchestrator.dll"), "--urls", url]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        return start;
    }

    /// <summary>Which build <see cref="AgentStartInfo"/> runs, for the report.</summary>
    public static string AgentBuild => Environment.GetEnvironmentVariable("PIORCH_BENCH_AGENT") is { Length: > 0 } ? "native" : "jit";

    /// <summary>
    /// The built agent as a process on <paramref name="port"/> for one container, MQTT to the bench's broker, with the
    /// given settings on top. AGENT_X=1 in the bench's environment becomes X=1 for the agent alone (to try runtime
    /// settings on it).
    /// </summary>
    public static Process StartAgent(string work, int port, int brokerPort, string cameraUrl, IReadOnlyDictionary<string, string> settings)
    {
        var start = AgentStartInfo($"http://127.0.0.1:{port}");
        start.Environment["PIORCH_CONFIG_FILE"] = "/nonexistent.json";
        start.Environment["PIORCH_Storage__DataDirectory"] = Path.Combine(work, "data");
        start.Environment["PIORCH_Mqtt__Host"] = "127.0.0.1";
        start.Environment["PIORCH_Mqtt__Port"] = brokerPort.ToString();
        start.Environment["PIORCH_Capture__AfterCloseDelayMs"] = "0";
        start.Environment["PIORCH_Containers__0__Id"] = "ctr-bench";
        start.Environment["PIORCH_Containers__0__CameraId"] = "espcam-bench";
        start.Environment["PIORCH_Containers__0__CameraUrl"] = cameraUrl;
        start.Environment["PIORCH_Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings) start.Environment[key] = value;
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
            if (variable.Key is string key && key.StartsWith("AGENT_", StringComparison.Ordinal))
                start.Environment[key["AGENT_".Length..]] = variable.Value as string;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
