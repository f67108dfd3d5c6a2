using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using PiOrchestrator.Hosting;
using Polly;

namespace PiOrchestrator.Mqtt;

public enum MqttState { Disabled, Connecting, Connected, Disconnected }

/// <summary>
/// Owns the one broker connection (MQTTnet): connect with a deadline, reconnect with capped backoff, subscribe on every
/// connect, the retained online/offline status, dispatch to subscriptions, and the
/// PUBACKs that handlers release once they are done with a message (never before: see <see cref="MqttMessage"/>).
/// </summary>
public sealed partial class MqttConnection(
    IOptions<MqttOptions> options,
    IEnumerable<IMqttSubscription> subscriptions,
    Hosting.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<MqttConnection> log) : BackgroundService
{
    /// <summary>Payloads above this are not copied for the handlers; they are rejected by size alone.</summary>
    public const int MaxPayloadBytes = 4096;

    // Evidence and alerts waiting for the broker; past this the oldest go (they are in the store and the API anyway).
    private const int OutboxCapacity = 10_000;
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(5);
    private static readonly byte[] Online = "online"u8.ToArray();
    private static readonly byte[] Offline = "offline"u8.ToArray();

    private readonly MqttOptions _options = options.Value;
    private readonly IMqttSubscription[] _subscriptions = MqttSubscriptions.Disjoint(subscriptions);
    private readonly Channel<MqttMessage> _acks = Channel.CreateUnbounded<MqttMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<(string Topic, byte[] Payload, bool Retain)> _outbox = Channel.CreateBounded<(string, byte[], bool)>(
        new BoundedChannelOptions(OutboxCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private volatile bool _running;
    private volatile MqttState _state = MqttState.Connecting;
    private volatile TaskCompletionSource<string> _lost = NewLostSignal();
    private long _messagesReceived;

    /// <summary>How the broker's TCP connection is made (<see cref="MqttTransport.ConnectTcp"/>); tests replace it.</summary>
    internal Func<System.Net.DnsEndPoint, CancellationToken, ValueTask<Stream>> ConnectTcp { get; init; } = Net.SocketThreading.ConnectAsync;

    /// <summary>Sees the client before it connects (tests attach MQTTnet's packet inspector).</summary>
    internal Action<IMqttClient>? ClientCreated { get; init; }

    /// <summary>Reconnects start after 1 s and double up to Mqtt:ReconnectMaxSeconds.</summary>
    internal static Backoff Reconnect(MqttOptions options) => new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(options.ReconnectMaxSeconds));

    public MqttState State => _state;
    public string? LastError { get; private set; }
    public DateTimeOffset? StateSince { get; private set; }
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);

    /// <summary>Queues a QoS 1 publish; it goes out when the broker is connected. False when MQTT is not running.</summary>
    public bool TryPublish(string topic, ReadOnlySpan<byte> payload, bool retain = false) =>
        _running && _outbox.Writer.TryWrite((topic, payload.ToArray(), retain));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            SetState(MqttState.Disabled, null);
            heartbeats.Retire("mqtt");
            log.LogInformation("MQTT is disabled (Mqtt:Enabled=false); door events come only from other sources");
            return;
        }
        if (_options.Tls.Enabled && _options.Tls.Insecure)
            log.LogWarning("MQTT TLS hostname check is off (Mqtt:Tls:Insecure=true): any certificate signed by the CA is accepted for {Host}", _options.Host);

        if (!_options.UsesMqtt5)
            log.LogWarning("MQTT {Version} (Mqtt:ProtocolVersion): the broker cannot be told this agent's packet size limit; set message_size_limit {Limit} in its mosquitto.conf, or a huge publish on a door topic is buffered whole here",
                _options.ProtocolVersion, _options.MaxPacketBytes);
        var transport = new MqttTransport(_options, time) { ConnectTcp = ConnectTcp };
        var clientOptions = ClientOptions(transport);
        using var client = new MqttClientFactory().CreateMqttClient();
        ClientCreated?.Invoke(client);
        client.ApplicationMessageReceivedAsync += OnMessageAsync;
        client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected) _lost.TrySetResult(e.Exception?.Message ?? e.ReasonString ?? e.Reason.ToString());
            return Task.CompletedTask;
        };
        _running = true;
        var acks = SendAcksAsync(stoppingToken);
        var publishes = SendPublishesAsync(client, stoppingToken);
        var backoff = Reconnect(_options);
        var connect = new ResiliencePipelineBuilder<bool> { TimeProvider = time }
            .AddRetry(backoff.Forever<bool>(args => ValueTask.FromResult(args.Outcome is { Exception: null, Result: false }), args =>
            {
                heartbeats.Beat("mqtt", args.RetryDelay + Idle);
                return ValueTask.CompletedTask;
            }))
            .Build();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await connect.ExecuteAsync(async ct => await TryConnectAsync(client, clientOptions, transport, ct), stoppingToken);
                var reason = await UntilLostAsync(stoppingToken);
                if (reason is null) break;
                log.LogWarning("MQTT connection to {Host}:{Port} lost ({Reason}); reconnecting", _options.Host, _options.BrokerPort, reason);
                SetState(MqttState.Disconnected, reason);
                // Not at once: two agents given one client id would take the session from each other as fast as they connect.
                heartbeats.Beat("mqtt", backoff.First + Idle);
                await Task.Delay(backoff.First, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            _running = false;
            await SayOfflineAsync(client);
            SetState(MqttState.Disconnected, null);
            await Task.WhenAll(acks, publishes);
        }
    }

    private MqttClientOptions ClientOptions(MqttTransport transport)
    {
        // Clean session false: the broker keeps the session (and our unacknowledged door events) for as long as it is
        // configured to. Under MQTT 5 that takes a session expiry of "never", or the session would end at disconnect;
        // and the Maximum Packet Size makes the broker drop oversize messages for us rather than send them.
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.BrokerPort)
            .WithStreamProvider(transport)
            .WithClientId(_options.ClientId)
            .WithCleanSession(false)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(_options.KeepAliveSeconds))
            .WithTimeout(TimeSpan.FromSeconds(_options.ConnectTimeoutSeconds))
            .WithWillTopic(_options.AgentStatusTopic)
            .WithWillPayload(Offline)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithWillRetain(true);
        if (_options.UsesMqtt5)
            builder.WithProtocolVersion(MqttProtocolVersion.V500).WithSessionExpiryInterval(uint.MaxValue)
                .WithMaximumPacketSize((uint)_options.MaxPacketBytes);
        else
            builder.WithProtocolVersion(MqttProtocolVersion.V311);
        if (!string.IsNullOrEmpty(_options.Username))
            builder.WithCredentials(_options.Username, _options.Password);
        return builder.Build();
    }

    /// <summary>One connection attempt, abandoned after Mqtt:ConnectTimeoutSeconds; true once subscribed and online.</summary>
    private async Task<bool> TryConnectAsync(IMqttClient client, MqttClientOptions clientOptions, MqttTransport transport, CancellationToken stoppingToken)
    {
        var timeout = TimeSpan.FromSeconds(_options.ConnectTimeoutSeconds);
        heartbeats.Beat("mqtt", timeout + Idle);
        _lost = NewLostSignal();
        // MQTTnet ignores its own timeout when given a cancellable token: the deadline is ours.
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        attempt.CancelAfter(timeout);
        try
        {
            var result = await client.ConnectAsync(clientOptions, attempt.Token);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                var refused = Describe(result.ResultCode);
                if (LastError != refused)
                    log.LogWarning("MQTT broker {Host}:{Port} refused the connection: {Reason}", _options.Host, _options.BrokerPort, refused);
                SetState(MqttState.Disconnected, refused);
                return false;
            }
            // Subscribed on every connect, a resumed session too: the broker's session may be an older agent's, from
            // before a subscription was added (an upgrade, a changed Mqtt:TopicPrefix). Subscribing again to a filter the
            // session has changes nothing but its retained messages, which MQTT 5 is asked not to send again.
            var subscribe = new MqttClientSubscribeOptionsBuilder();
            foreach (var subscription in _subscriptions)
            {
                var filter = new MqttTopicFilterBuilder().WithTopic(subscription.TopicFilter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
                // 3.1.1 has no retain handling (MQTTnet refuses it): a resent retained door message is ignored anyway.
                if (_options.UsesMqtt5) filter.WithRetainHandling(MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly);
                subscribe.WithTopicFilter(filter.Build());
            }
            await client.SubscribeAsync(subscribe.Build(), attempt.Token);
            await client.PublishAsync(Status(Online), attempt.Token);
            if (_state != MqttState.Connected)
                log.LogInformation("MQTT connected to {Host}:{Port}{Tls} as {ClientId}; listening on {Topics}{Session}",
                    _options.Host, _options.BrokerPort, _options.Tls.Enabled ? " over TLS" : "", _options.ClientId,
                    string.Join(", ", _subscriptions.Select(s => s.TopicFilter)), result.IsSessionPresent ? " (session resumed)" : "");
            SetState(MqttState.Connected, null);
            return true;
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            ReportFailure(Explain(ex, transport, attempt.IsCancellationRequested));
            if (client.IsConnected)
            {
                try
                {
                    await client.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None);
                }
                catch (Exception)
                {
                    // Already gone.
                }
            }
            return false;
        }
    }

    /// <summary>The cause of a failed attempt in words, and whether it is a TLS problem (logged as an error).</summary>
    private (string Cause, bool Tls) Explain(Exception ex, MqttTransport transport, bool timedOut)
    {
        if (Find<MqttTlsException>(ex) is { } tls) return (tls.Message, true);
        if (transport.ExplainClosedBeforeConnack() is { } closed && !timedOut) return (closed, true);
        if (timedOut) return ($"no answer from the broker within {_options.ConnectTimeoutSeconds} s", false);
        if (Find<SocketException>(ex) is { } socket) return (socket.Message, false);
        var innermost = ex;
        while (innermost.InnerException is not null) innermost = innermost.InnerException;
        return (innermost.Message, false);
    }

    private static T? Find<T>(Exception? ex) where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
            if (ex is T found) return found;
        return null;
    }

    /// <summary>One log line per distinct cause, then quiet retries; status shows the cause throughout.</summary>
    private void ReportFailure((string Cause, bool Tls) failure)
    {
        var (cause, tls) = failure;
        var repeated = cause == LastError;
        SetState(MqttState.Disconnected, cause);
        if (repeated)
            log.LogDebug("MQTT connect to {Host}:{Port} failed again: {Error}", _options.Host, _options.BrokerPort, cause);
        else if (tls)
            log.LogError("MQTT TLS connection to {Host}:{Port} failed: {Error}; retrying with backoff", _options.Host, _options.BrokerPort, cause);
        else
            log.LogWarning("MQTT broker {Host}:{Port} unreachable ({Error}); retrying in the background", _options.Host, _options.BrokerPort, cause);
    }

    /// <summary>Waits while connected (the heartbeat proves the loop alive); the reason the connection ended, or null at shutdown.</summary>
    private async Task<string?> UntilLostAsync(CancellationToken stoppingToken)
    {
        var lost = _lost.Task;
        while (true)
        {
            heartbeats.Beat("mqtt", Idle + Idle);
            try
            {
                return await lost.WaitAsync(Idle, time, stoppingToken);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return null;
            }
        }
    }

    /// <summary>At shutdown (systemd's SIGTERM): a retained offline, then DISCONNECT (which suppresses the will).</summary>
    private async Task SayOfflineAsync(IMqttClient client)
    {
        log.LogInformation("MQTT disconnecting from {Host}:{Port}", _options.Host, _options.BrokerPort);
        if (!client.IsConnected) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await client.PublishAsync(Status(Offline), timeout.Token);
            await client.DisconnectAsync(new MqttClientDisconnectOptions(), timeout.Token);
        }
        catch (Exception ex)
        {
            // The will says offline for us.
            log.LogDebug("MQTT offline status not sent ({Error}); the broker publishes the will", ex.Message);
        }
    }

    private MqttApplicationMessage Status(byte[] payload) => new MqttApplicationMessageBuilder()
        .WithTopic(_options.AgentStatusTopic).WithPayload(payload)
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build();

    private static string Describe(MqttClientConnectResultCode code) => code switch
    {
        MqttClientConnectResultCode.UnsupportedProtocolVersion => "the broker does not accept this MQTT version: for a broker that speaks 3.1.1 only, set Mqtt:ProtocolVersion=3.1.1 (and its message_size_limit, see README)",
        MqttClientConnectResultCode.ClientIdentifierNotValid => "the client id (Mqtt:ClientId) was rejected",
        MqttClientConnectResultCode.ServerUnavailable => "the broker is unavailable",
        MqttClientConnectResultCode.BadUserNameOrPassword => "bad user name or password (Mqtt:Username, Mqtt:Password)",
        MqttClientConnectResultCode.NotAuthorized => "not authorised (Mqtt:Username, Mqtt:Password)",
        _ => $"CONNACK {code}",
    };

    private static TaskCompletionSource<string> NewLostSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void SetState(MqttState state, string? error)
    {
        if (_state != state || StateSince is null) StateSince = time.GetUtcNow();
        _state = state;
        LastError = error;
    }
}
