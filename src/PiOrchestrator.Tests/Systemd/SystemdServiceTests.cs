using Microsoft.Data.Sqlite;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>The agent under a stand-in systemd: the notify protocol on a socket the test owns, journald output, shutdown.</summary>
[Trait("Agent", "Process")]
public class SystemdServiceTests
{
    private static Dictionary<string, string> Environment(string data, NotifySocket notify, int? brokerPort = null, string? cameraUrl = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data,
            ["NOTIFY_SOCKET"] = notify.Address,
            ["INVOCATION_ID"] = Guid.NewGuid().ToString("N"),
            ["PIORCH_Mqtt__Enabled"] = brokerPort is null ? "false" : "true",
        };
        if (brokerPort is { } port)
        {
            environment["PIORCH_Mqtt__Host"] = "127.0.0.1";
            environment["PIORCH_Mqtt__Port"] = port.ToString();
            environment["PIORCH_Mqtt__ClientId"] = "piorch-systemd-" + Guid.NewGuid().ToString("N")[..8];
        }
        if (cameraUrl is not null)
        {
            environment["PIORCH_Containers__0__Id"] = "ctr-001";
            environment["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3";
            environment["PIORCH_Containers__0__CameraUrl"] = cameraUrl;
        }
        return environment;
    }

    /// <summary>Runs a command with the kernel's memory-deny-write-execute (prctl PR_SET_MDWE, kept across exec), as the unit's MemoryDenyWriteExecute=yes does.</summary>
    private const string WithMemoryDenyWriteExecute =
        "import ctypes, os, sys\nif ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0: sys.exit('PR_SET_MDWE refused')\nos.execvp(sys.argv[1], sys.argv[1:])";

    [Fact]
    public async Task Under_memory_deny_write_execute_the_native_agent_records_a_door_cycle_and_the_jit_agent_cannot_run()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var (file, leadingArgs) = AgentProcess.Command;
        await using var agent = AgentProcess.StartCommand("python3", ["-c", WithMemoryDenyWriteExecute, file, .. leadingArgs],
            Environment(data.Path, notify, broker.Port, camera.Url));
        if (file == "dotnet")
        {
            // The JIT needs pages that become executable after being written: it dies at once (why the unit cannot set it).
            Assert.NotEqual(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, notify.Count("READY=1"));
            return;
        }
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"mdwe-1","session_id":"sess-mdwe-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions/sess-mdwe-1/evidence/pair")).GetProperty("pair_status").GetString() == "complete",
            TimeSpan.FromSeconds(30), "a complete pair under MemoryDenyWriteExecute");
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task Ready_status_watchdog_and_stopping_are_sent_and_a_hung_loop_stops_the_pings()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, notify, broker.Port, camera.Url);
        environment["WATCHDOG_USEC"] = "1000000";
        await using var agent = AgentProcess.Start(environment);

        await Eventually.UntilAsync(() => notify.Count("READY=1") == 1, TimeSpan.FromSeconds(30), "READY=1");
        await agent.WaitReadyAsync();
        Assert.Contains(notify.Lines, l => l.StartsWith("STATUS=mqtt ", StringComparison.Ordinal) && l.Contains("cameras") && l.Contains("upload queue"));
        await Eventually.UntilAsync(() => notify.Count("WATCHDOG=1") >= 4, TimeSpan.FromSeconds(10), "watchdog pings every half second");
        await agent.WaitForOutputAsync("MQTT connected");

        // Hang the session engine for real: another process holds the database's write lock while a door opens.
        await using (var holder = new SqliteConnection($"Data Source={Path.Combine(data.Path, "evidence.db")};Default Timeout=1"))
        {
            await holder.OpenAsync();
            await using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE;";
                await begin.ExecuteNonQueryAsync();
            }
            await broker.PublishAsync("containers/ctr-001/door", "opened");
            await agent.WaitForOutputAsync("withholding systemd watchdog pings", TimeSpan.FromSeconds(40));
            var stalledAt = DateTimeOffset.UtcNow;
            await Eventually.UntilAsync(() => DateTimeOffset.UtcNow - stalledAt > TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10), "three seconds of silence");
            Assert.DoesNotContain(notify.Messages, m => m.At > stalledAt.AddMilliseconds(200) && m.Message == "WATCHDOG=1");
            using var health = await agent.Http.GetAsync("/healthz");
            Assert.Equal(503, (int)health.StatusCode);
            await using var rollback = holder.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }
        await agent.WaitForOutputAsync("watchdog pings resumed", TimeSpan.FromSeconds(60));

        Assert.Equal(0, await agent.StopAsync());
        Assert.Equal(1, notify.Count("STOPPING=1"));
    }

    [Fact]
    public async Task An_abstract_notify_socket_works_and_without_one_nothing_is_sent()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket(abstractNamespace: true);
        await using var agent = AgentProcess.Start(Environment(data.Path, notify));
        await Eventually.UntilAsync(() => notify.Count("READY=1") == 1, TimeSpan.FromSeconds(30), "READY=1 on the abstract socket");
        Assert.DoesNotContain("WATCHDOG=1", notify.Lines);

        using var silent = new NotifySocket();
        var environment = Environment(data.Path + "-2", silent);
        environment.Remove("NOTIFY_SOCKET");
        await using var plain = AgentProcess.Start(environment);
        await plain.WaitReadyAsync();
        Assert.Empty(silent.Messages);
    }

    [Fact]
    public async Task Ready_comes_whenever_NOTIFY_SOCKET_is_set_even_when_the_parent_is_not_systemd()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        var environment = Environment(data.Path, notify);
        // Nothing else says systemd: Hosting.Systemd's own AddSystemd() would decide "not a service" here (its parent
        // is this test, as under ProtectProc=invisible it cannot read systemd's name) and send no READY=1.
        environment.Remove("INVOCATION_ID");
        await using var agent = AgentProcess.Start(environment);

        await Eventually.UntilAsync(() => notify.Count("READY=1") == 1, TimeSpan.FromSeconds(30), "READY=1");
        Assert.NotEqual("systemd", ParentProcessName(agent.ProcessId));
        // READY=1 means serving: the first request after it is answered, no retry.
        using (var ready = await agent.Http.GetAsync("/readyz"))
            Assert.Equal(200, (int)ready.StatusCode);
        Assert.Equal(0, await agent.StopAsync());
        Assert.Equal(1, notify.Count("STOPPING=1"));
        Assert.Equal(1, notify.Count("READY=1"));
    }

    [Fact]
    public async Task Watchdog_pings_meant_for_another_process_are_not_sent()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        var environment = Environment(data.Path, notify);
        environment["WATCHDOG_USEC"] = "200000";
        environment["WATCHDOG_PID"] = "1";
        await using var agent = AgentProcess.Start(environment);
        await Eventually.UntilAsync(() => notify.Count("READY=1") == 1, TimeSpan.FromSeconds(30), "READY=1");
        var readyAt = DateTimeOffset.UtcNow;
        // Ten intervals of 0.1 s: pings for this process would have come by now.
        await Eventually.UntilAsync(() => DateTimeOffset.UtcNow - readyAt > TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), "one second after READY=1");
        Assert.Contains(notify.Lines, l => l.StartsWith("STATUS=", StringComparison.Ordinal));
        Assert.DoesNotContain("WATCHDOG=1", notify.Lines);
        Assert.DoesNotContain("systemd watchdog: pinging", agent.Output);
    }

    [Fact]
    public async Task Ctrl_c_stops_the_agent_as_gracefully_as_sigterm_under_systemd()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        await using var agent = AgentProcess.Start(Environment(data.Path, notify));
        await Eventually.UntilAsync(() => notify.Count("READY=1") == 1, TimeSpan.FromSeconds(30), "READY=1");
        Assert.Equal(0, await agent.StopAsync("INT"));
        Assert.Equal(1, notify.Count("STOPPING=1"));
        Assert.Contains("STATUS=stopping", notify.Lines);
    }

    [Fact]
    public async Task A_vanished_notify_socket_is_logged_once_and_the_watchdog_resumes_when_it_is_back()
    {
        using var data = new TempDirectory();
        using var first = new NotifySocket();
        var environment = Environment(data.Path, first);
        environment["WATCHDOG_USEC"] = "400000";
        await using var agent = AgentProcess.Start(environment);
        await Eventually.UntilAsync(() => first.Count("READY=1") == 1 && first.Count("WATCHDOG=1") >= 2, TimeSpan.FromSeconds(30), "READY=1 and pings");

        first.Dispose();
        await agent.WaitForOutputAsync("notifications are dropped");
        var goneAt = DateTimeOffset.UtcNow;
        // Ten ping intervals without a socket: every send fails, one line says so, the agent keeps serving.
        await Eventually.UntilAsync(() => DateTimeOffset.UtcNow - goneAt > TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), "two seconds without a socket");
        Assert.Single(agent.Output.Split('\n'), l => l.Contains("notifications are dropped"));
        using (var ready = await agent.Http.GetAsync("/readyz"))
            Assert.Equal(200, (int)ready.StatusCode);

        using var back = new NotifySocket(address: first.Address);
        await Eventually.UntilAsync(() => back.Count("WATCHDOG=1") >= 2, TimeSpan.FromSeconds(10), "pings on the socket bound again");
        await agent.WaitForOutputAsync("notify socket reachable again");
        Assert.Equal(0, await agent.StopAsync());
        Assert.Equal(1, back.Count("STOPPING=1"));
    }

    private static string ParentProcessName(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // "pid (comm) state ppid …": comm may hold spaces, so count fields after its closing parenthesis.
        var ppid = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1];
        return File.ReadAllText($"/proc/{ppid}/comm").TrimEnd('\n');
    }

    [Fact]
    public async Task Under_systemd_every_log_entry_is_one_line_with_a_syslog_priority()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        var environment = Environment(data.Path, notify, TestPorts.Free(), $"http://127.0.0.1:{TestPorts.Free()}");
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("unreachable");

        var lines = agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.Matches(@"^<[0-7]>", l));
        Assert.Contains(lines, l => l.StartsWith("<6>") && l.Contains("PiOrchestrator 0."));
        Assert.Contains(lines, l => l.StartsWith("<4>") && l.Contains("MQTT broker") && l.Contains("unreachable"));
    }

    [Fact]
    public async Task No_secret_appears_in_the_log_status_or_openapi()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        const string s3Secret = "s3-secret-Zq81xPlV";
        const string mqttPassword = "mqtt-password-Lm42TtRe";
        var environment = Environment(data.Path, notify, broker.Port, $"http://127.0.0.1:{TestPorts.Free()}");
        environment["PIORCH_Mqtt__Username"] = "site-7";
        environment["PIORCH_Mqtt__Password"] = mqttPassword;
        environment["PIORCH_S3__Endpoint"] = s3.Endpoint;
        environment["PIORCH_S3__AccessKey"] = "S3RVER";
        environment["PIORCH_S3__SecretKey"] = s3Secret;
        environment["PIORCH_Logging__LogLevel__Default"] = "Debug";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        // The wrong secret makes S3 refuse every request: error paths are logged too.
        await agent.WaitForOutputAsync("refuses this agent's credentials", TimeSpan.FromSeconds(30));

        var status = await agent.Http.GetStringAsync("/api/v1/status");
        var openApi = await agent.Http.GetStringAsync("/openapi/v1.json");
        Assert.Equal(0, await agent.StopAsync());
        foreach (var secret in new[] { s3Secret, mqttPassword })
        {
            Assert.DoesNotContain(secret, agent.Output);
            Assert.DoesNotContain(secret, status);
            Assert.DoesNotContain(secret, openApi);
            Assert.DoesNotContain(notify.Messages, m => m.Message.Contains(secret));
        }
    }

    [Fact]
    public async Task Sigterm_lets_a_capture_in_flight_finish_and_closes_the_store_cleanly()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Slow;
        camera.SlowDelay = TimeSpan.FromSeconds(1.5);
        var environment = Environment(data.Path, notify, broker.Port, camera.Url);
        environment["PIORCH_Containers__0__FlushFrames"] = "0";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await Eventually.UntilAsync(() => camera.CaptureRequests == 1, TimeSpan.FromSeconds(10), "the capture to start");
        Assert.Equal(0, await agent.StopAsync());

        Assert.Contains("Waiting for 1 capture(s) in flight", agent.Output);
        Assert.Contains("Captured BEFORE_OPEN", agent.Output);
        Assert.Equal(0, new FileInfo(Path.Combine(data.Path, "evidence.db-wal")) is { Exists: true } wal ? wal.Length : 0);
        await using var db = new SqliteConnection($"Data Source={Path.Combine(data.Path, "evidence.db")};Mode=ReadOnly");
        await db.OpenAsync();
        await using var query = db.CreateCommand();
        query.CommandText = "SELECT status FROM evidence WHERE capture_tag = 'BEFORE_OPEN'";
        Assert.Equal("captured", await query.ExecuteScalarAsync());
    }
}
