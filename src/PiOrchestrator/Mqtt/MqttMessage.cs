namespace PiOrchestrator.Mqtt;

/// <summary>
/// A received message. Its PUBACK waits for <see cref="Acknowledge"/>: the broker keeps a QoS 1 message until then
/// and sends it again after a reconnect, so whoever handles it acknowledges once the message is durably recorded
/// or deliberately dropped. <see cref="Payload"/> is empty when <see cref="PayloadLength"/> exceeded the copy limit.
/// </summary>
public sealed class MqttMessage(string topic, byte[] payload, int payloadLength, bool retain, Action<MqttMessage>? sendAck = null)
{
    private int _acknowledged;

    public string Topic { get; } = topic;
    public byte[] Payload { get; } = payload;
    public int PayloadLength { get; } = payloadLength;
    public bool Retain { get; } = retain;

    public bool Acknowledged => Volatile.Read(ref _acknowledged) == 1;

    /// <summary>Queues the PUBACK (once; later calls do nothing). Never blocks: the ack goes out from the connection's own loop.</summary>
    public void Acknowledge()
    {
        if (Interlocked.Exchange(ref _acknowledged, 1) == 0) sendAck?.Invoke(this);
    }

    /// <summary>The client library's handle on the delivery, for the connection that sends the ack.</summary>
    internal object? Delivery { get; init; }
}
