namespace PiOrchestrator.Mqtt;

/// <summary>A feature's interest in a topic; the connection subscribes it whenever the broker has no session for the agent.</summary>
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
