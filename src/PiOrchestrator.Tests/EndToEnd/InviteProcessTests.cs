using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>A technician's invite in the agent as a process (native in the native run): joined once, scoped to its container.</summary>
[Trait("Agent", "Process")]
public class InviteProcessTests
{
    private const string Key = "site-key-e2e-invite";

    private static async Task<HttpResponseMessage> SendAsync(AgentProcess agent, HttpMethod method, string path, string? bearer, string? json = null,
        string? otp = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (otp is not null) request.Headers.Add("X-Join-OTP", otp);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await agent.Http.SendAsync(request);
    }

    private static async Task<JsonElement> Body(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    [Fact]
    public async Task A_technician_joins_once_and_takes_a_test_capture_on_their_container_only_under_their_name()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-invite");
        environment["PIORCH_Api__Key"] = Key;
        environment["PIORCH_Containers__1__Id"] = "ctr-002";
        environment["PIORCH_Containers__1__CameraId"] = "espcam-d4e5f6";
        environment["PIORCH_Containers__1__CameraUrl"] = camera.Url;
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();

        var minted = (await Body(await SendAsync(agent, HttpMethod.Post, "/api/v1/invites", Key,
            """{"name":"Alex Garcia","containers":["ctr-001"],"ttl_minutes":30}"""), HttpStatusCode.Created)).GetProperty("data");
        var token = minted.GetProperty("join_token").GetString()!;
        var code = minted.GetProperty("otp_code").GetString()!;
        Assert.EndsWith($"/join/{token}", minted.GetProperty("join_url").GetString());
        var pepper = Path.Combine(data.Path, "invite-pepper");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pepper));
        Assert.Equal(32, new FileInfo(pepper).Length);

        var credential = (await Body(await SendAsync(agent, HttpMethod.Post, $"/api/v1/join/{token}", null, otp: code), HttpStatusCode.OK))
            .GetProperty("data").GetProperty("access_token").GetString()!;
        Assert.Equal("invite_used", (await Body(await SendAsync(agent, HttpMethod.Post, $"/api/v1/join/{token}", null, otp: code), HttpStatusCode.Gone))
            .GetProperty("error").GetProperty("code").GetString());

        var capture = (await Body(await SendAsync(agent, HttpMethod.Post, "/api/v1/containers/ctr-001/captures", credential), HttpStatusCode.Created))
            .GetProperty("data");
        Assert.Equal("MANUAL", capture.GetProperty("capture_tag").GetString());
        Assert.Equal("permission_denied", (await Body(await SendAsync(agent, HttpMethod.Post, "/api/v1/containers/ctr-002/captures", credential),
            HttpStatusCode.Forbidden)).GetProperty("error").GetProperty("code").GetString());

        var events = (await Body(await SendAsync(agent, HttpMethod.Get, "/api/v1/audit", Key), HttpStatusCode.OK)).GetProperty("data").GetProperty("events");
        Assert.Equal([("capture", "Alex Garcia", "ctr-001"), ("invite.joined", "Alex Garcia", null), ("invite.minted", "admin", null)],
            events.EnumerateArray().Select(e => (e.GetProperty("action").GetString(), e.GetProperty("actor").GetString(), e.GetProperty("container_id").GetString())));
        Assert.Equal("127.0.0.1", events[0].GetProperty("address").GetString());
    }
}
