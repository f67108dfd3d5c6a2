using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Doors;

public sealed class DoorsOptions
{
    /// <summary>
    /// The same door state reported again within this window (by MQTT and GPIO both, or twice by one source) is
    /// one event: one physical opening makes one session.
    /// </summary>
    [Range(0, 600_000)]
    public int MergeWindowMs { get; set; } = 5000;

    /// <summary>
    /// Door events per container per minute above which the container is flagged (a warning, a metric, the status):
    /// a door cycle is two or three events, so even a busy door with two sources stays far below. Every event is
    /// still handled: a real door's evidence is never dropped for the rate.
    /// </summary>
    [Range(10, 1_000_000)]
    public int FloodEventsPerMinute { get; set; } = 120;

    /// <summary>
    /// Door event ids remembered in memory at most (~460 bytes each at the longest: ~4.6 MB), far above a site's week
    /// of doors; past it (a flood) the oldest go and the store answers for them.
    /// </summary>
    [Range(100, 1_000_000)]
    public int RememberedEventIds { get; set; } = 10_000;
}

/// <summary>The attribute checks of <see cref="DoorsOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class DoorsOptionsAnnotations : IValidateOptions<DoorsOptions>
{
}
