using PiOrchestrator.Mqtt;

namespace PiOrchestrator.Tests.Mqtt;

/// <summary>Each topic has one handler: overlapping subscriptions are refused at start, and matching is MQTTnet's.</summary>
public class MqttSubscriptionsTests
{
    private sealed class Subscription(string filter) : IMqttSubscription
    {
        public string TopicFilter => filter;
        public void Handle(MqttMessage message) => message.Acknowledge();
    }

    [Theory]
    [InlineData("containers/+/door", "containers/ctr-001/door", true)]
    [InlineData("containers/+/door", "containers/#", true)]
    [InlineData("containers/+/door", "containers/ctr-001/+", true)]
    [InlineData("containers/+/door", "containers/+/evidence", false)]
    [InlineData("containers/+/door", "sites/+/door", false)]
    [InlineData("containers/+/door", "containers/+/door/extra", false)]
    [InlineData("containers/#", "containers", true)]
    [InlineData("a/b", "a/b/#", true)]
    [InlineData("a/b", "a/+/c", false)]
    [InlineData("#", "anything/at/all", true)]
    public void Filters_overlap_exactly_when_some_topic_matches_both(string first, string second, bool overlap)
    {
        Assert.Equal(overlap, MqttSubscriptions.CanOverlap(first, second));
        Assert.Equal(overlap, MqttSubscriptions.CanOverlap(second, first));
    }

    [Fact]
    public void Two_subscriptions_that_could_share_a_topic_are_refused_naming_both()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            MqttSubscriptions.Disjoint([new Subscription("containers/+/door"), new Subscription("containers/ctr-001/#")]));
        Assert.Contains("containers/+/door", error.Message);
        Assert.Contains("containers/ctr-001/#", error.Message);
        Assert.Equal(2, MqttSubscriptions.Disjoint([new Subscription("containers/+/door"), new Subscription("containers/+/command")]).Length);
    }

    [Theory]
    [InlineData("containers/ctr-001/door", "containers/+/door")]
    [InlineData("containers/ctr-001/command", "containers/+/command")]
    [InlineData("containers/ctr-001/evidence", null)]
    [InlineData("containers/a/b/door", null)]
    public void A_topic_goes_to_the_subscription_whose_filter_matches(string topic, string? expected)
    {
        IMqttSubscription[] subscriptions = [new Subscription("containers/+/door"), new Subscription("containers/+/command")];
        Assert.Equal(expected, MqttSubscriptions.For(subscriptions, topic)?.TopicFilter);
    }
}
