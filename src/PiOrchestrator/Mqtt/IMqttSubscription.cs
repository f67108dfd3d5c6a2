namespace PiOrchestrator.Mqtt;

/// <summary>A feature's interest in a topic; the connection subscribes it on every connect. No topic may match two (<see cref="MqttSubscriptions"/>).</summary>
public interface IMqttSubscription
{
    string TopicFilter { get; }

    /// <summary>
    /// Called on a thread-pool thread, in the order the broker delivered, one message at a time. Must return quickly,
    /// and must see to it that <see cref="MqttMessage.Acknowledge"/> is called once the message is recorded or dropped
    /// (an exception thrown here is logged and the message acknowledged as dropped).
    /// </summary>
    void Handle(MqttMessage message);
}
