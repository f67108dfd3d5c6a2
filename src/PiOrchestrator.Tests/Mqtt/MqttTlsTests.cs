using System.Text.Json;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Mqtt;

/// <summary>
/// The agent's MQTT client (MQTTnet, TLS through .NET) against a real mosquitto with TLS listeners, certificates made by openssl:
/// it connects with the right CA (and client certificate), and every wrong certificate is one clear log line,
/// a reason in /api/v1/status, and retries that go on without crashing anything.
/// </summary>
public sealed class MqttTlsTests
{
    private static Dictionary<string, string?> TlsSettings(int port, string? caFile, string? certFile = null, string? keyFile = null) => new()
    {
        ["Mqtt:Enabled"] = "true",
        ["Mqtt:Host"] = "localhost",
        ["Mqtt:Port"] = port.ToString(),
        ["Mqtt:ClientId"] = $"agent-{Guid.NewGuid():N}"[..20],
        ["Mqtt:ReconnectMaxSeconds"] = "2",
        ["Mqtt:ConnectTimeoutSeconds"] = "3",
        ["Mqtt:Tls:Enabled"] = "true",
        ["Mqtt:Tls:CaFile"] = caFile,
        ["Mqtt:Tls:CertFile"] = certFile,
        ["Mqtt:Tls:KeyFile"] = keyFile,
    };

    private static async Task<JsonElement> MqttStatusAsync(HttpClient http)
    {
        var body = await AgentApplication.Json(await http.GetAsync("/api/v1/status"));
        return body.GetProperty("data").GetProperty("mqtt");
    }

    private static async Task<JsonElement> WaitForStatusAsync(HttpClient http, Func<JsonElement, bool> condition, string what)
    {
        JsonElement last = default;
        try
        {
            return (await Eventually.UntilAsync(async () =>
            {
                last = await MqttStatusAsync(http);
                return condition(last) ? last : (JsonElement?)null;
            }, TimeSpan.FromSeconds(20), what))!.Value;
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last status: {last}", ex);
        }
    }

    /// <summary>Status shows the cause, the log has it once at Error, and the broker keeps seeing new handshakes.</summary>
    private static async Task AssertRefusedClearlyAsync(MosquittoBroker broker, AgentApplication app, HttpClient http, params string[] causeParts)
    {
        var mqtt = await WaitForStatusAsync(http, m => m.GetProperty("last_error").ValueKind == JsonValueKind.String
                                                      && causeParts.All(p => m.GetProperty("last_error").GetString()!.Contains(p, StringComparison.OrdinalIgnoreCase)),
            $"status to name the cause ({string.Join(", ", causeParts)})");
        Assert.Equal("disconnected", mqtt.GetProperty("state").GetString());
        Assert.False(mqtt.GetProperty("connected").GetBoolean());

        // Retries go on: the broker sees at least three more failed connections from the agent.
        var failuresBefore = CountFailedConnections(broker.Log);
        await Eventually.UntilAsync(() => Task.FromResult(CountFailedConnections(broker.Log) >= failuresBefore + 3), TimeSpan.FromSeconds(30),
            "the agent to keep retrying");
        var errors = app.Logs.Entries.Where(e => e.Category.EndsWith("MqttConnection", StringComparison.Ordinal) && e.Level == LogLevel.Error).ToList();
        var line = Assert.Single(errors);
        Assert.All(causeParts, p => Assert.Contains(p, line.Message, StringComparison.OrdinalIgnoreCase));
        Assert.Contains("localhost", line.Message);
        // The rest of the agent is unaffected.
        Assert.Equal(200, (int)(await http.GetAsync("/healthz")).StatusCode);
    }

    private static int CountFailedConnections(string brokerLog) =>
        brokerLog.Split('\n').Count(l => l.Contains("OpenSSL Error", StringComparison.Ordinal)
                                         || l.Contains("Client <unknown> disconnected", StringComparison.Ordinal)
                                         || l.Contains("protocol error", StringComparison.OrdinalIgnoreCase)
                                         || l.Contains("disconnected, not authorised", StringComparison.OrdinalIgnoreCase));

    [Fact]
    public async Task Connects_over_tls_with_the_site_ca_and_receives_door_events()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var broker = await MosquittoBroker.StartTlsAsync(certificates, certificates.ServerCert);
        await using var camera = await FakeCamera.StartAsync();
        var settings = TlsSettings(broker.TlsPort, certificates.CaFile);
        settings["Mqtt:AgentId"] = "tls-agent";
        var online = await broker.SubscribeAsync("containers/agent/tls-agent/status", 1, TimeSpan.FromSeconds(30));
        await using var app = new AgentApplication(camera.Url, settings);
        using var http = app.CreateClient();

        var mqtt = await WaitForStatusAsync(http, m => m.GetProperty("connected").GetBoolean(), "MQTT over TLS to connect");
        Assert.Equal($"localhost:{broker.TlsPort}", mqtt.GetProperty("broker").GetString());
        // The agent publishes "online" after subscribing: from here door events reach it.
        Assert.Contains("containers/agent/tls-agent/status online", await online);
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(() => Task.FromResult(app.Store.ListSessions("ctr-001", PiOrchestrator.Store.SessionPhase.Complete, false, null, 10).Sessions.Count == 1),
            TimeSpan.FromSeconds(20), "the door cycle sent through the broker to complete");
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains("over TLS", StringComparison.Ordinal));
    }

    /// <summary>The agent, configured with <paramref name="client"/>, against a broker presenting <paramref name="serverCert"/>.</summary>
    private static async Task AssertRefusedAsync(Func<TestCertificates, string> serverCert, bool mutual,
        Func<TestCertificates, (string? Ca, string? Cert, string? Key)> client, Func<TestCertificates, string[]> cause)
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var broker = await MosquittoBroker.StartTlsAsync(certificates, serverCert(certificates));
        await using var camera = await FakeCamera.StartAsync();
        var (ca, cert, key) = client(certificates);
        await using var app = new AgentApplication(camera.Url, TlsSettings(mutual ? broker.MutualTlsPort : broker.TlsPort, ca, cert, key));
        using var http = app.CreateClient();
        await AssertRefusedClearlyAsync(broker, app, http, cause(certificates));
    }

    [Fact]
    public Task A_broker_certificate_from_another_ca_is_refused_with_the_ca_named() =>
        AssertRefusedAsync(c => c.ServerCert, mutual: false, c => (c.OtherCaFile, null, null), c => ["not signed by the CA in", c.OtherCaFile]);

    [Fact]
    public Task An_expired_broker_certificate_is_refused_with_its_expiry_date() =>
        AssertRefusedAsync(c => c.ExpiredServerCert, mutual: false, c => (c.CaFile, null, null), _ => ["expired on 2021-01-01"]);

    [Fact]
    public Task A_broker_certificate_for_another_host_is_refused_with_the_names_it_has() =>
        AssertRefusedAsync(c => c.WrongHostServerCert, mutual: false, c => (c.CaFile, null, null), _ => ["issued for broker.other.example, not for this host"]);

    [Fact]
    public async Task A_client_certificate_from_the_site_ca_is_accepted_where_the_broker_requires_one()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var broker = await MosquittoBroker.StartTlsAsync(certificates, certificates.ServerCert);
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url,
            TlsSettings(broker.MutualTlsPort, certificates.CaFile, certificates.ClientCert, certificates.ClientKey));
        using var http = app.CreateClient();
        await WaitForStatusAsync(http, m => m.GetProperty("connected").GetBoolean(), "MQTT with a client certificate to connect");
    }

    [Fact]
    public Task Without_a_client_certificate_the_agent_says_the_broker_requires_one() =>
        AssertRefusedAsync(c => c.ServerCert, mutual: true, c => (c.CaFile, null, null), _ => ["requires a client certificate"]);

    [Fact]
    public Task A_client_certificate_the_broker_does_not_trust_is_reported_as_refused() =>
        AssertRefusedAsync(c => c.ServerCert, mutual: true, c => (c.CaFile, c.OtherCaClientCert, c.OtherCaClientKey),
            c => ["refused this agent's client certificate", c.OtherCaClientCert]);

    [Fact]
    public async Task A_plain_listener_on_the_tls_port_is_named()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var broker = await MosquittoBroker.StartTlsAsync(certificates, certificates.ServerCert);
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, TlsSettings(broker.Port, certificates.CaFile));
        using var http = app.CreateClient();
        await AssertRefusedClearlyAsync(broker, app, http, $"the broker port {broker.Port} does not speak TLS");
    }
}
