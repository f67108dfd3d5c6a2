using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Mqtt;

/// <summary>The broker connection in systemd's status line and in the metrics.</summary>
public sealed class MqttObserved(MqttConnection mqtt) : ISummaryPart, IGaugeSource
{
    public int Order => 10;

    public string Describe() => $"mqtt {mqtt.State.ToString().ToLowerInvariant()}";

    public void AddGauges(Meter meter) =>
        meter.CreateObservableGauge("piorchestrator.mqtt.connected", () => mqtt.State == MqttState.Connected ? 1 : 0,
            description: "1 while the broker connection is up");
}
