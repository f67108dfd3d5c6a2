using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.StatusPage;

/// <summary>
/// The page's forms in headless Debian chromium against the agent process, as a technician uses them: join with an
/// invite's link and code, open an inspection, end it after a confirmation; the audit names the person for each.
/// </summary>
[Trait("Agent", "Process")]
public class StatusPageFormsTests
{
    private const string Key = "site-key-page-forms";

    [Fact]
    public async Task A_technician_joins_on_the_page_opens_an_inspection_and_ends_it_after_a_confirmation_within_their_invite()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-forms");
        environment["PIORCH_Api__Key"] = Key;
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_Containers__0__Id"] = "ctr-a";
        environment["PIORCH_Containers__1__Id"] = "ctr-b";
        environment["PIORCH_Containers__1__CameraId"] = "espcam-b";
        environment["PIORCH_Containers__1__CameraUrl"] = camera.Url;
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();

        var output = await PageCheck.RunAsync(agent, "status-page-forms.check.js", Key, RepoPaths.TestTools);

        Assert.Contains("ok: after the revoke a test capture on ctr-a is refused, and the page asks for a key", output);
        var sessionId = output.Split('\n').Single(l => l.StartsWith("session: ")).Trim()["session: ".Length..];
        using var admin = new HttpClient { BaseAddress = agent.Http.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", Key);
        var session = (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}"));
        Assert.Equal("Alex Garcia", session.GetProperty("opened_by").GetString());
        Assert.Equal("Alex Garcia", session.GetProperty("ended_by").GetString());
        Assert.Equal("door sensor stuck open", session.GetProperty("end_reason").GetString());

        var audit = System.Text.Json.JsonDocument.Parse(await admin.GetStringAsync($"/api/v1/audit?session_id={sessionId}")).RootElement
            .GetProperty("data").GetProperty("events").EnumerateArray()
            .Select(e => (Action: e.GetProperty("action").GetString(), Actor: e.GetProperty("actor").GetString())).ToList();
        Assert.Contains(("session.open", "Alex Garcia"), audit);
        Assert.Contains(("session.end", "Alex Garcia"), audit);
    }
}
