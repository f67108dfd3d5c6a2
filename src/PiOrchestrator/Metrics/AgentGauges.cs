using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Metrics;

/// <summary>
/// The agent's state, read when Prometheus scrapes (observable instruments): nothing is kept up to date between
/// scrapes. Each feature adds its own gauges (<see cref="IGaugeSource"/>); the process's are here. Its own meter,
/// from this host's <see cref="IMeterFactory"/>, since it reads this host's services. A hosted
/// service only to be built when the host starts; it has nothing to run.
/// </summary>
public sealed class AgentGauges : IHostedService
{
    public const string MeterName = "PiOrchestrator.State";

    public AgentGauges(IMeterFactory meters, IEnumerable<IGaugeSource> sources)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("piorchestrator.build.info", () => new Measurement<int>(1,
            new KeyValuePair<string, object?>("version", AgentVersion.Current),
            new KeyValuePair<string, object?>("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription),
            new KeyValuePair<string, object?>("native", (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported).ToString().ToLowerInvariant())),
            description: "Always 1; the labels say which build runs");
        foreach (var source in sources) source.AddGauges(meter);

        meter.CreateObservableGauge("piorchestrator.process.memory.working.set", () => Environment.WorkingSet, unit: "By",
            description: "The agent's resident memory");
        meter.CreateObservableGauge("piorchestrator.gc.heap.size", () => GC.GetGCMemoryInfo().HeapSizeBytes, unit: "By",
            description: "Managed heap size at the last garbage collection");
        meter.CreateObservableCounter("piorchestrator.process.cpu.time", () => Environment.CpuUsage.TotalTime.TotalSeconds, unit: "s",
            description: "CPU time used by the agent, user and kernel");
        meter.CreateObservableCounter("piorchestrator.gc.collections", () => GcCollections(),
            description: "Garbage collections by generation");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static Measurement<long>[] GcCollections()
    {
        var measurements = new Measurement<long>[GC.MaxGeneration + 1];
        for (var gen = 0; gen <= GC.MaxGeneration; gen++)
            measurements[gen] = new Measurement<long>(GC.CollectionCount(gen), new KeyValuePair<string, object?>("generation", "gen" + gen));
        return measurements;
    }
}
