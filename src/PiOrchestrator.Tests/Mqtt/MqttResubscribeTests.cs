using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Mqtt;

/// <summary>
/// The broker keeps the agent's session (clean session off) across restarts. An agent that starts with a subscription
/// its old session lacks — upgraded, or its Mqtt:TopicPrefix changed — must still hear that topic.
/// </summary>
[Trait("Agent", "Process")]
public sealed class MqttResubscribeTests
{
    [Theory]
    [InlineData("5")]
    [InlineData("3.1.1")]
    public async Task A_restarted_agent_with_a_new_subscription_hears_it_although_the_broker_resumed_its_session(string protocol)
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var broker = await MosquittoBroker.StartAsync();
        using var data = new TempDirectory();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera);
        environment["PIORCH_Mqtt__ProtocolVersion"] = protocol;
        environment["PIORCH_Mqtt__TopicPrefix"] = "old-site";
        environment["PIORCH_Containers__0__FlushFrames"] = "0";

        await using (var first = AgentProcess.Start(environment))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("listening on old-site/+/door");
            Assert.Equal(0, await first.StopAsync());
        }

        environment["PIORCH_Mqtt__TopicPrefix"] = "site";
        await using var second = AgentProcess.Start(environment);
        await second.WaitReadyAsync();
        await second.WaitForOutputAsync("(session resumed)");
        await broker.PublishAsync("site/ctr-001/door", "closed");

        await Eventually.UntilAsync(async () =>
            (await second.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == 1,
            TimeSpan.FromSeconds(30), "the door event on the new topic to make a session");
    }
}
