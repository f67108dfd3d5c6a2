using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MQTTnet;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// Generated hostile input against the built agent: MQTT payloads of every bad kind, HTTP requests on every
/// endpoint, and 200 pollers while doors cycle. CI runs fewer; PROOF_SCALE=long runs the full counts.
/// </summary>
[Trait("Agent", "Process")]
public sealed class BadInputTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> OpenLimits = new()
    {
        // One test client is many dashboards here: the per-client limits would (rightly) throttle it.
        ["PIORCH_Api__RateLimitPerSecond"] = "0",
        ["PIORCH_Api__MaxConnectionsPerClient"] = "1000",
    };

    [Fact]
    public async Task Generated_mqtt_garbage_keeps_the_agent_up_logs_each_class_sparingly_and_leaves_valid_sessions_alone()
    {
        var count = ProofScale.Pick(3000, 10_000);
        var random = new Random(11);
        await using var rig = await ProofRig.StartAsync();
        using var publisher = await rig.Broker.ConnectClientAsync("proof-fuzz-" + Environment.ProcessId);

        var cycles = 0;
        for (var i = 0; i < count; i++)
        {
            var (topic, payload) = Garbage(random, i);
            var published = await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(published.IsSuccess, $"message {i} was refused by the broker: {published.ReasonCode}");
            // Never more than a few hundred ahead of the agent: mosquitto queues at most max_queued_messages (1,000)
            // for a client and drops the rest, which a loaded machine would otherwise reach.
            if (i % 250 == 249)
            {
                var sent = i + 1 + 2 * cycles;
                await Eventually.UntilAsync(async () =>
                    (await rig.Agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("messages_received").GetInt64() >= sent - 500,
                    TimeSpan.FromSeconds(120), $"the agent to keep up with the generated messages ({sent} sent)");
            }
            if (i % 1000 == 500)
            {
                await rig.DoorCycleAsync();
                cycles++;
            }
        }
        await Eventually.UntilAsync(async () =>
            (await rig.Agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("messages_received").GetInt64() >= count + 2 * cycles,
            TimeSpan.FromSeconds(120), "every generated message to reach the agent");
        await rig.DoorCycleAsync();
        cycles++;

        var status = await rig.Agent.GetDataAsync("/api/v1/status");
        Assert.Equal(200, (int)(await rig.Agent.Http.GetAsync("/healthz")).StatusCode);
        Assert.True(status.GetProperty("mqtt").GetProperty("events_rejected").GetInt64() >= count * 9 / 10);
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(60));
        var rows = await rig.AuditAsync(cycles);
        Assert.All(rows, r => Assert.Equal("captured", r.Status));
        // Throttled: one warning per class of problem per minute, not one per message.
        var warnings = rig.Agent.Output.Split('\n').Count(l => l.Contains("dropped:", StringComparison.Ordinal));
        output.WriteLine($"{count} generated messages, {cycles} valid door cycles, {warnings} 'dropped' log lines");
        Assert.InRange(warnings, 3, 40);
    }

    private static (string Topic, byte[] Payload) Garbage(Random random, int i)
    {
        const string door = "containers/ctr-001/door";
        byte[] Bytes(int n) { var b = new byte[n]; random.NextBytes(b); return b; }
        byte[] Text(string s) => Encoding.UTF8.GetBytes(s);
        return (i % 10) switch
        {
            0 => (door, Bytes(random.Next(0, 300))),
            // Over the 4 KB door limit yet under the agent's MQTT Maximum Packet Size (64 KiB): bigger ones the broker
            // drops before they reach the agent (HostileMqttTests).
            1 => (door, Bytes(random.Next(5_000, 60_000))),
            2 => (door, [0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, 0xF0, 0x28, 0x8C, 0xBC]),
            3 => (door, Text(new[] { """{"event":5}""", """{"event":"opened","timestamp":123}""", "[1,2,3]", "null", """{"event":null}""",
                                     """{"event":"opened","event_id":{"x":1}}""", """{"event":"opened","session_id":"../../etc"}""", "{" }[random.Next(8)])),
            4 => ($"containers/ctr-unknown-{random.Next(1000)}/door", Text("opened")),
            5 => (door, Text(new[] { "exploded", "ajar", """{"event":"melted"}""", "OPENED!", "" }[random.Next(5)])),
            6 => ($"containers/{new string('x', random.Next(70, 300))}/door", Text("opened")),
            7 => ("containers/ctr 001/door", Text("closed")),
            8 => (door, Text(new string('{', random.Next(1, 4000)))),
            _ => (door, Text($$"""{"event":"opened","timestamp":"{{new string('9', random.Next(1, 60))}}"}""")),
        };
    }

    [Fact]
    public async Task Generated_hostile_http_requests_get_4xx_envelopes_and_never_a_5xx()
    {
        var count = ProofScale.Pick(3000, 10_000);
        await using var rig = await ProofRig.StartAsync(OpenLimits);
        await rig.DoorCycleAsync();
        var session = (await rig.Agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions")[0].GetProperty("id").GetString()!;
        var key = rig.ReadRows()[0].ObjectKey!;

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 }) { BaseAddress = rig.Agent.Http.BaseAddress };
        var cpuBefore = ProcFs.CpuTime(rig.Agent.ProcessId);
        var statuses = new Dictionary<int, int>();
        var failures = new List<string>();
        int notSent = 0, cut = 0;
        var queue = new Queue<int>(Enumerable.Range(0, count));
        async Task Worker(int seed)
        {
            var local = new Random(seed);
            while (true)
            {
                lock (queue) if (!queue.TryDequeue(out _)) return;
                using var request = Hostile(local, session, key);
                HttpResponseMessage response;
                try
                {
                    response = await http.SendAsync(request);
                }
                catch (HttpRequestException ex) when (ex.Message.Contains("only ASCII", StringComparison.Ordinal))
                {
                    // .NET's client will not send a non-ASCII header: nothing reached the agent.
                    Interlocked.Increment(ref notSent);
                    continue;
                }
                catch (HttpRequestException)
                {
                    // The agent may close the connection on a refused request before the client has sent it all (413).
                    Interlocked.Increment(ref cut);
                    continue;
                }
                using (response)
                {
                    var code = (int)response.StatusCode;
                    lock (statuses) statuses[code] = statuses.GetValueOrDefault(code) + 1;
                    var body = await response.Content.ReadAsStringAsync();
                    if (code >= 500) lock (failures) failures.Add($"{code} for {request.Method} {request.RequestUri}: {body}");
                    // Kestrel answers a malformed request line or oversized URI/headers itself, before any middleware, with an empty body.
                    else if (code >= 400 && request.Method != HttpMethod.Head && !EnvelopeOk(body) && !(body.Length == 0 && code is 400 or 414 or 431))
                        lock (failures) failures.Add($"{code} without the error envelope for {request.Method} {request.RequestUri}: {body}");
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(s => Task.Run(() => Worker(100 + s))));

        output.WriteLine($"{count} requests: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))
                         + $"; {notSent} not sent (non-ASCII header), {cut} cut off by the agent");
        var cpu = ProcFs.CpuTime(rig.Agent.ProcessId) - cpuBefore;
        var peak = ProcFs.PeakRssBytes(rig.Agent.ProcessId);
        output.WriteLine($"agent: peak RSS (VmHWM) {peak / 1048576} MB, CPU {cpu.TotalSeconds:F1} s for {count} requests ({cpu.TotalMilliseconds / count:F2} ms each)");
        Assert.True(cut <= count / 20, $"{cut} requests without an answer");
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1048576} MB");
        foreach (var failure in failures.Take(10)) output.WriteLine(failure[..Math.Min(300, failure.Length)]);
        Assert.Empty(failures.Take(20));
        Assert.Equal(200, (int)(await rig.Agent.Http.GetAsync("/healthz")).StatusCode);
        Assert.False(rig.Agent.HasExited);
        Assert.DoesNotContain("Unhandled exception", rig.Agent.Output);

        // Each bad paging value on a real session is refused naming its parameter; the session still pages, a row at a time.
        foreach (var (query, field) in EvidenceListBadValues)
        {
            using var bad = await http.GetAsync($"/api/v1/sessions/{session}/evidence?{query}");
            var body = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{query[..Math.Min(60, query.Length)]}: {(int)bad.StatusCode} {body}");
            Assert.Equal(field, JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("field").GetString());
        }
        var first = await rig.Agent.GetDataAsync($"/api/v1/sessions/{session}/evidence?include_image=false&limit=1");
        var next = first.GetProperty("next_cursor").GetString()!;
        var second = await rig.Agent.GetDataAsync($"/api/v1/sessions/{session}/evidence?include_image=false&limit=1&cursor={Uri.EscapeDataString(next)}");
        Assert.Equal(["BEFORE_OPEN", "AFTER_CLOSE"], new[] { first, second }.Select(p => p.GetProperty("captures")[0].GetProperty("capture_tag").GetString()));
        Assert.False(second.GetProperty("has_more").GetBoolean());
    }

    private static async Task<bool> Ticked(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static bool EnvelopeOk(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.GetProperty("success").GetBoolean() == false
                   && json.RootElement.GetProperty("error").GetProperty("code").GetString() is { Length: > 0 };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private static readonly string[] HostileIds =
    [
        "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f", "a%00b", "%00", new string('a', 5000), "sess-\u202e", "'; DROP TABLE sessions;--",
        "%ff%fe", "<script>alert(1)</script>", "sess-abc", " ", "%20", "con", "....//", "%252e%252e%252f", "\u0000", "😀", "a/b/c",
    ];

    /// <summary>Bad values of the evidence list's paging parameters, each refused with a 400 naming its parameter.</summary>
    private static readonly (string Query, string Field)[] EvidenceListBadValues =
    [
        ("capture_tag=SNAPSHOT", "capture_tag"), ("capture_tag=during_open", "capture_tag"), ("capture_tag=", "capture_tag"),
        ("capture_tag=%00", "capture_tag"), ("capture_tag=" + new string('T', 3000), "capture_tag"), ("capture_tag=MANUAL&capture_tag=MANUAL", "capture_tag"),
        ("limit=%2B5", "limit"), ("limit=1e2", "limit"), ("limit=101", "limit"), ("limit=5&limit=6", "limit"),
        ("cursor=", "cursor"), ("cursor=%00", "cursor"), ("cursor=" + new string('B', 600), "cursor"),
        ("cursor=" + PiOrchestrator.Http.PageCursor.Encode("evidence", "..", "any", "1", Guid.Empty.ToString("D")), "cursor"),
        ("cursor=" + PiOrchestrator.Http.PageCursor.Encode("evidence", "sess-x", "any", "1 OR 1=1", Guid.Empty.ToString("D")), "cursor"),
        ("cursor=" + PiOrchestrator.Http.PageCursor.Encode("evidence", "sess-x", "any", "1", "'; DROP TABLE evidence;--"), "cursor"),
        ("cursor=" + PiOrchestrator.Http.PageCursor.Encode("audit", "7"), "cursor"),
    ];

    private static readonly string[] HostileQueries =
    [
        "limit=-1", "limit=abc", "limit=99999999999", "limit=0", "cursor=!!!", "cursor=" + new string('A', 3000), "cursor=eyJ9", "include_image=maybe",
        "include_image=", "size=huge", "key=", "key=../../x", "key=" + new string('k', 2000), "container_id=%00", "phase=weird", "unfinished=2", "a=b&a=c",
        "action=%00", "action=" + new string('x', 3000), "session_id=%2e%2e",
        .. EvidenceListBadValues.Select(b => b.Query),
    ];

    private static HttpRequestMessage Hostile(Random random, string session, string key)
    {
        string Pick(string[] from) => from[random.Next(from.Length)];
        var id = random.Next(4) == 0 ? session : Uri.EscapeDataString(Pick(HostileIds));
        var raw = random.Next(3) == 0 ? Pick(HostileIds) : id;
        var path = random.Next(21) switch
        {
            0 => $"/api/v1/sessions/{id}/evidence",
            1 => $"/api/v1/sessions/{id}/evidence/pair",
            2 => $"/api/v1/sessions/{id}",
            3 => $"/api/v1/sessions/{id}/verify",
            4 => "/api/v1/sessions",
            5 => $"/api/v1/evidence/image?key={(random.Next(3) == 0 ? Uri.EscapeDataString(key) : Uri.EscapeDataString(Pick(HostileIds)))}",
            6 => $"/api/v1/evidence/{id}",
            7 => $"/api/v1/evidence/{id}/download",
            8 => $"/api/v1/containers/{id}/captures",
            9 => "/api/v1/status",
            10 => $"/{raw}",
            11 => $"/api/v1/{raw}/{raw}",
            12 => "/static/../../etc/passwd",
            13 => $"/api/v1/sessions/{id}/end",
            14 => $"/api/v1/containers/{id}/sessions",
            15 => $"/api/v1/audit?session_id={id}",
            16 => "/api/v1/invites",
            17 => $"/api/v1/invites/{id}",
            18 => $"/api/v1/join/{(random.Next(3) == 0 ? "inv_" + new string('A', 43) : id)}",
            19 => $"/join/{raw}",
            _ => "/",
        };
        if (random.Next(2) == 0) path += (path.Contains('?') ? "&" : "?") + Pick(HostileQueries);
        var method = new[] { HttpMethod.Get, HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Head, HttpMethod.Options }[random.Next(8)];
        var request = new HttpRequestMessage(method, path);
        switch (random.Next(10))
        {
            case 0: request.Headers.TryAddWithoutValidation("If-None-Match", Pick(HostileIds)); break;
            case 1: request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Pick(HostileIds)); break;
            case 2: request.Headers.TryAddWithoutValidation("Idempotency-Key", Pick(HostileIds)); break;
            case 3: request.Headers.TryAddWithoutValidation("X-Padding", new string('p', random.Next(10_000, 40_000))); break;
            case 4:
                request.Content = new ByteArrayContent(new byte[random.Next(0, 200_000)]);
                request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
                break;
            case 5:
                request.Content = new StringContent("{\"note\":" + new string('[', 500) + "}", Encoding.UTF8, "application/json");
                break;
            case 6: request.Headers.TryAddWithoutValidation("X-Join-OTP", random.Next(2) == 0 ? Pick(HostileIds) : random.Next(1_000_000).ToString("D6")); break;
            case 7: request.Headers.TryAddWithoutValidation("Cookie", "pio_tech=" + (random.Next(2) == 0 ? "tech_" + new string('B', 43) : Pick(HostileIds))); break;
            case 8:
                // An invite as an attacker would mint one: hostile names and containers, out-of-range TTLs.
                request.Content = new StringContent(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["name"] = Pick(HostileIds), ["containers"] = new[] { Pick(HostileIds), Pick(HostileIds) },
                    ["ttl_minutes"] = new[] { -1, 0, 1441, int.MaxValue, 30 }[random.Next(5)],
                }), Encoding.UTF8, "application/json");
                break;
        }
        return request;
    }

    [Fact]
    public async Task Two_hundred_pollers_at_1_hz_while_doors_cycle_see_no_error()
    {
        var duration = TimeSpan.FromSeconds(ProofScale.Pick(15, 600));
        await using var rig = await ProofRig.StartAsync(OpenLimits);
        await rig.DoorCycleAsync();
        var session = (await rig.Agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions")[0].GetProperty("id").GetString()!;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 200 }) { BaseAddress = rig.Agent.Http.BaseAddress };

        var latencies = new List<double>();
        var errors = new List<string>();
        using var stop = new CancellationTokenSource(duration);
        async Task Poller(int n)
        {
            string? etag = null;
            // 1 Hz is the load being tested: a timer ticks it, nothing waits on a guess.
            using var every = new PeriodicTimer(TimeSpan.FromSeconds(1));
            do
            {
                var started = Stopwatch.GetTimestamp();
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/sessions/{session}/evidence?include_image=false");
                if (etag is not null) request.Headers.TryAddWithoutValidation("If-None-Match", etag);
                try
                {
                    using var response = await http.SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.OK) etag = response.Headers.ETag?.Tag;
                    else if (response.StatusCode != HttpStatusCode.NotModified) lock (errors) errors.Add($"{(int)response.StatusCode}");
                    await response.Content.LoadIntoBufferAsync();
                }
                catch (HttpRequestException ex)
                {
                    lock (errors) errors.Add(ex.Message);
                }
                lock (latencies) latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            while (await Ticked(every, stop.Token));
        }
        var pollers = Enumerable.Range(0, 200).Select(Poller).ToList();
        var cycles = 1;
        while (!stop.IsCancellationRequested)
        {
            await rig.DoorCycleAsync();
            cycles++;
            // A busy site, not a stress test of the door loop: the next door opens once this one's photos are uploaded.
            await rig.WaitUploadedAsync();
        }
        await Task.WhenAll(pollers);

        latencies.Sort();
        var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
        output.WriteLine($"200 pollers for {duration.TotalSeconds:F0} s during {cycles} door cycles: {latencies.Count} polls, {errors.Count} errors, " +
                         $"p50 {latencies[latencies.Count / 2]:F1} ms, p99 {p99:F1} ms");
        Assert.Empty(errors);
        Assert.True(latencies.Count >= 200 * (int)duration.TotalSeconds * 8 / 10, $"only {latencies.Count} polls");
        await rig.WaitSettledAsync(cycles, TimeSpan.FromSeconds(60));
        await rig.AuditAsync(cycles);
    }
}
