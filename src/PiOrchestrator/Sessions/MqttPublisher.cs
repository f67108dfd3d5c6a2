using System.Text.Json;
using Microsoft.Extensions.Options;
using PiOrchestrator.Evidence;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>
/// What the agent tells the site over MQTT: each capture's JSON (without image_data) on
/// <c>{prefix}/{container_id}/evidence</c>, and alerts on <c>{prefix}/{container_id}/alert</c>. QoS 1, queued by
/// the connection while the broker is away.
/// </summary>
public sealed class MqttPublisher : IHostedService
{
    private readonly MqttConnection _mqtt;
    private readonly EvidenceStore _store;
    private readonly SessionEngine _engine;
    private readonly MqttOptions _options;
    private readonly ILogger<MqttPublisher> _log;

    public MqttPublisher(MqttConnection mqtt, EvidenceStore store, SessionEngine engine, IOptions<MqttOptions> options, ILogger<MqttPublisher> log)
    {
        _mqtt = mqtt;
        _store = store;
        _engine = engine;
        _options = options.Value;
        _log = log;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _store.EvidenceStored += OnEvidence;
        _engine.Alert += OnAlert;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _store.EvidenceStored -= OnEvidence;
        _engine.Alert -= OnAlert;
        return Task.CompletedTask;
    }

    private void OnEvidence(EvidenceRecord e)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(CaptureDto.From(e, imageData: null), EvidenceJsonContext.Default.CaptureDto);
        if (!_mqtt.TryPublish($"{_options.TopicPrefix}/{e.ContainerId}/evidence", json))
            _log.LogDebug("Evidence {EvidenceId} not published: MQTT is not running", e.EvidenceId);
    }

    private void OnAlert(DoorAlert alert)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(alert, SessionsJsonContext.Default.DoorAlert);
        _mqtt.TryPublish($"{_options.TopicPrefix}/{alert.ContainerId}/alert", json);
    }
}
