using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Mqtt;

public sealed class MqttOptions
{
    public bool Enabled { get; set; } = true;

    [Required(AllowEmptyStrings = false)]
    public string Host { get; set; } = "localhost";

    /// <summary>Unset: 1883, or 8883 with TLS.</summary>
    [Range(1, 65535)]
    public int? Port { get; set; }

    public int BrokerPort => Port ?? (Tls.Enabled ? 8883 : 1883);

    public MqttTlsOptions Tls { get; set; } = new();

    /// <summary>Fixed across restarts so the broker keeps the session and queues door events while the agent is away.</summary>
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string ClientId { get; set; } = $"piorchestrator-{Environment.MachineName}";

    public string? Username { get; set; }

    /// <summary>Prefer the systemd credential <c>mqtt-password</c> (see README) to keeping it in a file under /etc.</summary>
    public string? Password { get; set; }

    [RegularExpression("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]
    public string TopicPrefix { get; set; } = "containers";

    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string AgentId { get; set; } = Environment.MachineName;

    [Range(5, 3600)]
    public int KeepAliveSeconds { get; set; } = 30;

    /// <summary>How long a connection attempt may go unanswered (TCP, TLS handshake, CONNACK) before it is retried.</summary>
    [Range(1, 300)]
    public int ConnectTimeoutSeconds { get; set; } = 15;

    [Range(1, 3600)]
    public int ReconnectMaxSeconds { get; set; } = 30;

    /// <summary>
    /// "5" (default) or "3.1.1". MQTT 5 lets the agent tell the broker its <see cref="MaxPacketBytes"/>; a broker that
    /// speaks 3.1.1 only needs its own <c>message_size_limit</c> instead (README).
    /// </summary>
    [AllowedValues("5", "3.1.1")]
    public string ProtocolVersion { get; set; } = "5";

    /// <summary>
    /// The largest packet the agent accepts (MQTT 5 Maximum Packet Size): the broker drops a bigger message for this
    /// client instead of sending it, so a hostile publish is never buffered here. Door payloads are checked at 4 KB.
    /// </summary>
    [Range(8192, 268_435_455)]
    public int MaxPacketBytes { get; set; } = 65_536;

    public bool UsesMqtt5 => ProtocolVersion == "5";

    public string DoorTopicFilter => $"{TopicPrefix}/+/door";

    public string AgentStatusTopic => $"{TopicPrefix}/agent/{AgentId}/status";
}

public sealed class MqttTlsOptions
{
    public bool Enabled { get; set; }

    /// <summary>PEM file of the CA that signed the broker's certificate. Empty: the system's trusted CAs.</summary>
    public string? CaFile { get; set; }

    /// <summary>Client certificate and its key (PEM, key unencrypted), for brokers that require one.</summary>
    public string? CertFile { get; set; }

    public string? KeyFile { get; set; }

    /// <summary>Skips the broker hostname check (never the CA check). For test benches only.</summary>
    public bool Insecure { get; set; }
}

/// <summary>The attribute checks of <see cref="MqttOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class MqttOptionsAnnotations : IValidateOptions<MqttOptions>
{
}
