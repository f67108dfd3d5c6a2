using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Site;

namespace PiOrchestrator.Doors;

/// <summary>
/// Door events from <c>{prefix}/{container_id}/door</c>; bad ones (and retained ones) are logged (throttled), dropped
/// and acknowledged at once. A good one carries its message's acknowledgement to the session engine, which completes it after the
/// commit that records the event.
/// </summary>
public sealed class MqttDoorEventSource(
    IOptions<MqttOptions> mqtt,
    IOptions<SiteOptions> site,
    IDoorEventSink sink,
    TimeProvider time,
    ILogger<MqttDoorEventSource> log) : IMqttSubscription
{
    private readonly LogThrottle _throttle = new(time, TimeSpan.FromMinutes(1));
    private long _rejected;

    public string TopicFilter => mqtt.Value.DoorTopicFilter;

    public long Rejected => Interlocked.Read(ref _rejected);

    public void Handle(MqttMessage message)
    {
        if (!DoorEventParser.TryGetContainerId(message.Topic, mqtt.Value.TopicPrefix, out var containerId))
        {
            message.Acknowledge();
            return;
        }
        if (message.Retain)
        {
            // A retained message is what someone published once, maybe long ago, delivered again at every new
            // subscription: taken as live, a stale "opened" would start a session nobody opened.
            Reject("retained", message, "a retained message, not a live event (door events must not be retained; clear it at the broker: mosquitto_pub -r -n -t <topic>)", "retained");
            return;
        }
        if (site.Value.Find(containerId) is null)
        {
            // One class for all unknown ids: a flood of made-up containers must not become a flood of log lines.
            Reject("unknown_container", message, "unknown container (not in Containers)", "unknown_container");
            return;
        }
        var result = DoorEventParser.Parse(containerId, message.Payload, message.PayloadLength, DoorEventSource.Mqtt, time.GetUtcNow());
        if (!result.Ok)
        {
            Reject(result.ProblemClass, message, result.Problem!);
            return;
        }
        // Not acknowledged when the engine has stopped taking events: the broker sends it again after the restart.
        sink.Post(result.Event! with { Ack = new MessageAck(message) });
    }

    private sealed class MessageAck(MqttMessage message) : IDoorEventAck
    {
        public void Acknowledge() => message.Acknowledge();
    }

    private void Reject(string problemClass, MqttMessage message, string problem, string metricResult = "invalid")
    {
        message.Acknowledge();
        var topic = message.Topic;
        Interlocked.Increment(ref _rejected);
        DoorMetrics.DoorEvent(DoorEventSource.Mqtt, metricResult);
        if (!_throttle.ShouldLog(problemClass, out var suppressed)) return;
        var heldBack = suppressed > 0 ? $" ({suppressed} more of this kind held back)" : "";
        log.LogWarning("Door event on {Topic} dropped: {Problem}{HeldBack}", DoorEventParser.Printable(topic), problem, heldBack);
    }
}
