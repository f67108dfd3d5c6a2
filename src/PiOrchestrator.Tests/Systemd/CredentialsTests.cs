using System.Net;
using System.Net.Http.Headers;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>
/// Secrets handed over as systemd credentials ($CREDENTIALS_DIRECTORY, as LoadCredential= makes it) reach the
/// settings they belong to, win over the env file, and never show in the log, status, OpenAPI or error answers.
/// </summary>
[Trait("Agent", "Process")]
public sealed class CredentialsTests
{
    [Fact]
    public async Task Secrets_from_the_credentials_directory_are_used_and_never_shown()
    {
        const string mqttPassword = "mqtt-cred-Hq27LpWx";
        const string apiKey = "api-cred-Vd93KsNe";
        const string s3Secret = "s3-cred-Xr55JmQa";
        using var data = new TempDirectory();
        using var credentials = new TempDirectory();
        await File.WriteAllTextAsync(Path.Combine(credentials.Path, "mqtt-password"), mqttPassword + "\n");
        await File.WriteAllTextAsync(Path.Combine(credentials.Path, "api-key"), apiKey + "\n");
        await File.WriteAllTextAsync(Path.Combine(credentials.Path, "s3-secret-key"), s3Secret);
        await using var broker = await MosquittoBroker.StartWithLoginAsync("site-7", mqttPassword);
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();

        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["CREDENTIALS_DIRECTORY"] = credentials.Path,
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-cred-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Mqtt__Username"] = "site-7",
            // The env file's value loses to the credential.
            ["PIORCH_Mqtt__Password"] = "stale-env-password",
            ["PIORCH_S3__Endpoint"] = s3.Endpoint,
            ["PIORCH_S3__AccessKey"] = S3Server.AccessKey,
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
            ["PIORCH_Logging__LogLevel__Default"] = "Debug",
        });
        await agent.WaitReadyAsync();

        // The broker only lets the right password in.
        await Eventually.UntilAsync(async () => (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean(),
            TimeSpan.FromSeconds(20), "MQTT to connect with the password from the credential");
        // The API key guards the capture endpoint.
        using (var anonymous = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/v1/containers/ctr-001/captures"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "stale-env-password");
            using var answer = await agent.Http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
            Assert.DoesNotContain(apiKey, await answer.Content.ReadAsStringAsync());
        }
        using (var authorised = new HttpRequestMessage(HttpMethod.Post, "/api/v1/containers/ctr-001/captures"))
        {
            authorised.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var answer = await agent.Http.SendAsync(authorised);
            Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        }
        // s3rver's secret is S3RVER: the credential's secret is refused, and that error path is logged too.
        await agent.WaitForOutputAsync("refuses this agent's credentials", TimeSpan.FromSeconds(30));

        var status = await agent.Http.GetStringAsync("/api/v1/status");
        var openApi = await agent.Http.GetStringAsync("/openapi/v1.json");
        Assert.Equal(0, await agent.StopAsync());
        foreach (var secret in new[] { mqttPassword, apiKey, s3Secret })
        {
            Assert.DoesNotContain(secret, agent.Output);
            Assert.DoesNotContain(secret, status);
            Assert.DoesNotContain(secret, openApi);
        }
    }
}
