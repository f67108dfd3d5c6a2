using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>The audit trail as the site's admin reads it: GET /api/v1/audit, a session's export, and the counter on /metrics.</summary>
public partial class AuditApiTests
{
    private const string Key = "audit-key-4e2";

    private static AgentApplication App(FakeCamera camera) => new(camera.Url, new Dictionary<string, string?> { ["Api:Key"] = Key });

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string? json = null, string? key = Key)
    {
        var request = new HttpRequestMessage(method, path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await http.SendAsync(request);
    }

    private static async Task<JsonElement> Data(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("data");
    }

    /// <summary>Opens an inspection on the container and ends it without AFTER_CLOSE: a session.open and a session.end row.</summary>
    private static async Task<string> InspectAsync(HttpClient http, string container, string operator_, string reason)
    {
        var id = (await Data(await SendAsync(http, HttpMethod.Post, $"/api/v1/containers/{container}/sessions",
            JsonSerializer.Serialize(new { opened_by = operator_, notes = "check" })), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        await Data(await SendAsync(http, HttpMethod.Post, $"/api/v1/sessions/{id}/end", JsonSerializer.Serialize(new { reason, after_close = false })));
        return id;
    }

    private static async Task<List<JsonElement>> Audit(HttpClient http, string query)
    {
        var data = await Data(await SendAsync(http, HttpMethod.Get, "/api/v1/audit" + query));
        return [.. data.GetProperty("events").EnumerateArray()];
    }

    [Fact]
    public async Task The_admin_reads_the_audit_newest_first_page_by_page_filtered_and_bad_parameters_are_named()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var first = await InspectAsync(http, "ctr-001", "ops@yourco.com", "claim checked");
        var second = await InspectAsync(http, "ctr-001", "Alex Garcia", "door sensor test");
        var capture = (await Data(await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-002/captures"), HttpStatusCode.Created))
            .GetProperty("session_id").GetString()!;

        using (var anonymous = await SendAsync(http, HttpMethod.Get, "/api/v1/audit", key: null))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var wrong = await SendAsync(http, HttpMethod.Get, "/api/v1/audit", key: "not-the-key"))
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        // Pages of 2 follow next_cursor to the end; together they are every row, newest first, none twice.
        var seen = new List<JsonElement>();
        var pages = 0;
        string? cursor = null;
        do
        {
            var page = await Data(await SendAsync(http, HttpMethod.Get, "/api/v1/audit?limit=2" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))));
            var events = page.GetProperty("events").EnumerateArray().ToList();
            pages++;
            Assert.Equal(pages < 3 ? 2 : 1, events.Count);
            Assert.Equal(pages < 3, page.GetProperty("has_more").GetBoolean());
            seen.AddRange(events);
            cursor = page.GetProperty("next_cursor").GetString();
            Assert.Equal(page.GetProperty("has_more").GetBoolean(), cursor is not null);
        } while (cursor is not null && pages < 10);
        Assert.Equal(3, pages);
        Assert.Equal(app.Store.ListAudit().Select(a => a.Id).Reverse(), seen.Select(e => e.GetProperty("id").GetInt64()));
        Assert.Equal([(capture, "capture"), (second, "session.end"), (second, "session.open"), (first, "session.end"), (first, "session.open")],
            seen.Select(e => (e.GetProperty("session_id").GetString(), e.GetProperty("action").GetString())));
        var newest = seen[1];
        Assert.Equal("admin", newest.GetProperty("actor").GetString());
        Assert.Equal("door sensor test", newest.GetProperty("detail").GetString());
        Assert.Equal("ctr-001", newest.GetProperty("container_id").GetString());
        Assert.EndsWith("Z", newest.GetProperty("at").GetString());
        Assert.Equal(5, (await Audit(http, "")).Count);

        // Each filter alone and together.
        Assert.Equal(["session.end", "session.open"], (await Audit(http, $"?session_id={first}")).Select(e => e.GetProperty("action").GetString()));
        Assert.Equal([capture], (await Audit(http, "?container_id=ctr-002")).Select(e => e.GetProperty("session_id").GetString()));
        Assert.Equal([second, first], (await Audit(http, "?action=session.open")).Select(e => e.GetProperty("session_id").GetString()));
        Assert.Equal(["door sensor test"], (await Audit(http, $"?container_id=ctr-001&action=session.end&limit=1")).Select(e => e.GetProperty("detail").GetString()));
        Assert.Empty(await Audit(http, $"?container_id=ctr-002&session_id={first}"));

        // Every bad parameter is a 400 naming it, before anything is read.
        var sessionsCursor = (await Data(await http.GetAsync("/api/v1/sessions?limit=1"))).GetProperty("next_cursor").GetString()!;
        foreach (var (query, field) in new[]
                 {
                     ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
                     ("cursor=nope", "cursor"), ("cursor=" + Uri.EscapeDataString(sessionsCursor), "cursor"), ("cursor=" + new string('A', 300), "cursor"),
                     ("container_id=ctr%20001", "container_id"), ("container_id=" + new string('c', 129), "container_id"), ("session_id=..", "session_id"),
                     ("action=delete", "action"), ("action=CAPTURE", "action"),
                 })
        {
            using var bad = await SendAsync(http, HttpMethod.Get, "/api/v1/audit?" + query);
            var body = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)bad.StatusCode} {body}");
            var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
            Assert.Equal(("invalid_request", field), (error.GetProperty("code").GetString(), error.GetProperty("field").GetString()));
        }
    }

    [Fact]
    public async Task A_sessions_export_holds_its_own_audit_rows_and_says_so()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var inspected = await InspectAsync(http, "ctr-001", "José O'Brien", "seal replaced");
        await InspectAsync(http, "ctr-002", "ops@yourco.com", "another session's row");

        using var export = await http.GetAsync($"/api/v1/sessions/{inspected}/export");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        using var zip = new ZipArchive(await export.Content.ReadAsStreamAsync(), ZipArchiveMode.Read);
        string Read(string name)
        {
            var entry = zip.GetEntry(name);
            Assert.True(entry is not null, $"{name} is not in the export");
            using var reader = new StreamReader(entry.Open());
            return reader.ReadToEnd();
        }
        var audit = JsonDocument.Parse(Read("audit.json")).RootElement.EnumerateArray().ToList();
        Assert.Equal([("session.open", "José O'Brien"), ("session.end", "seal replaced")],
            audit.Select(e => (e.GetProperty("action").GetString(), e.GetProperty("detail").GetString())));
        Assert.All(audit, e => Assert.Equal((inspected, "admin"), (e.GetProperty("session_id").GetString(), e.GetProperty("actor").GetString())));
        Assert.Equal(app.Store.ListAudit(inspected).Select(a => a.Id), audit.Select(e => e.GetProperty("id").GetInt64()));
        Assert.Equal("audit.json", JsonDocument.Parse(Read("manifest.json")).RootElement.GetProperty("audit_file").GetString());
        Assert.Contains("# audit.json lists who", Read("VERIFY.txt"));

        // A door session no one touched through the API exports an empty list, not a missing file.
        var door = await app.DoorCycleAsync("ctr-001");
        using var doorExport = await http.GetAsync($"/api/v1/sessions/{door}/export");
        using var doorZip = new ZipArchive(await doorExport.Content.ReadAsStreamAsync(), ZipArchiveMode.Read);
        using var doorAudit = new StreamReader(doorZip.GetEntry("audit.json")!.Open());
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(doorAudit.ReadToEnd()).RootElement.ValueKind);
        Assert.Empty(app.Store.ListAudit(door));
    }

    [GeneratedRegex("""^piorchestrator_audit_events_total\{[^}]*action="session\.open"[^}]*\} (\d+)""", RegexOptions.Multiline)]
    private static partial Regex SessionOpenEvents();

    /// <summary>The counter's value on /metrics; 0 while absent. Other tests in this process share the meter, so only increases are compared.</summary>
    private static async Task<long> OpenEventsAsync(HttpClient http)
    {
        var match = SessionOpenEvents().Match(await http.GetStringAsync("/metrics"));
        return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [Fact]
    public async Task Each_audit_row_written_counts_on_metrics_by_action()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var before = await OpenEventsAsync(http);
        await InspectAsync(http, "ctr-001", "ops@yourco.com", "done");
        Assert.Equal(["session.open", "session.end"], app.Store.ListAudit().Select(a => a.Action));
        Assert.True(await OpenEventsAsync(http) >= before + 1, "piorchestrator_audit_events_total{action=\"session.open\"} did not grow");
        Assert.Contains("piorchestrator_audit_events_total{", await http.GetStringAsync("/metrics"));
        Assert.Matches("""piorchestrator_audit_events_total\{[^}]*action="session\.end"[^}]*\} [1-9]""", await http.GetStringAsync("/metrics"));
    }
}
