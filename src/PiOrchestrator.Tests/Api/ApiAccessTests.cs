using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Http;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// Who may use the API and how much, against the real agent process on real Kestrel: clients are told apart by
/// source address (127.0.0.1 and 127.0.0.2 are different hosts to the agent).
/// </summary>
[Trait("Agent", "Process")]
public sealed class ApiAccessTests
{
    private static readonly string[] Endpoints =
        ["/", "/api/v1/status", "/healthz", "/api/v1/sessions", "/api/v1/sessions/s-1/evidence", "/api/v1/evidence/image?key=x", "/openapi/v1.json"];

    private static Dictionary<string, string> Environment(string data, params (string Key, string Value)[] settings)
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data,
            ["PIORCH_Mqtt__Enabled"] = "false",
        };
        foreach (var (key, value) in settings) environment[key] = value;
        return environment;
    }

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(body.GetProperty("success").GetBoolean());
        return body.GetProperty("error");
    }

    [Fact]
    public async Task Addresses_outside_the_allowed_networks_get_403_on_every_endpoint()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(Environment(data.Path, ("PIORCH_Api__AllowedNetworks__0", "127.0.0.2/32"), ("PIORCH_Api__AllowedNetworks__1", "192.168.7.0/24")));
        using var allowed = agent.ClientFrom("127.0.0.2");
        await Eventually.UntilAsync(async () => (await allowed.GetAsync("/readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "the agent to be ready");

        foreach (var path in Endpoints)
        {
            using var refused = await agent.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("permission_denied", (await ErrorOf(refused)).GetProperty("code").GetString());
            using var served = await allowed.GetAsync(path);
            Assert.NotEqual(HttpStatusCode.Forbidden, served.StatusCode);
            Assert.True((int)served.StatusCode < 500, $"{path}: {(int)served.StatusCode}");
        }
        using var post = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        // One warning per refused address per minute, not one per request.
        await agent.WaitForOutputAsync("Refused 127.0.0.1: not in Api:AllowedNetworks");
        Assert.Single(agent.Output.Split('\n'), l => l.Contains("Refused 127.0.0.1", StringComparison.Ordinal));
    }

    [Fact]
    public void The_default_allow_list_is_loopback_and_private_ranges()
    {
        var networks = new ApiOptions().ParsedAllowedNetworks();
        bool Allowed(string address) => networks.Any(n => n.Contains(IPAddress.Parse(address)));
        Assert.All(["127.0.0.1", "::1", "10.20.30.40", "172.16.5.5", "172.31.255.255", "192.168.1.20", "169.254.10.10", "fd12::1", "fe80::1"],
            a => Assert.True(Allowed(a), a));
        Assert.All(["8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:db8::1", "100.64.0.1"], a => Assert.False(Allowed(a), a));
    }

    [Fact]
    public async Task An_allow_list_entry_that_is_not_a_network_stops_the_agent_at_start_with_the_entry_named()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(Environment(data.Path, ("PIORCH_Api__AllowedNetworks__0", "10.0.0.0/8"), ("PIORCH_Api__AllowedNetworks__1", "10.0.0.0/33")));
        Assert.Equal(78, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Api:AllowedNetworks: not a CIDR network or address: '10.0.0.0/33'", agent.Output);
    }

    [Fact]
    public async Task A_client_over_its_rate_gets_429_with_retry_after_while_other_clients_are_served()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(Environment(data.Path, ("PIORCH_Api__RateLimitPerSecond", "1"), ("PIORCH_Api__RateLimitBurst", "5")));
        using var other = agent.ClientFrom("127.0.0.2");
        await Eventually.UntilAsync(async () => (await other.GetAsync("/readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "the agent to be ready");

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 20; i++)
        {
            var response = await agent.Http.GetAsync("/api/v1/sessions");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited ??= response;
            else response.Dispose();
        }
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 5, 7);
        Assert.NotNull(limited);
        Assert.Equal("rate_limited", (await ErrorOf(limited)).GetProperty("code").GetString());
        Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single()) >= 1);
        limited.Dispose();
        using var served = await other.GetAsync("/api/v1/sessions");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Oversized_headers_and_bodies_are_refused_with_the_envelope()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(Environment(data.Path));
        await agent.WaitReadyAsync();

        using var hugeHeader = new HttpRequestMessage(HttpMethod.Get, "/api/v1/sessions");
        hugeHeader.Headers.Add("X-Padding", new string('a', 20_000));
        using var headerAnswer = await agent.Http.SendAsync(hugeHeader);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, headerAnswer.StatusCode);

        using var manyHeaders = new HttpRequestMessage(HttpMethod.Get, "/api/v1/sessions");
        for (var i = 0; i < 80; i++) manyHeaders.Headers.Add($"X-H{i}", "v");
        using var manyAnswer = await agent.Http.SendAsync(manyHeaders);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, manyAnswer.StatusCode);

        using var body = new ByteArrayContent(new byte[200_000]);
        body.Headers.ContentType = new("application/json");
        using var bodyAnswer = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, bodyAnswer.StatusCode);
        Assert.Equal("payload_too_large", (await ErrorOf(bodyAnswer)).GetProperty("code").GetString());
        // Still serving.
        Assert.Equal(HttpStatusCode.OK, (await agent.Http.GetAsync("/api/v1/status")).StatusCode);
    }

    [Fact]
    public async Task A_slowloris_client_cannot_starve_a_polling_dashboard()
    {
        using var data = new TempDirectory();
        // The dashboard below polls back to back: no rate limit, so every answer it gets is the server's capacity.
        await using var agent = AgentProcess.Start(Environment(data.Path, ("PIORCH_Api__RequestHeadersTimeoutSeconds", "2"),
            ("PIORCH_Api__MaxConnectionsPerClient", "20"), ("PIORCH_Api__RateLimitPerSecond", "0")));
        await agent.WaitReadyAsync();

        // 60 connections from one host, each sending its request line and then a header byte whenever 300 ms pass quietly.
        var slow = Task.WhenAll(Enumerable.Range(0, 60).Select(_ => SlowClientAsync(agent.Port)));

        // Meanwhile the dashboard (another host) polls, for as long as any slow connection lives.
        using var dashboard = agent.ClientFrom("127.0.0.3");
        var polls = 0;
        while (!slow.IsCompleted)
        {
            using var response = await dashboard.GetAsync("/api/v1/sessions?limit=10");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            polls++;
        }
        Assert.True(polls >= 10, $"only {polls} polls answered");

        // The server ends every slow connection itself: the ones over the per-client cap at once (it says so), the rest at the header timeout.
        var outcomes = await slow;
        Assert.All(outcomes, closedByServer => Assert.True(closedByServer, "a slow connection was never closed by the agent"));
        Assert.Contains("more than 20 open (Api:MaxConnectionsPerClient)", agent.Output);
    }

    /// <summary>True when the agent ended the connection (an answer or a close) before the client gave up at 15 s.</summary>
    private static async Task<bool> SlowClientAsync(int port)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        try
        {
            // Inside the try: a connection over the cap may be reset before the connect even returns.
            await socket.ConnectAsync(IPAddress.Loopback, port);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /api/v1/status HTTP/1.1\r\nHost: pi\r\nX-Slow: "));
            // One receive stays pending throughout: it completes when the server answers (408) or closes.
            var receive = socket.ReceiveAsync(new byte[1024]);
            while (started.Elapsed < TimeSpan.FromSeconds(15))
            {
                try
                {
                    await receive.WaitAsync(TimeSpan.FromMilliseconds(300));
                    return true;
                }
                catch (TimeoutException)
                {
                    await socket.SendAsync("a"u8.ToArray());
                }
            }
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }
}
