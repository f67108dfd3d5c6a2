using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Store;

/// <summary>The data disk in the metrics.</summary>
public sealed class StoreObserved(EvidenceStore store) : IGaugeSource
{
    public void AddGauges(Meter meter) =>
        meter.CreateObservableGauge("piorchestrator.disk.full", () => store.DiskFull ? 1 : 0,
            description: "1 while the data disk has no room and new photos are refused");
}
