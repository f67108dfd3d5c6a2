using Microsoft.Extensions.Options;

namespace PiOrchestrator.Mqtt;

public enum MqttState { Disabled, Unavailable, Connecting, Connected, Disconnected }

/// <summary>
/// Owns the one broker connection: first-connect retry (libmosquitto does not retry a failed first connect),
/// resubscription on every connect, the retained online/offline status, and dispatch to subscriptions.
/// </summary>
public sealed class MqttConnection(
    IOptions<MqttOptions> options,
    IEnumerable<IMqttSubscription> subscriptions,
    Systemd.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<MqttConnection> log) : BackgroundService
{
    /// <summary>Payloads above this are never copied out of libmosquitto; they are rejected by size alone.</summary>
    public const int MaxPayloadBytes = 4096;

    private static readonly byte[] Online = "online"u8.ToArray();
    private static readonly byte[] Offline = "offline"u8.ToArray();

    private readonly MqttOptions _options = options.Value;
    private readonly IMqttSubscription[] _subscriptions = subscriptions.ToArray();
    private MosquittoClient? _client;
    private volatile MqttState _state = MqttState.Connecting;

    public MqttState State => _state;
    public string? LastError { get; private set; }
    public DateTimeOffset? StateSince { get; private set; }
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);
    private long _messagesReceived;


    /// <summary>Publishes with QoS 1; libmosquitto queues it while disconnected.</summary>
    public bool TryPublish(string topic, ReadOnlySpan<byte> payload, bool retain = false)
    {
        var client = _client;
        if (client is null) return false;
        var rc = client.Publish(topic, payload, qos: 1, retain);
        return rc is Native.LibMosquitto.MOSQ_ERR_SUCCESS or Native.LibMosquitto.MOSQ_ERR_NO_CONN;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            SetState(MqttState.Disabled, null);
            heartbeats.Retire("mqtt");
            log.LogInformation("MQTT is disabled (Mqtt:Enabled=false); door events come only from other sources");
            return;
        }
        if (!MosquittoClient.TryLoadLibrary(out var loadError))
        {
            SetState(MqttState.Unavailable, loadError);
            heartbeats.Retire("mqtt");
            log.LogError("MQTT door events are off: {Error}", loadError);
            return;
        }

        using var client = new MosquittoClient(_options.ClientId, cleanSession: false, MaxPayloadBytes);
        if (!string.IsNullOrEmpty(_options.Username))
            client.SetCredentials(_options.Username, _options.Password);
        client.SetWill(_options.AgentStatusTopic, Offline, qos: 1, retain: true);
        client.SetReconnectDelay(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(_options.ReconnectMaxSeconds));

        if (!await ConnectFirstTimeAsync(client, stoppingToken)) return;
        client.StartLoop();
        _client = client;
        try
        {
            await PumpAsync(client, stoppingToken);
        }
        finally
        {
            _client = null;
            // A clean disconnect suppresses the will, so say offline ourselves.
            client.Publish(_options.AgentStatusTopic, Offline, qos: 1, retain: true);
            SetState(MqttState.Disconnected, null);
            log.LogInformation("MQTT disconnecting from {Host}:{Port}", _options.Host, _options.Port);
        }
    }

    private async Task<bool> ConnectFirstTimeAsync(MosquittoClient client, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeats.Beat("mqtt", delay + TimeSpan.FromSeconds(5));
            if (client.TryConnect(_options.Host, _options.Port, _options.KeepAliveSeconds, out var error))
                return true;
            failures++;
            SetState(MqttState.Disconnected, error);
            if (failures == 1)
                log.LogWarning("MQTT broker {Host}:{Port} unreachable ({Error}); retrying in the background", _options.Host, _options.Port, error);
            else
                log.LogDebug("MQTT connect attempt {Attempt} failed: {Error}", failures, error);
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, _options.ReconnectMaxSeconds));
        }
        return false;
    }

    private async Task PumpAsync(MosquittoClient client, CancellationToken stoppingToken)
    {
        var reader = client.Signals;
        try
        {
            while (true)
            {
                heartbeats.Beat("mqtt", TimeSpan.FromSeconds(5));
                // Wake at least every few seconds so the heartbeat proves the loop is alive while idle.
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                idle.CancelAfter(TimeSpan.FromSeconds(5));
                try
                {
                    if (!await reader.WaitToReadAsync(idle.Token)) return;
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    continue;
                }
                while (reader.TryRead(out var signal))
                    Handle(client, signal);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Handle(MosquittoClient client, MqttSignal signal)
    {
        switch (signal)
        {
            case MqttConnected { ReturnCode: 0 }:
                foreach (var subscription in _subscriptions)
                {
                    var rc = client.Subscribe(subscription.TopicFilter, qos: 1);
                    if (rc != 0)
                        log.LogWarning("MQTT subscribe to {Topic} failed: {Error}", subscription.TopicFilter, MosquittoClient.Describe(rc));
                }
                client.Publish(_options.AgentStatusTopic, Online, qos: 1, retain: true);
                if (_state != MqttState.Connected)
                    log.LogInformation("MQTT connected to {Host}:{Port} as {ClientId}; listening on {Topics}",
                        _options.Host, _options.Port, _options.ClientId, string.Join(", ", _subscriptions.Select(s => s.TopicFilter)));
                SetState(MqttState.Connected, null);
                break;
            case MqttConnected refused:
                if (LastError != refused.Description)
                    log.LogWarning("MQTT broker {Host}:{Port} refused the connection: {Reason}", _options.Host, _options.Port, refused.Description);
                SetState(MqttState.Disconnected, refused.Description);
                break;
            case MqttDisconnected lost:
                if (_state == MqttState.Connected)
                    log.LogWarning("MQTT connection to {Host}:{Port} lost ({Reason}); reconnecting", _options.Host, _options.Port, lost.Description);
                SetState(MqttState.Disconnected, lost.Description);
                break;
            case MqttMessage message:
                Interlocked.Increment(ref _messagesReceived);
                foreach (var subscription in _subscriptions)
                {
                    if (!TopicMatches(subscription.TopicFilter, message.Topic)) continue;
                    try
                    {
                        subscription.Handle(message);
                    }
                    catch (Exception ex)
                    {
                        log.LogError(ex, "MQTT handler for {Topic} failed", message.Topic);
                    }
                }
                break;
        }
    }

    private void SetState(MqttState state, string? error)
    {
        if (_state != state) StateSince = time.GetUtcNow();
        _state = state;
        LastError = error;
    }

    /// <summary>MQTT filter match for the single-level (+) and multi-level (#) wildcards.</summary>
    public static bool TopicMatches(string filter, string topic)
    {
        var f = filter.Split('/');
        var t = topic.Split('/');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#") return true;
            if (i >= t.Length) return false;
            if (f[i] != "+" && f[i] != t[i]) return false;
        }
        return f.Length == t.Length;
    }
}
