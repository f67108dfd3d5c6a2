using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Sessions;

public sealed class SessionsOptions
{
    /// <summary>A door open longer than this flags its session (DOOR_LEFT_OPEN), logs a warning and publishes an alert, once.</summary>
    [Range(1, 7 * 24 * 60)]
    public int MaxOpenMinutes { get; set; } = 30;
}

/// <summary>Something a site should hear about now (published on MQTT).</summary>
public sealed record DoorAlert(string Alert, string ContainerId, string SessionId, DateTimeOffset OpenedAt, DateTimeOffset At);

/// <summary>The attribute checks of <see cref="SessionsOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class SessionsOptionsAnnotations : IValidateOptions<SessionsOptions>
{
}
