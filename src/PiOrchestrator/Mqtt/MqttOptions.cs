using System.ComponentModel.DataAnnotations;

namespace PiOrchestrator.Mqtt;

public sealed class MqttOptions
{
    public bool Enabled { get; set; } = true;

    [Required(AllowEmptyStrings = false)]
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>Fixed across restarts so the broker keeps the session and queues door events while the agent is away.</summary>
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string ClientId { get; set; } = $"piorchestrator-{Environment.MachineName}";

    public string? Username { get; set; }

    public string? Password { get; set; }

    [RegularExpression("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]
    public string TopicPrefix { get; set; } = "containers";

    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string AgentId { get; set; } = Environment.MachineName;

    [Range(5, 3600)]
    public int KeepAliveSeconds { get; set; } = 30;

    [Range(1, 3600)]
    public int ReconnectMaxSeconds { get; set; } = 30;

    public string DoorTopicFilter => $"{TopicPrefix}/+/door";

    public string AgentStatusTopic => $"{TopicPrefix}/agent/{AgentId}/status";
}
