using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;

namespace PiOrchestrator.Mqtt;

/// <summary>The connection's traffic: received messages to their subscription, PUBACKs, and QoS 1 publishes.</summary>
public sealed partial class MqttConnection
{
    /// <summary>
    /// Hands a message to its subscription. MQTTnet calls this on a thread-pool thread (the transport resumes every
    /// read there), one message at a time in delivery order, and would swallow an exception and leave the message
    /// unacknowledged: every path here ends in an acknowledgement or a hand-over that will give one.
    /// </summary>
    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        e.AutoAcknowledge = false;
        MqttMessage? message = null;
        try
        {
            Interlocked.Increment(ref _messagesReceived);
            var received = e.ApplicationMessage;
            var length = (int)Math.Min(received.Payload.Length, int.MaxValue);
            var payload = length <= MaxPayloadBytes ? System.Buffers.BuffersExtensions.ToArray(received.Payload) : [];
            message = new MqttMessage(received.Topic, payload, length, received.Retain, QueueAck) { Delivery = e };
            var subscription = MqttSubscriptions.For(_subscriptions, received.Topic);
            if (subscription is null)
            {
                message.Acknowledge();
                return Task.CompletedTask;
            }
            subscription.Handle(message);
        }
        catch (Exception ex)
        {
            // A message its handler cannot take would fail the same way at every redelivery: dropped, said once here.
            log.LogError(ex, "MQTT handler for {Topic} failed; the message is dropped", e.ApplicationMessage.Topic);
            if (message is not null) message.Acknowledge();
            else e.AutoAcknowledge = true;
        }
        return Task.CompletedTask;
    }

    private void QueueAck(MqttMessage message) => _acks.Writer.TryWrite(message);

    /// <summary>
    /// Sends the PUBACKs handlers released, in the order they were released, from this loop (a thread-pool thread):
    /// the session engine's loop never waits on the network. An ack that cannot go out (the connection is gone) is
    /// harmless: the broker sends the message again and its stored event id makes the repeat a no-op.
    /// </summary>
    private async Task SendAcksAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var message in _acks.Reader.ReadAllAsync(stoppingToken))
            {
                if (message.Delivery is not MqttApplicationMessageReceivedEventArgs delivery) continue;
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(SendTimeout);
                    await delivery.AcknowledgeAsync(timeout.Token);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    log.LogDebug("PUBACK for {Topic} not sent ({Error}); the broker sends the message again", message.Topic, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Evidence and alerts, QoS 1, in order; held while the broker is away.</summary>
    private async Task SendPublishesAsync(IMqttClient client, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (topic, payload, retain) in _outbox.Reader.ReadAllAsync(stoppingToken))
            {
                var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build();
                while (true)
                {
                    if (client.IsConnected)
                    {
                        try
                        {
                            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                            timeout.CancelAfter(SendTimeout);
                            await client.PublishAsync(message, timeout.Token);
                            break;
                        }
                        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                        {
                            log.LogDebug("MQTT publish to {Topic} failed ({Error}); retrying after reconnect", topic, ex.Message);
                        }
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
