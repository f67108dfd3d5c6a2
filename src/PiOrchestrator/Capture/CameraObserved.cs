using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;

namespace PiOrchestrator.Capture;

/// <summary>The cameras in systemd's status line and in the metrics.</summary>
public sealed class CameraObserved(CameraHealth cameras, IOptions<SiteOptions> site) : ISummaryPart, IGaugeSource
{
    public int Order => 20;

    public string Describe()
    {
        var configured = site.Value.Containers.Select(c => c.CameraId).Distinct().ToList();
        var online = configured.Count(id => cameras.Get(id).Online == true);
        return $"cameras {online}/{configured.Count} online";
    }

    public void AddGauges(Meter meter)
    {
        var containers = site.Value.Containers;
        // A camera not yet asked (just started) is left out rather than called offline.
        meter.CreateObservableGauge("piorchestrator.camera.online", () => CameraMeasurements(containers),
            description: "1 while the container's camera answers, 0 while it does not");
        meter.CreateObservableGauge("piorchestrator.camera.busy", () => CameraMeasurements(containers, busy: true),
            description: "1 while a camera is connected but does not answer (its server serving another client, or every socket taken), by container and camera");
    }

    private IEnumerable<Measurement<int>> CameraMeasurements(List<ContainerOptions> containers, bool busy = false)
    {
        foreach (var c in containers)
            if (cameras.Get(c.CameraId) is { Online: { } online } camera)
                yield return new Measurement<int>((busy ? camera.State == CameraHealth.States.Busy : online) ? 1 : 0,
                    new KeyValuePair<string, object?>("container", c.Id), new KeyValuePair<string, object?>("camera", c.CameraId));
    }
}
