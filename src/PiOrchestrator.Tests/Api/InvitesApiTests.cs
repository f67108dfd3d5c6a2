using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>Invites for technicians: minted by the admin, joined once with the code, a credential scoped to containers and time.</summary>
public class InvitesApiTests
{
    private const string Key = "site-key-7c1";

    private static AgentApplication App(FakeCamera camera, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["Api:Key"] = Key };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;
        return new AgentApplication(camera.Url, settings);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string? json = null, string? bearer = Key,
        string? otp = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (otp is not null) request.Headers.Add("X-Join-OTP", otp);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await http.SendAsync(request);
    }

    private static async Task<JsonElement> Data(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("data");
    }

    private static async Task<string> Error(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        return error.GetProperty("code").GetString() + (error.TryGetProperty("field", out var f) ? ":" + f.GetString() : "");
    }

    private static async Task<(string Id, string Token, string Code)> MintAsync(HttpClient http, object? body = null)
    {
        using var response = await SendAsync(http, HttpMethod.Post, "/api/v1/invites",
            JsonSerializer.Serialize(body ?? new { name = "Alex Garcia", containers = new[] { "ctr-001" } }));
        var data = await Data(response, HttpStatusCode.Created);
        return (data.GetProperty("id").GetString()!, data.GetProperty("join_token").GetString()!, data.GetProperty("otp_code").GetString()!);
    }

    private static async Task<string> JoinAsync(HttpClient http, string token, string code)
    {
        using var response = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code);
        return (await Data(response, HttpStatusCode.OK)).GetProperty("access_token").GetString()!;
    }

    private static string Wrong(string code) => ((int.Parse(code) + 1) % 1_000_000).ToString("D6");

    [Fact]
    public async Task The_admin_mints_lists_and_revokes_an_invite_and_the_list_shows_no_secret()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();

        using (var response = await SendAsync(http, HttpMethod.Post, "/api/v1/invites",
                   JsonSerializer.Serialize(new { name = "Alex Garcia", containers = new[] { "ctr-001", "ctr-002" }, ttl_minutes = 90 })))
        {
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
            var minted = await Data(response, HttpStatusCode.Created);
            Assert.Matches("^inv-[0-9a-f]{16}$", minted.GetProperty("id").GetString());
            Assert.Matches("^[0-9]{6}$", minted.GetProperty("otp_code").GetString());
            var token = minted.GetProperty("join_token").GetString()!;
            Assert.Matches("^inv_[A-Za-z0-9_-]{43}$", token);
            Assert.Equal($"http://localhost/join/{token}", minted.GetProperty("join_url").GetString());
            var created = minted.GetProperty("created_at").GetDateTimeOffset();
            Assert.Equal(TimeSpan.FromMinutes(90), minted.GetProperty("expires_at").GetDateTimeOffset() - created);
            Assert.Equal(TimeSpan.FromMinutes(10), minted.GetProperty("otp_expires_at").GetDateTimeOffset() - created);
        }
        var (id, _, _) = await MintAsync(http);

        using (var list = await SendAsync(http, HttpMethod.Get, "/api/v1/invites"))
        {
            var text = await list.Content.ReadAsStringAsync();
            var invites = (await Data(list, HttpStatusCode.OK)).GetProperty("invites");
            Assert.Equal(2, invites.GetArrayLength());
            Assert.Equal(id, invites[0].GetProperty("id").GetString());
            Assert.Equal("pending", invites[0].GetProperty("status").GetString());
            Assert.Equal("admin", invites[0].GetProperty("created_by").GetString());
            Assert.DoesNotContain("otp", text.Replace("otp_expires_at", ""));
            Assert.DoesNotContain("inv_", text);
        }
        using (var anonymous = await SendAsync(http, HttpMethod.Get, "/api/v1/invites", bearer: null))
            Assert.Equal("unauthorized", await Error(anonymous, HttpStatusCode.Unauthorized));

        using (var revoke = await SendAsync(http, HttpMethod.Delete, $"/api/v1/invites/{id}"))
            Assert.Equal("revoked", (await Data(revoke, HttpStatusCode.OK)).GetProperty("status").GetString());
        using (var again = await SendAsync(http, HttpMethod.Delete, $"/api/v1/invites/{id}"))
            Assert.Equal("revoked", (await Data(again, HttpStatusCode.OK)).GetProperty("status").GetString());
        using (var unknown = await SendAsync(http, HttpMethod.Delete, "/api/v1/invites/inv-0000000000000000"))
            Assert.Equal("not_found", await Error(unknown, HttpStatusCode.NotFound));

        var actions = app.Store.ListAudit().Select(a => (a.Actor, a.Action, a.ContainerId, a.SessionId)).ToList();
        Assert.Equal([("admin", "invite.minted", null, null), ("admin", "invite.minted", null, null), ("admin", "invite.revoked", null, null)], actions);
        using (var audit = await SendAsync(http, HttpMethod.Get, "/api/v1/audit?action=invite.revoked"))
            Assert.Equal(1, (await Data(audit, HttpStatusCode.OK)).GetProperty("events").GetArrayLength());
    }

    [Theory]
    [InlineData("""{"containers":["ctr-001"]}""", "name")]
    [InlineData("""{"name":"admin","containers":["ctr-001"]}""", "name")]
    [InlineData("""{"name":"Alex  Garcia","containers":["ctr-001"]}""", "name")]
    [InlineData("""{"name":"Alex","containers":[]}""", "containers")]
    [InlineData("""{"name":"Alex","containers":["ctr-404"]}""", "containers")]
    [InlineData("""{"name":"Alex","containers":["ctr-001","ctr-001"]}""", "containers")]
    [InlineData("""{"name":"Alex","containers":["../x"]}""", "containers")]
    [InlineData("""{"name":"Alex","containers":["ctr-001"],"ttl_minutes":0}""", "ttl_minutes")]
    [InlineData("""{"name":"Alex","containers":["ctr-001"],"ttl_minutes":1441}""", "ttl_minutes")]
    public async Task A_bad_invite_is_refused_naming_the_field(string json, string field)
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        using var response = await SendAsync(http, HttpMethod.Post, "/api/v1/invites", json);
        Assert.Equal("invalid_request:" + field, await Error(response, HttpStatusCode.BadRequest));
        Assert.Empty(app.Store.ListInvites());
    }

    [Fact]
    public async Task A_join_gives_a_credential_for_its_containers_only_and_the_audit_names_the_person()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var (id, token, code) = await MintAsync(http);

        using (var join = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code))
        {
            var cookie = Assert.Single(join.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith("pio_tech=tech_", cookie);
            Assert.Contains("httponly", cookie);
            Assert.Contains("samesite=strict", cookie);
            Assert.Contains("path=/", cookie);
            var joined = await Data(join, HttpStatusCode.OK);
            Assert.Equal("Alex Garcia", joined.GetProperty("name").GetString());
            Assert.Equal("Bearer", joined.GetProperty("token_type").GetString());
            var credential = joined.GetProperty("access_token").GetString()!;
            Assert.Contains(credential, cookie);

            using (var capture = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", bearer: credential))
                await Data(capture, HttpStatusCode.Created);
            using (var other = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-002/captures", bearer: credential))
                Assert.Equal("permission_denied", await Error(other, HttpStatusCode.Forbidden));
            using (var open = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-002/sessions",
                       JsonSerializer.Serialize(new { opened_by = "Alex Garcia" }), bearer: credential))
                Assert.Equal("permission_denied", await Error(open, HttpStatusCode.Forbidden));
            using (var audit = await SendAsync(http, HttpMethod.Get, "/api/v1/audit", bearer: credential))
                Assert.Equal("permission_denied", await Error(audit, HttpStatusCode.Forbidden));
            using (var mint = await SendAsync(http, HttpMethod.Post, "/api/v1/invites", """{"name":"Eve","containers":["ctr-002"]}""", bearer: credential))
                Assert.Equal("permission_denied", await Error(mint, HttpStatusCode.Forbidden));

            using var opened = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/sessions",
                JsonSerializer.Serialize(new { opened_by = "Alex Garcia", notes = "seal check" }), bearer: credential);
            var sessionId = (await Data(opened, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            // A door session on the other container: ending it is outside the credential.
            var otherSession = await app.DoorCycleAsync("ctr-002");
            using (var endOther = await SendAsync(http, HttpMethod.Post, $"/api/v1/sessions/{otherSession}/end", "{}", bearer: credential))
                Assert.Equal("permission_denied", await Error(endOther, HttpStatusCode.Forbidden));
            using var end = await SendAsync(http, HttpMethod.Post, $"/api/v1/sessions/{sessionId}/end", """{"reason":"done"}""", bearer: credential);
            Assert.Equal("Alex Garcia", (await Data(end, HttpStatusCode.OK)).GetProperty("ended_by").GetString());
        }

        var rows = app.Store.ListAudit().Select(a => (a.Actor, a.Action, a.ContainerId)).ToList();
        Assert.Equal(
            [("admin", "invite.minted", null), ("Alex Garcia", "invite.joined", null), ("Alex Garcia", "capture", "ctr-001"),
             ("Alex Garcia", "session.open", "ctr-001"), ("Alex Garcia", "session.end", "ctr-001")],
            rows);
        Assert.Contains(id, app.Store.ListAudit()[1].Detail);
        using var list = await SendAsync(http, HttpMethod.Get, "/api/v1/invites");
        Assert.Equal("joined", (await Data(list, HttpStatusCode.OK)).GetProperty("invites")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_status_page_cookie_is_the_credential_too()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var (_, token, code) = await MintAsync(http);
        var credential = await JoinAsync(http, token, code);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/containers/ctr-001/captures");
        request.Headers.Add("Cookie", $"pio_tech={credential}");
        using (var capture = await http.SendAsync(request))
            await Data(capture, HttpStatusCode.Created);
        var forged = new HttpRequestMessage(HttpMethod.Post, "/api/v1/containers/ctr-001/captures");
        forged.Headers.Add("Cookie", $"pio_tech=tech_{new string('A', 43)}");
        using (var refused = await http.SendAsync(forged))
            Assert.Equal("unauthorized", await Error(refused, HttpStatusCode.Unauthorized));
    }

    [Fact]
    public async Task Five_wrong_codes_lock_the_invite_with_423_even_for_the_right_code_then()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera, new Dictionary<string, string?> { ["Access:JoinBurst"] = "20", ["Access:JoinAttemptsPerMinute"] = "600" });
        using var http = app.CreateClient();
        var (_, token, code) = await MintAsync(http);

        using (var none = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null))
            Assert.Equal("otp_required:X-Join-OTP", await Error(none, HttpStatusCode.Unauthorized));
        foreach (var malformed in new[] { "12345", "1234567", "12a456", "123 45" })
            using (var bad = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: malformed))
                Assert.Equal("invalid_request:X-Join-OTP", await Error(bad, HttpStatusCode.BadRequest));
        for (var attempt = 1; attempt <= 4; attempt++)
        {
            using var wrong = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: Wrong(code));
            var body = await wrong.Content.ReadAsStringAsync();
            Assert.Equal("otp_invalid:X-Join-OTP", await Error(wrong, HttpStatusCode.Unauthorized));
            Assert.Contains($"{5 - attempt} attempt(s) left", body);
        }
        using (var fifth = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: Wrong(code)))
            Assert.Equal("otp_locked", await Error(fifth, HttpStatusCode.Locked));
        using (var right = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code))
            Assert.Equal("otp_locked", await Error(right, HttpStatusCode.Locked));
        Assert.DoesNotContain(app.Store.ListAudit(), a => a.Action == "invite.joined");
        using var list = await SendAsync(http, HttpMethod.Get, "/api/v1/invites");
        var invite = (await Data(list, HttpStatusCode.OK)).GetProperty("invites")[0];
        Assert.Equal(("locked", 5), (invite.GetProperty("status").GetString(), invite.GetProperty("failed_attempts").GetInt32()));
    }

    [Fact]
    public async Task A_token_works_once_an_unknown_or_malformed_one_is_refused_and_joins_are_rate_limited()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera, new Dictionary<string, string?> { ["Access:JoinBurst"] = "5", ["Access:JoinAttemptsPerMinute"] = "1" });
        using var http = app.CreateClient();
        var (_, token, code) = await MintAsync(http);
        await JoinAsync(http, token, code);
        using (var second = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code))
            Assert.Equal("invite_used", await Error(second, HttpStatusCode.Gone));
        using (var unknown = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/inv_{new string('x', 43)}", bearer: null, otp: code))
            Assert.Equal("not_found", await Error(unknown, HttpStatusCode.NotFound));
        using (var malformed = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/inv_{new string('x', 42)}!", bearer: null, otp: code))
            Assert.Equal("invalid_request:token", await Error(malformed, HttpStatusCode.BadRequest));
        using (var fifth = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code))
            Assert.Equal("invite_used", await Error(fifth, HttpStatusCode.Gone));
        using var limited = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{token}", bearer: null, otp: code);
        Assert.Equal("rate_limited", await Error(limited, HttpStatusCode.TooManyRequests));
        Assert.NotNull(limited.Headers.RetryAfter);
    }

    [Fact]
    public async Task The_code_expires_after_ten_minutes_and_the_credential_with_its_invite()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var (_, lateToken, lateCode) = await MintAsync(http, new { name = "Late Tech", containers = new[] { "ctr-001" }, ttl_minutes = 60 });
        var (_, token, code) = await MintAsync(http, new { name = "Alex Garcia", containers = new[] { "ctr-001" }, ttl_minutes = 30 });
        var credential = await JoinAsync(http, token, code);

        app.Time.Advance(TimeSpan.FromMinutes(11));
        using (var late = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{lateToken}", bearer: null, otp: lateCode))
            Assert.Equal("invite_expired", await Error(late, HttpStatusCode.Gone));
        using (var stillGood = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", bearer: credential))
            await Data(stillGood, HttpStatusCode.Created);

        app.Time.Advance(TimeSpan.FromMinutes(20));
        using (var expired = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", bearer: credential))
            Assert.Equal("unauthorized", await Error(expired, HttpStatusCode.Unauthorized));
        using var list = await SendAsync(http, HttpMethod.Get, "/api/v1/invites");
        Assert.All((await Data(list, HttpStatusCode.OK)).GetProperty("invites").EnumerateArray(),
            i => Assert.Equal("expired", i.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task A_revoked_invite_stops_its_credential_at_once_and_cannot_be_joined()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var (id, token, code) = await MintAsync(http);
        var (otherId, otherToken, otherCode) = await MintAsync(http, new { name = "Sam Lee", containers = new[] { "ctr-001" } });
        var credential = await JoinAsync(http, token, code);
        using (var before = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", bearer: credential))
            await Data(before, HttpStatusCode.Created);

        using (var revoke = await SendAsync(http, HttpMethod.Delete, $"/api/v1/invites/{id}"))
            await Data(revoke, HttpStatusCode.OK);
        using (var after = await SendAsync(http, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", bearer: credential))
            Assert.Equal("unauthorized", await Error(after, HttpStatusCode.Unauthorized));

        using (var revokeOther = await SendAsync(http, HttpMethod.Delete, $"/api/v1/invites/{otherId}"))
            await Data(revokeOther, HttpStatusCode.OK);
        using var join = await SendAsync(http, HttpMethod.Post, $"/api/v1/join/{otherToken}", bearer: null, otp: otherCode);
        Assert.Equal("invite_revoked", await Error(join, HttpStatusCode.Gone));
    }

    [Fact]
    public async Task Invites_kept_are_bounded()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera, new Dictionary<string, string?> { ["Access:MaxInvites"] = "2" });
        using var http = app.CreateClient();
        await MintAsync(http);
        await MintAsync(http);
        using var third = await SendAsync(http, HttpMethod.Post, "/api/v1/invites", """{"name":"Alex","containers":["ctr-001"]}""");
        Assert.Equal("invite_limit_reached", await Error(third, HttpStatusCode.Conflict));
    }
}
