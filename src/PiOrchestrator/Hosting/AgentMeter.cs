using System.Diagnostics.Metrics;
using System.Reflection;

namespace PiOrchestrator.Hosting;

/// <summary>This build's version, as the status API, the metrics and the start-up log line show it.</summary>
public static class AgentVersion
{
    public static readonly string Current =
        typeof(AgentVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}

/// <summary>
/// The meter every feature records its event counters on (one call where the thing happens), so a recording point
/// needs no new constructor parameter. The Prometheus exporter reads it as "PiOrchestrator" (<c>/metrics</c>): names
/// become <c>piorchestrator_*</c> series, dots turn to underscores, counters gain <c>_total</c>, units a suffix.
/// </summary>
public static class AgentMeter
{
    public const string Name = "PiOrchestrator";

    public static readonly Meter Meter = new(Name, AgentVersion.Current);
}
