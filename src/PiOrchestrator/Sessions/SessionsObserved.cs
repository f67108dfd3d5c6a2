using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;

namespace PiOrchestrator.Sessions;

/// <summary>Door-event floods in the metrics.</summary>
public sealed class SessionsObserved(SessionEngine sessions, IOptions<SiteOptions> site) : IGaugeSource
{
    public void AddGauges(Meter meter) =>
        meter.CreateObservableGauge("piorchestrator.door.events.flooded", () => site.Value.Containers.Select(c => new Measurement<int>(
                sessions.Snapshot(c.Id)?.Flood is null ? 0 : 1, new KeyValuePair<string, object?>("container", c.Id))),
            description: "1 while the container's door events arrive faster than Doors:FloodEventsPerMinute");
}
