using System.Runtime.InteropServices;

namespace PiOrchestrator.Native;

// Raw libmosquitto 2.0 API (Debian libmosquitto1). Only MosquittoClient calls these.
internal static unsafe partial class LibMosquitto
{
    public const string Library = "libmosquitto.so.1";
    public const string DebianPackage = "libmosquitto1";

    public const int MOSQ_ERR_SUCCESS = 0;
    public const int MOSQ_ERR_NO_CONN = 4;
    public const int MOSQ_ERR_TLS = 8;
    public const int MOSQ_ERR_ERRNO = 14;

    public const int MOSQ_LOG_ERR = 0x08;

    public const int MOSQ_OPT_TCP_NODELAY = 11;

    /// <summary>
    /// Errors after which mosquitto_loop_forever (the thread of mosquitto_loop_start) returns instead of reconnecting:
    /// NOMEM, PROTOCOL, INVAL, NOT_FOUND, TLS, PAYLOAD_SIZE, NOT_SUPPORTED, AUTH, ACL_DENIED, UNKNOWN, EAI, PROXY.
    /// </summary>
    public static ReadOnlySpan<int> LoopEndingErrors => [1, 2, 3, 6, 8, 9, 10, 11, 12, 13, 15, 16];

    [StructLayout(LayoutKind.Sequential)]
    public struct Message
    {
        public int Mid;
        public byte* Topic;
        public byte* Payload;
        public int PayloadLength;
        public int Qos;
        public byte Retain;
    }

    [LibraryImport(Library, EntryPoint = "mosquitto_lib_init")]
    public static partial int LibInit();

    [LibraryImport(Library, EntryPoint = "mosquitto_lib_version")]
    public static partial int LibVersion(out int major, out int minor, out int revision);

    [LibraryImport(Library, EntryPoint = "mosquitto_new", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint New(string id, [MarshalAs(UnmanagedType.U1)] bool cleanSession, nint userData);

    [LibraryImport(Library, EntryPoint = "mosquitto_destroy")]
    public static partial void Destroy(nint mosq);

    [LibraryImport(Library, EntryPoint = "mosquitto_username_pw_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int UsernamePasswordSet(nint mosq, string? username, string? password);

    [LibraryImport(Library, EntryPoint = "mosquitto_tls_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int TlsSet(nint mosq, string? caFile, string? caPath, string? certFile, string? keyFile, nint passwordCallback);

    /// <summary>certReqs 1 = SSL_VERIFY_PEER; tlsVersion null = TLS 1.2 and later.</summary>
    [LibraryImport(Library, EntryPoint = "mosquitto_tls_opts_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int TlsOptsSet(nint mosq, int certReqs, string? tlsVersion, string? ciphers);

    [LibraryImport(Library, EntryPoint = "mosquitto_tls_insecure_set")]
    public static partial int TlsInsecureSet(nint mosq, [MarshalAs(UnmanagedType.U1)] bool insecure);

    [LibraryImport(Library, EntryPoint = "mosquitto_int_option")]
    public static partial int IntOption(nint mosq, int option, int value);

    [LibraryImport(Library, EntryPoint = "mosquitto_log_callback_set")]
    public static partial void LogCallbackSet(nint mosq, delegate* unmanaged<nint, nint, int, byte*, void> callback);

    [LibraryImport(Library, EntryPoint = "mosquitto_will_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int WillSet(nint mosq, string topic, int payloadLength, byte* payload, int qos, [MarshalAs(UnmanagedType.U1)] bool retain);

    [LibraryImport(Library, EntryPoint = "mosquitto_reconnect_delay_set")]
    public static partial int ReconnectDelaySet(nint mosq, uint delaySeconds, uint delayMaxSeconds, [MarshalAs(UnmanagedType.U1)] bool exponentialBackoff);

    [LibraryImport(Library, EntryPoint = "mosquitto_connect_async", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int ConnectAsync(nint mosq, string host, int port, int keepAliveSeconds);

    [LibraryImport(Library, EntryPoint = "mosquitto_disconnect")]
    public static partial int Disconnect(nint mosq);

    [LibraryImport(Library, EntryPoint = "mosquitto_subscribe", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Subscribe(nint mosq, out int mid, string pattern, int qos);

    [LibraryImport(Library, EntryPoint = "mosquitto_publish", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Publish(nint mosq, out int mid, string topic, int payloadLength, byte* payload, int qos, [MarshalAs(UnmanagedType.U1)] bool retain);

    [LibraryImport(Library, EntryPoint = "mosquitto_loop_start")]
    public static partial int LoopStart(nint mosq);

    [LibraryImport(Library, EntryPoint = "mosquitto_loop_stop")]
    public static partial int LoopStop(nint mosq, [MarshalAs(UnmanagedType.U1)] bool force);

    [LibraryImport(Library, EntryPoint = "mosquitto_connect_callback_set")]
    public static partial void ConnectCallbackSet(nint mosq, delegate* unmanaged<nint, nint, int, void> callback);

    [LibraryImport(Library, EntryPoint = "mosquitto_disconnect_callback_set")]
    public static partial void DisconnectCallbackSet(nint mosq, delegate* unmanaged<nint, nint, int, void> callback);

    [LibraryImport(Library, EntryPoint = "mosquitto_message_callback_set")]
    public static partial void MessageCallbackSet(nint mosq, delegate* unmanaged<nint, nint, Message*, void> callback);

    [LibraryImport(Library, EntryPoint = "mosquitto_strerror")]
    public static partial nint StrError(int errorCode);

    [LibraryImport(Library, EntryPoint = "mosquitto_connack_string")]
    public static partial nint ConnackString(int connackCode);
}
