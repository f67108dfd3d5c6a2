namespace PiOrchestrator.Mqtt;

/// <summary>A feature's interest in a topic; the connection subscribes it on every (re)connect.</summary>
public interface IMqttSubscription
{
    string TopicFilter { get; }

    /// <summary>Called on the connection's loop, never on libmosquitto's thread. Must not throw.</summary>
    void Handle(MqttMessage message);
}
