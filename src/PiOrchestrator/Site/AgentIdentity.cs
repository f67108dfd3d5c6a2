using System.ComponentModel.DataAnnotations;

namespace PiOrchestrator.Site;

/// <summary>
/// Who this agent is, wherever it speaks (MQTT topics, the device key's subject). Read from <c>Mqtt:AgentId</c>,
/// the key sites already set, so features that sign or name things need not know the MQTT transport.
/// </summary>
public sealed class AgentIdentity
{
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string AgentId { get; set; } = Environment.MachineName;
}
