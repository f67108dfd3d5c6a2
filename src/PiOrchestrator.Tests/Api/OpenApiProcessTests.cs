using System.Net;
using System.Text.Json.Nodes;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// The document as the built agent serves it (in scripts/test.sh's second pass, the native build): the same document
/// as the in-process app's, so trimming and ahead-of-time compilation lose none of its schemas, enums or formats.
/// </summary>
[Trait("Agent", "Process")]
public class OpenApiProcessTests
{
    [Fact]
    public async Task The_built_agent_serves_the_same_document_and_answers_by_it()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url);
        using var raw = app.Server.CreateClient();
        var expected = JsonNode.Parse(await raw.GetStringAsync("/openapi/v1.json"));

        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
        });
        await agent.WaitReadyAsync();
        var served = JsonNode.Parse(await agent.Http.GetStringAsync("/openapi/v1.json"));
        Assert.True(JsonNode.DeepEquals(expected, served),
            $"the agent's document differs from the in-process one:\n{served?.ToJsonString()}");
        Assert.Contains("\"enum\"", served!.ToJsonString(), StringComparison.Ordinal);

        // agent.Http checks each answer against that document.
        Assert.Equal(HttpStatusCode.OK, (await agent.Http.GetAsync("/api/v1/status")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.Http.GetAsync("/api/v1/sessions")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.Http.GetAsync("/api/v1/sessions/none/evidence/pair")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await agent.Http.GetAsync("/api/v1/evidence/not-a-uuid")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.Http.GetAsync("/healthz")).StatusCode);
    }
}
