using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Access;

/// <summary>Invites for technicians: how many joins an address may try, and how many invites are kept.</summary>
public sealed class AccessOptions
{
    /// <summary>Join attempts one client address may make per minute (a wrong code, an unknown token, a right one).</summary>
    [Range(1, 600)]
    public int JoinAttemptsPerMinute { get; set; } = 10;

    /// <summary>Join attempts an address may make at once above that rate.</summary>
    [Range(1, 100)]
    public int JoinBurst { get; set; } = 5;

    /// <summary>Invites kept at most (live ones, and ended ones for a day); minting more is refused until some end.</summary>
    [Range(1, 10_000)]
    public int MaxInvites { get; set; } = 100;
}

[OptionsValidator]
internal sealed partial class AccessOptionsAnnotations : IValidateOptions<AccessOptions>
{
}
