using System.Text.RegularExpressions;
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
    // OpenSSL's errors since the last connect: the reason behind a bare MOSQ_ERR_TLS or EPROTO.
    private readonly List<string> _libraryErrors = [];
    private TimeSpan _retryDelay = TimeSpan.FromSeconds(1);
    // When an OpenSSL error arrived that no disconnect has followed yet.
    private DateTimeOffset? _libraryErrorAt;

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
        if (_options.Tls.Enabled)
        {
            var tls = _options.Tls;
            client.SetTls(NullIfEmpty(tls.CaFile), string.IsNullOrEmpty(tls.CaFile) ? SystemCaPath : null, NullIfEmpty(tls.CertFile), NullIfEmpty(tls.KeyFile), tls.Insecure);
            if (tls.Insecure)
                log.LogWarning("MQTT TLS hostname check is off (Mqtt:Tls:Insecure=true): any certificate signed by the CA is accepted for {Host}", _options.Host);
        }
        client.SetWill(_options.AgentStatusTopic, Offline, qos: 1, retain: true);
        client.SetReconnectDelay(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(_options.ReconnectMaxSeconds));

        _client = client;
        try
        {
            while (await ConnectAsync(client, stoppingToken))
            {
                client.StartLoop();
                if (!await PumpAsync(client, stoppingToken)) break;
                // libmosquitto's network thread has returned (TLS failure, DNS failure...) and will not reconnect by itself.
                client.StopLoop();
            }
        }
        finally
        {
            _client = null;
            // A clean disconnect suppresses the will, so say offline ourselves.
            client.Publish(_options.AgentStatusTopic, Offline, qos: 1, retain: true);
            SetState(MqttState.Disconnected, null);
            log.LogInformation("MQTT disconnecting from {Host}:{Port}", _options.Host, _options.BrokerPort);
        }
    }

    private const string SystemCaPath = "/etc/ssl/certs";
    private static readonly TimeSpan HandshakeFailureQuiet = TimeSpan.FromMilliseconds(500);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Starts a connection, retrying with backoff while it cannot even begin (libmosquitto does not retry that itself).</summary>
    private async Task<bool> ConnectAsync(MosquittoClient client, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeats.Beat("mqtt", _retryDelay + TimeSpan.FromSeconds(5));
            _libraryErrors.Clear();
            _libraryErrorAt = null;
            if (client.TryConnect(_options.Host, _options.BrokerPort, _options.KeepAliveSeconds, out var error))
                return true;
            DrainLibraryErrors(client);
            await ReportFailureAsync(error, stoppingToken);
            if (!await WaitRetryAsync(stoppingToken)) return false;
        }
        return false;
    }

    private async Task<bool> WaitRetryAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(_retryDelay, time, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        _retryDelay = TimeSpan.FromSeconds(Math.Min(_retryDelay.TotalSeconds * 2, _options.ReconnectMaxSeconds));
        return true;
    }

    /// <summary>
    /// One log line per distinct cause (a TLS failure named by what is wrong with the certificate), then quiet
    /// retries; status shows the cause throughout.
    /// </summary>
    private async Task ReportFailureAsync(string error, CancellationToken ct)
    {
        var tlsFailure = _options.Tls.Enabled ? await DescribeTlsFailureAsync(ct) : null;
        var cause = tlsFailure ?? error;
        var repeated = cause == LastError;
        SetState(MqttState.Disconnected, cause);
        if (repeated)
            log.LogDebug("MQTT connect to {Host}:{Port} failed again: {Error}", _options.Host, _options.BrokerPort, cause);
        else if (tlsFailure is not null)
            log.LogError("MQTT TLS connection to {Host}:{Port} failed: {Error}; retrying with backoff", _options.Host, _options.BrokerPort, cause);
        else
            log.LogWarning("MQTT broker {Host}:{Port} unreachable ({Error}); retrying in the background", _options.Host, _options.BrokerPort, cause);
    }

    /// <summary>The TLS cause behind a failed connect, or null when TLS is not what failed (say, the broker is down).</summary>
    private async Task<string?> DescribeTlsFailureAsync(CancellationToken ct)
    {
        var openSsl = string.Join("; ", _libraryErrors
            .Select(e => Regex.Replace(e, @"^OpenSSL Error\[\d+\]: (error:[0-9A-Fa-f]+:)?([^:]*:+)*", "").Trim())
            .Where(e => e.Length > 0).Distinct());
        if (openSsl.Contains("wrong version number", StringComparison.OrdinalIgnoreCase) || openSsl.Contains("packet length too long", StringComparison.OrdinalIgnoreCase))
            return $"the broker port {_options.BrokerPort} does not speak TLS ({openSsl})";
        if (openSsl.Contains("key values mismatch", StringComparison.OrdinalIgnoreCase))
            return $"Mqtt:Tls:KeyFile is not the key of Mqtt:Tls:CertFile ({openSsl})";
        var diagnosis = await MqttTlsProbe.DiagnoseAsync(_options, time, ct);
        if (diagnosis is not null) return diagnosis;
        return openSsl.Length > 0 ? $"TLS error: {openSsl}" : null;
    }

    private void DrainLibraryErrors(MosquittoClient client)
    {
        while (client.Signals.TryPeek(out var signal) && signal is MqttLibraryError error && client.Signals.TryRead(out _))
            _libraryErrors.Add(error.Text);
    }

    /// <summary>Dispatches signals until shutdown (false) or until the network thread has ended and needs a restart (true).</summary>
    private async Task<bool> PumpAsync(MosquittoClient client, CancellationToken stoppingToken)
    {
        var reader = client.Signals;
        var lastSignal = time.GetUtcNow();
        // Not connected and nothing heard for this long: the attempt died inside libmosquitto's thread (a TLS handshake
        // can fail there with no callback at all), or that thread is only sleeping between retries. Restarting it is
        // right either way.
        var connectTimeout = TimeSpan.FromSeconds(_options.ConnectTimeoutSeconds);
        try
        {
            while (true)
            {
                heartbeats.Beat("mqtt", TimeSpan.FromSeconds(5));
                // Wake at least every few seconds so the heartbeat proves the loop is alive while idle.
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                idle.CancelAfter(_libraryErrorAt is null ? TimeSpan.FromSeconds(5) : TimeSpan.FromMilliseconds(200));
                try
                {
                    if (!await reader.WaitToReadAsync(idle.Token)) return false;
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // A handshake that fails inside the network thread ends it with no disconnect callback: only
                    // OpenSSL's logged errors tell, followed by silence.
                    if (_libraryErrorAt is { } since && _state != MqttState.Connected && time.GetUtcNow() - since > HandshakeFailureQuiet)
                    {
                        _libraryErrorAt = null;
                        await ReportFailureAsync("TLS handshake failed", stoppingToken);
                        return await WaitRetryAsync(stoppingToken);
                    }
                    if (_state != MqttState.Connected && time.GetUtcNow() - lastSignal > connectTimeout)
                    {
                        _libraryErrorAt = null;
                        await ReportFailureAsync($"no answer from the broker within {_options.ConnectTimeoutSeconds} s", stoppingToken);
                        return await WaitRetryAsync(stoppingToken);
                    }
                    continue;
                }
                lastSignal = time.GetUtcNow();
                while (reader.TryRead(out var signal))
                {
                    if (signal is MqttDisconnected lost && lost.ReturnCode != 0 && EndsNetworkThread(lost))
                    {
                        DrainLibraryErrors(client);
                        await ReportFailureAsync(lost.Description, stoppingToken);
                        return await WaitRetryAsync(stoppingToken);
                    }
                    if (signal is MqttDisconnected { ReturnCode: not 0 } early && _options.Tls.Enabled && _state != MqttState.Connected)
                    {
                        // Dropped before the broker ever answered: likely TLS (a refused client certificate looks like this).
                        // libmosquitto's thread retries by itself here.
                        await ReportFailureAsync(early.Description, stoppingToken);
                        _libraryErrors.Clear();
                        _libraryErrorAt = null;
                        continue;
                    }
                    Handle(client, signal);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// libmosquitto's thread returns on the errors of <see cref="MosquittoClient.EndsLoop"/>, and on a TLS read failure
    /// (reported as errno EPROTO, seen here as MOSQ_ERR_ERRNO after an OpenSSL error).
    /// </summary>
    private bool EndsNetworkThread(MqttDisconnected lost) =>
        MosquittoClient.EndsLoop(lost.ReturnCode) || (lost.ReturnCode == Native.LibMosquitto.MOSQ_ERR_ERRNO && _libraryErrors.Count > 0);

    private void Handle(MosquittoClient client, MqttSignal signal)
    {
        switch (signal)
        {
            case MqttLibraryError error:
                log.LogDebug("libmosquitto: {Error}", error.Text);
                _libraryErrors.Add(error.Text);
                _libraryErrorAt ??= time.GetUtcNow();
                break;
            case MqttConnected { ReturnCode: 0 }:
                _libraryErrors.Clear();
                _libraryErrorAt = null;
                _retryDelay = TimeSpan.FromSeconds(1);
                foreach (var subscription in _subscriptions)
                {
                    var rc = client.Subscribe(subscription.TopicFilter, qos: 1);
                    if (rc != 0)
                        log.LogWarning("MQTT subscribe to {Topic} failed: {Error}", subscription.TopicFilter, MosquittoClient.Describe(rc));
                }
                client.Publish(_options.AgentStatusTopic, Online, qos: 1, retain: true);
                if (_state != MqttState.Connected)
                    log.LogInformation("MQTT connected to {Host}:{Port}{Tls} as {ClientId}; listening on {Topics}",
                        _options.Host, _options.BrokerPort, _options.Tls.Enabled ? " over TLS" : "", _options.ClientId,
                        string.Join(", ", _subscriptions.Select(s => s.TopicFilter)));
                SetState(MqttState.Connected, null);
                break;
            case MqttConnected refused:
                if (LastError != refused.Description)
                    log.LogWarning("MQTT broker {Host}:{Port} refused the connection: {Reason}", _options.Host, _options.BrokerPort, refused.Description);
                SetState(MqttState.Disconnected, refused.Description);
                break;
            case MqttDisconnected lost:
                if (_state == MqttState.Connected)
                    log.LogWarning("MQTT connection to {Host}:{Port} lost ({Reason}); reconnecting", _options.Host, _options.BrokerPort, lost.Description);
                SetState(MqttState.Disconnected, lost.Description);
                _libraryErrors.Clear();
                _libraryErrorAt = null;
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
