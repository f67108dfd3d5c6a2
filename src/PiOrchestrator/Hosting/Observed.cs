using System.Diagnostics.Metrics;

namespace PiOrchestrator.Hosting;

/// <summary>
/// A feature's part of the line systemd shows as the unit's status (<c>STATUS=</c>, in <c>systemctl status</c>), such
/// as "mqtt connected". Each feature registers its own; the systemd observer joins them by <see cref="Order"/>.
/// </summary>
public interface ISummaryPart
{
    int Order { get; }

    string Describe();
}

/// <summary>
/// A feature's gauges on the agent's state meter, read when Prometheus scrapes (observable instruments: nothing is
/// kept up to date between scrapes). Each feature registers its own; the metrics observer adds them all.
/// </summary>
public interface IGaugeSource
{
    void AddGauges(Meter meter);
}
