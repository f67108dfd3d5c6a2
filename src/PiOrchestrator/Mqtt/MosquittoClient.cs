using System.Runtime.InteropServices;
using System.Threading.Channels;
using PiOrchestrator.Native;

namespace PiOrchestrator.Mqtt;

public abstract record MqttSignal;
public sealed record MqttConnected(int ReturnCode, string Description) : MqttSignal;
public sealed record MqttDisconnected(int ReturnCode, string Description) : MqttSignal;
/// <summary>An error libmosquitto logged (OpenSSL's reasons for a failed handshake arrive only this way).</summary>
public sealed record MqttLibraryError(string Text) : MqttSignal;
/// <summary>A received message; <see cref="Payload"/> is empty when <see cref="PayloadLength"/> exceeded the copy limit.</summary>
public sealed record MqttMessage(string Topic, byte[] Payload, int PayloadLength, int Qos, bool Retain) : MqttSignal;

/// <summary>
/// Safe wrapper over one libmosquitto client. Callbacks arrive on libmosquitto's network thread;
/// they copy what they need into <see cref="Signals"/> and return at once.
/// </summary>
public sealed unsafe class MosquittoClient : IDisposable
{
    private static readonly Lock InitLock = new();
    private static bool _initialised;

    private readonly Channel<MqttSignal> _signals = Channel.CreateUnbounded<MqttSignal>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly int _maxPayloadCopy;
    private GCHandle _self;
    private nint _handle;
    private bool _loopRunning;

    public MosquittoClient(string clientId, bool cleanSession, int maxPayloadCopy)
    {
        EnsureLibraryInitialised();
        _maxPayloadCopy = maxPayloadCopy;
        _self = GCHandle.Alloc(this);
        _handle = LibMosquitto.New(clientId, cleanSession, GCHandle.ToIntPtr(_self));
        if (_handle == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _self.Free();
            throw new MosquittoException($"mosquitto_new failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        LibMosquitto.ConnectCallbackSet(_handle, &OnConnect);
        LibMosquitto.DisconnectCallbackSet(_handle, &OnDisconnect);
        LibMosquitto.MessageCallbackSet(_handle, &OnMessage);
        LibMosquitto.LogCallbackSet(_handle, &OnLog);
        // Door events and their PUBACKs are tiny: Nagle's algorithm would only hold them back.
        LibMosquitto.IntOption(_handle, LibMosquitto.MOSQ_OPT_TCP_NODELAY, 1);
    }

    public ChannelReader<MqttSignal> Signals => _signals.Reader;

    /// <summary>Loads libmosquitto.so.1 without touching a client, so a missing package is one clear message.</summary>
    public static bool TryLoadLibrary(out string error) =>
        NativeLibraries.TryLoad(LibMosquitto.Library, LibMosquitto.DebianPackage, out error);

    public static string LibraryVersion()
    {
        EnsureLibraryInitialised();
        LibMosquitto.LibVersion(out var major, out var minor, out var revision);
        return $"{major}.{minor}.{revision}";
    }

    public void SetCredentials(string? username, string? password) =>
        Check(LibMosquitto.UsernamePasswordSet(_handle, username, password), "mosquitto_username_pw_set");

    /// <summary>
    /// TLS with peer verification against <paramref name="caFile"/> (or the system store in <paramref name="caPath"/>),
    /// an optional client certificate, and the broker's hostname checked unless <paramref name="insecure"/>.
    /// </summary>
    public void SetTls(string? caFile, string? caPath, string? certFile, string? keyFile, bool insecure)
    {
        Check(LibMosquitto.TlsSet(_handle, caFile, caPath, certFile, keyFile, 0), "mosquitto_tls_set");
        Check(LibMosquitto.TlsOptsSet(_handle, certReqs: 1, tlsVersion: null, ciphers: null), "mosquitto_tls_opts_set");
        Check(LibMosquitto.TlsInsecureSet(_handle, insecure), "mosquitto_tls_insecure_set");
    }

    public void SetWill(string topic, ReadOnlySpan<byte> payload, int qos, bool retain)
    {
        fixed (byte* p = payload)
            Check(LibMosquitto.WillSet(_handle, topic, payload.Length, p, qos, retain), "mosquitto_will_set");
    }

    public void SetReconnectDelay(TimeSpan min, TimeSpan max) =>
        Check(LibMosquitto.ReconnectDelaySet(_handle, (uint)min.TotalSeconds, (uint)max.TotalSeconds, true), "mosquitto_reconnect_delay_set");

    /// <summary>Starts a connection; false with the reason when the broker cannot be reached right now.</summary>
    public bool TryConnect(string host, int port, int keepAliveSeconds, out string error)
    {
        var rc = LibMosquitto.ConnectAsync(_handle, host, port, keepAliveSeconds);
        error = rc == LibMosquitto.MOSQ_ERR_SUCCESS ? "" : Describe(rc, Marshal.GetLastPInvokeError());
        return rc == LibMosquitto.MOSQ_ERR_SUCCESS;
    }

    public void StartLoop()
    {
        Check(LibMosquitto.LoopStart(_handle), "mosquitto_loop_start");
        _loopRunning = true;
    }

    /// <summary>Ends the network thread, whether it is reconnecting or has already returned after a fatal error.</summary>
    public void StopLoop()
    {
        if (!_loopRunning) return;
        // Disconnect first: a thread waiting to reconnect only leaves its loop in the disconnecting state.
        LibMosquitto.Disconnect(_handle);
        LibMosquitto.LoopStop(_handle, false);
        _loopRunning = false;
    }

    /// <summary>True when the network thread returns on <paramref name="rc"/> rather than reconnecting by itself.</summary>
    public static bool EndsLoop(int rc) => LibMosquitto.LoopEndingErrors.Contains(rc);

    /// <summary>Subscribes; a result other than success is returned, not thrown, because a drop mid-call is normal.</summary>
    public int Subscribe(string pattern, int qos) => LibMosquitto.Subscribe(_handle, out _, pattern, qos);

    /// <summary>
    /// Publishes; MOSQ_ERR_NO_CONN still queues a QoS&gt;0 message inside libmosquitto, so callers must not resend.
    /// </summary>
    public int Publish(string topic, ReadOnlySpan<byte> payload, int qos, bool retain)
    {
        fixed (byte* p = payload)
            return LibMosquitto.Publish(_handle, out _, topic, payload.Length, p, qos, retain);
    }

    public void Disconnect() => LibMosquitto.Disconnect(_handle);

    public static string Describe(int rc, int errno = 0) =>
        rc == LibMosquitto.MOSQ_ERR_ERRNO && errno != 0
            ? Marshal.GetPInvokeErrorMessage(errno)
            : Marshal.PtrToStringUTF8(LibMosquitto.StrError(rc)) ?? $"error {rc}";

    public static string DescribeConnack(int code) =>
        Marshal.PtrToStringUTF8(LibMosquitto.ConnackString(code)) ?? $"connack {code}";

    public void Dispose()
    {
        if (_handle == 0) return;
        StopLoop();
        LibMosquitto.Destroy(_handle);
        _handle = 0;
        _self.Free();
        _signals.Writer.TryComplete();
    }

    private static void EnsureLibraryInitialised()
    {
        lock (InitLock)
        {
            if (_initialised) return;
            LibMosquitto.LibInit();
            _initialised = true;
        }
    }

    private static void Check(int rc, string call)
    {
        if (rc != LibMosquitto.MOSQ_ERR_SUCCESS)
            throw new MosquittoException($"{call} failed: {Describe(rc, Marshal.GetLastPInvokeError())}");
    }

    private static MosquittoClient? FromUserData(nint userData) =>
        userData == 0 ? null : GCHandle.FromIntPtr(userData).Target as MosquittoClient;

    [UnmanagedCallersOnly]
    private static void OnConnect(nint mosq, nint userData, int rc)
    {
        try
        {
            FromUserData(userData)?._signals.Writer.TryWrite(new MqttConnected(rc, rc == 0 ? "connected" : DescribeConnack(rc)));
        }
        catch
        {
            // Nothing may unwind into libmosquitto's thread.
        }
    }

    [UnmanagedCallersOnly]
    private static void OnDisconnect(nint mosq, nint userData, int rc)
    {
        try
        {
            FromUserData(userData)?._signals.Writer.TryWrite(new MqttDisconnected(rc, rc == 0 ? "disconnected" : Describe(rc)));
        }
        catch
        {
            // Nothing may unwind into libmosquitto's thread.
        }
    }

    [UnmanagedCallersOnly]
    private static void OnLog(nint mosq, nint userData, int level, byte* text)
    {
        try
        {
            if (level != LibMosquitto.MOSQ_LOG_ERR || text is null) return;
            FromUserData(userData)?._signals.Writer.TryWrite(new MqttLibraryError(Marshal.PtrToStringUTF8((nint)text) ?? ""));
        }
        catch
        {
            // Nothing may unwind into libmosquitto's thread.
        }
    }

    [UnmanagedCallersOnly]
    private static void OnMessage(nint mosq, nint userData, LibMosquitto.Message* message)
    {
        try
        {
            var client = FromUserData(userData);
            if (client is null || message is null) return;
            // Copy now: libmosquitto frees the message when this callback returns.
            var topic = Marshal.PtrToStringUTF8((nint)message->Topic) ?? "";
            var length = Math.Max(0, message->PayloadLength);
            var payload = length <= client._maxPayloadCopy && message->Payload is not null
                ? new ReadOnlySpan<byte>(message->Payload, length).ToArray()
                : [];
            client._signals.Writer.TryWrite(new MqttMessage(topic, payload, length, message->Qos, message->Retain != 0));
        }
        catch
        {
            // Nothing may unwind into libmosquitto's thread.
        }
    }
}

public sealed class MosquittoException(string message) : Exception(message);
