namespace PiOrchestrator.Site;

/// <summary>
/// Who this agent is, wherever it speaks (MQTT topics, the device key's subject). Read from <c>Mqtt:AgentId</c>,
/// the key sites already set, so features that sign or name things need not know the MQTT transport. Its form is
/// checked once, with the rest of <c>Mqtt</c>, by <c>MqttOptions</c>' validation at start.
/// </summary>
public sealed class AgentIdentity
{
    public string AgentId { get; set; } = Environment.MachineName;
}
